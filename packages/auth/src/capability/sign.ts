/** The hub's side: mint a capability token (compact JWS, EdDSA) for a granted lease. */
import { randomUUID } from 'node:crypto'
import { CompactSign } from 'jose'
import type { SigningKey } from '../keys/signing-key.js'
import { type CapabilityClaims, checkLifetime, DEFAULT_MAX_LIFETIME_S, parseClaims } from './claims.js'

/** The JWS `typ` of a capability: keeps any other JWT the hub's key might sign from passing as one. */
export const CAPABILITY_TYP = 'tether-cap+jwt'

/** What the hub supplies; `iat` defaults to now and `jti` to a random UUID. */
export type CapabilityInput = Omit<CapabilityClaims, 'iat' | 'jti'> & { iat?: number; jti?: string }

/**
 * Sign `claims` with `key` (header {alg: EdDSA, typ: tether-cap+jwt, kid}). Refuses, with the
 * same codes an exporter would, claims that are malformed or span more than `maxLifetimeS`.
 */
export async function signCapability(
  claims: CapabilityInput,
  key: SigningKey,
  options: { now?: () => Date; maxLifetimeS?: number } = {},
): Promise<string> {
  const now = options.now?.() ?? new Date()
  const checked = parseClaims({
    ...claims,
    iat: claims.iat ?? Math.floor(now.getTime() / 1000),
    jti: claims.jti ?? randomUUID(),
  })
  checkLifetime(checked, options.maxLifetimeS ?? DEFAULT_MAX_LIFETIME_S)
  return new CompactSign(new TextEncoder().encode(JSON.stringify(checked)))
    .setProtectedHeader({ alg: 'EdDSA', typ: CAPABILITY_TYP, kid: key.kid })
    .sign(key.privateKey)
}
