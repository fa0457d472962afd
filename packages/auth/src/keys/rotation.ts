/**
 * Key rotation without breaking live leases: the newest key signs; an older key stays published
 * until every token it can have signed has expired, i.e. until its successor has existed for one
 * maximum token lifetime (plus clock tolerance). Pure functions over the hub's loaded keys.
 */
import { AuthError } from '../errors.js'
import type { SigningKey } from './signing-key.js'

/** The key to sign new tokens with: the most recently created. */
export function newestSigningKey(keys: readonly SigningKey[]): SigningKey {
  let newest: SigningKey | undefined
  for (const key of keys) {
    if (!newest || key.createdAt.getTime() > newest.createdAt.getTime()) newest = key
  }
  if (!newest) {
    throw new AuthError(
      'ERR_KEY_INVALID',
      'the hub has no token signing key; create one with loadOrCreateSigningKey',
    )
  }
  return newest
}

/**
 * The keys that must still be in the published JWKS at `now`: the newest, and each older key whose
 * successor is younger than `maxTokenLifetimeS + clockToleranceS` (a token it signed just before
 * the successor appeared may still be live). The rest can be deleted.
 */
export function keysToPublish(
  keys: readonly SigningKey[],
  options: { now: () => Date; maxTokenLifetimeS: number; clockToleranceS?: number },
): SigningKey[] {
  const sorted = [...keys].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
  const graceMs = (options.maxTokenLifetimeS + (options.clockToleranceS ?? 0)) * 1000
  const now = options.now().getTime()
  return sorted.filter((_key, i) => {
    const successor = sorted[i - 1]
    return successor === undefined || now < successor.createdAt.getTime() + graceMs
  })
}
