/** Who a verified token belongs to and what hub.toml grants them (the result of `evaluate`). */
import type { GrantConfig, HubConfig, Role } from './schema.js'

export interface Principal {
  /** `service` when the token is a listed [[service_account]]'s client-credentials token. */
  readonly kind: 'user' | 'service'
  /**
   * Display name: the service account's name, else the issuer's user-name claim. Not unique
   * across issuers and not always stable; key ownership on (issuer, subject).
   */
  readonly name: string
  /** `iss` of the token. */
  readonly issuer: string
  /** `sub` of the token. */
  readonly subject: string
  /** The token's groups (its `groups`, or the issuer's `groups_claim`), strings only. */
  readonly groups: readonly string[]
  /** Union of the roles of every grant. */
  readonly roles: readonly Role[]
  /** The service account's grant (first, if any) and every matching rule, in file order. */
  readonly grants: readonly GrantConfig[]
  /** The policy this principal was evaluated against (refusals name its rules). */
  readonly config: HubConfig
}
