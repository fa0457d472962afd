/** Verified token claims + hub.toml → the principal: name, roles, grants. Pure. */
import { AuthError } from '../errors.js'
import { type Claims, matchesAll, namedClaim } from './claims.js'
import type { Principal } from './principal.js'
import {
  type GrantConfig,
  type HubConfig,
  type IssuerConfig,
  ROLES,
  type ServiceAccountConfig,
} from './schema.js'

/**
 * Evaluate the policy for a token's claims. The claims must come from a token whose signature,
 * audience and lifetime were already verified; this checks only that `iss` is trusted and `sub`
 * present. Returns a principal even when no rule matches (then `authorize` refuses everything).
 * Throws ERR_POLICY_NO_AUTH for an open-mode config, ERR_TOKEN_ISSUER, ERR_TOKEN_MALFORMED.
 */
export function evaluate(config: HubConfig, claims: Claims): Principal {
  if (config.mode === 'open') {
    throw new AuthError(
      'ERR_POLICY_NO_AUTH',
      `${config.file}: the hub runs in open mode (no [auth]), so there is no policy to evaluate tokens against; add [auth] and [[rule]] entries`,
      { details: { file: config.file } },
    )
  }
  const issuer = findIssuer(config, claims.iss)
  const subject = claims.sub
  if (typeof subject !== 'string' || subject === '') {
    throw new AuthError(
      'ERR_TOKEN_MALFORMED',
      `the token from ${issuer.url} has no "sub" claim; it names nobody`,
      {
        details: { issuer: issuer.url },
      },
    )
  }
  const view = claimsForRules(issuer, claims)
  const account = serviceAccountOf(config, issuer, claims)
  const grants: GrantConfig[] = [
    ...(account ? [account] : []),
    ...config.rules.filter((rule) => matchesAll(view, rule.match)),
  ]
  const held = new Set(grants.flatMap((g) => g.roles))
  const principal: Principal = {
    kind: account ? 'service' : 'user',
    name: account ? account.name : userName(issuer, claims, subject),
    issuer: issuer.url,
    subject,
    groups: groupsOf(view.groups),
    roles: ROLES.filter((role) => held.has(role)),
    grants,
    config,
  }
  Object.freeze(principal.groups)
  Object.freeze(principal.roles)
  Object.freeze(principal.grants)
  return Object.freeze(principal)
}

function findIssuer(config: HubConfig, iss: unknown): IssuerConfig {
  const issuer = typeof iss === 'string' ? config.issuers.find((i) => i.url === iss) : undefined
  if (!issuer) {
    const trusted = config.issuers.map((i) => JSON.stringify(i.url)).join(', ')
    throw new AuthError(
      'ERR_TOKEN_ISSUER',
      `the token's issuer ${JSON.stringify(iss ?? null)} is not trusted by ${config.file}; sign in with one of ${trusted}, or add it as an [[auth.issuer]]`,
      { details: { file: config.file, issuer: iss } },
    )
  }
  return issuer
}

/**
 * The claims rules see: the token's own, except that with `groups_claim` set, `groups` is that
 * claim's value (and absent when the token lacks it), never a `groups` claim of the token.
 */
function claimsForRules(issuer: IssuerConfig, claims: Claims): Claims {
  if (issuer.groupsClaim === undefined) return claims
  const { groups: _ignored, ...rest } = claims
  const groups = namedClaim(claims, issuer.groupsClaim)
  return groups === undefined ? rest : { ...rest, groups }
}

/**
 * A listed service account: same issuer, and the token's client is its client_id — the
 * `client_id` claim (RFC 9068 access tokens) or, when that is absent, `azp` (OpenID Connect).
 */
function serviceAccountOf(
  config: HubConfig,
  issuer: IssuerConfig,
  claims: Claims,
): ServiceAccountConfig | undefined {
  const client =
    typeof claims.client_id === 'string'
      ? claims.client_id
      : typeof claims.azp === 'string'
        ? claims.azp
        : undefined
  if (client === undefined) return undefined
  return config.serviceAccounts.find((sa) => sa.issuer === issuer.url && sa.clientId === client)
}

function userName(issuer: IssuerConfig, claims: Claims, subject: string): string {
  for (const name of issuer.userClaims) {
    const value = namedClaim(claims, name)
    if (typeof value === 'string' && value !== '') return value
  }
  return subject
}

function groupsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value]
  if (!Array.isArray(value)) return []
  return value.filter((g): g is string => typeof g === 'string')
}
