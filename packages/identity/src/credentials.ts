/** What a login leaves behind: the tokens for one hub, as stored in the keyring or the file. */

export type LoginMethod = 'browser' | 'device' | 'token-command'

export interface Credentials {
  /** Format version of this record. */
  readonly version: 1
  readonly method: LoginMethod
  /** The OpenID Provider that issued the tokens (the ID token's `iss`). */
  readonly issuer: string
  /** The OAuth client the tokens were issued to (empty for a token command). */
  readonly clientId: string
  /** The token the hub accepts: a JWT signed by the issuer. */
  readonly idToken: string
  /** The ID token's `exp`, seconds since the epoch. */
  readonly expiresAt: number
  readonly accessToken?: string
  readonly refreshToken?: string
  readonly scope?: string
  /** For `--token-cmd` logins: the command, run again when the token expires. */
  readonly tokenCommand?: string
}
