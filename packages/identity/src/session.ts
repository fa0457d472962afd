import type { JWTPayload } from 'jose'
import type { LoginMethod } from './credentials.js'
import { type Clock, systemClock } from './deps.js'
import { IdentityError } from './errors.js'
import { decodeClaims } from './jwt.js'
import type { CredentialStore } from './store/store.js'

/** Forgets the credentials for `key`; whether there were any. */
export async function logout(store: CredentialStore, key: string): Promise<boolean> {
  return store.delete(key)
}

export interface WhoAmI {
  key: string
  issuer: string
  subject: string | undefined
  method: LoginMethod
  /** All claims of the stored ID token, unverified (the hub is the one that verifies). */
  claims: JWTPayload
  expiresAt: Date
  expired: boolean
  /** Whether a refresh token (or token command) can renew the session without a new login. */
  renewable: boolean
  store: CredentialStore['kind']
}

/** Who the stored credentials for `key` say you are. */
export async function whoami(
  store: CredentialStore,
  key: string,
  clock: Clock = systemClock,
): Promise<WhoAmI> {
  const credentials = await store.get(key)
  if (!credentials) {
    throw new IdentityError('ERR_NOT_LOGGED_IN', `you are not logged in to ${key}; run tether login ${key}`)
  }
  const claims = decodeClaims(credentials.idToken)
  return {
    key,
    issuer: credentials.issuer,
    subject: claims.sub,
    method: credentials.method,
    claims,
    expiresAt: new Date(credentials.expiresAt * 1000),
    expired: credentials.expiresAt * 1000 <= clock.now(),
    renewable: Boolean(credentials.refreshToken || credentials.tokenCommand),
    store: store.kind,
  }
}
