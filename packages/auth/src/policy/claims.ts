/** Reading claims out of a verified token payload and testing rule conditions against them. */
import type { ClaimCondition } from './schema.js'

/** A verified token payload (e.g. jose's JWTPayload). */
export type Claims = Readonly<Record<string, unknown>>

/** The value at a claim path (own properties only); undefined when any step is missing. */
export function claimAt(claims: Claims, path: readonly string[]): unknown {
  let here: unknown = claims
  for (const key of path) {
    if (typeof here !== 'object' || here === null || Array.isArray(here) || !Object.hasOwn(here, key)) {
      return undefined
    }
    here = (here as Record<string, unknown>)[key]
  }
  return here
}

/**
 * A claim named in hub.toml by a string (`claim_user`, `groups_claim`): the top-level claim with
 * exactly that name if the token has one (so "https://tether.example/groups" works), otherwise
 * the dotted path ("realm_access.roles" → realm_access → roles).
 */
export function namedClaim(claims: Claims, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name]
  return name.includes('.') ? claimAt(claims, name.split('.')) : undefined
}

/**
 * Whether the claims satisfy one condition:
 *  - equals: the claim is a string, number or boolean identical (===) to the rule's value;
 *    a list claim never satisfies it, even one holding the value;
 *  - containsAll: the claim is a list that holds (===) every listed value; extra values in the
 *    token are fine; a scalar claim never satisfies it.
 * A missing claim (or null) satisfies nothing.
 */
export function satisfies(claims: Claims, condition: ClaimCondition): boolean {
  const value = claimAt(claims, condition.path)
  if (condition.kind === 'equals') {
    return (
      (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') &&
      value === condition.value
    )
  }
  if (!Array.isArray(value)) return false
  return condition.values.every((wanted) => value.some((held) => held === wanted))
}

/** Every condition holds (an empty `match` holds for every token). */
export function matchesAll(claims: Claims, conditions: readonly ClaimCondition[]): boolean {
  return conditions.every((condition) => satisfies(claims, condition))
}
