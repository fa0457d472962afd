/**
 * May this principal do this? Pure. A place is covered by a grant when the grant lists its name,
 * lists "*", or lists one of its tags. When several grants cover a place, each cap is the most
 * generous of theirs (highest max_priority, longest max_lease, most max_reservations, no limit
 * beating any limit) and the rights are their union.
 */

import { IMPLIED_BY, RIGHTS, type Right } from '../capability/rights.js'
import { AuthError, type AuthErrorCode } from '../errors.js'
import { describeRule, listNames } from './describe.js'
import { formatDuration } from './duration.js'
import type { Principal } from './principal.js'
import type { GrantConfig, Role, RuleConfig } from './schema.js'

export type Action = 'reserve' | 'attach' | 'admin' | 'export'

export interface AccessRequest {
  readonly action: Action
  /** The place (required except for `admin`). */
  readonly place?: string
  /** The place's tags, as its exporter registered them. */
  readonly placeTags?: readonly string[]
  /** Reservation priority asked for (checked when given; integer ≥ 0). */
  readonly priority?: number
  /** Lease length asked for in milliseconds (checked when given). */
  readonly leaseMs?: number
  /** Rights asked for; for `attach` the default is ["usb.attach"]. */
  readonly rights?: readonly Right[]
  /** How many reservations the principal holds now (checked against max_reservations when given). */
  readonly reservations?: number
}

/** What the covering grants allow on one place. */
export interface PlaceAccess {
  readonly place: string
  /** Ids of the grants that cover the place (e.g. ["rule[1]", "rule[4]"]). */
  readonly grantedBy: readonly string[]
  /** Union of their rights; serial.rw brings serial.ro. */
  readonly rights: readonly Right[]
  readonly maxPriority: number
  /** undefined: no limit. */
  readonly maxLeaseMs: number | undefined
  /** undefined: no limit. */
  readonly maxReservations: number | undefined
}

/** The grants giving `role` on the place and what they allow together; undefined if none does. */
export function accessTo(
  principal: Principal,
  role: 'importer' | 'exporter',
  place: string,
  placeTags: readonly string[] = [],
): PlaceAccess | undefined {
  const covering = principal.grants.filter((g) => g.roles.includes(role) && covers(g, place, placeTags))
  if (covering.length === 0) return undefined
  const rights = new Set<Right>(covering.flatMap((g) => g.rights))
  return Object.freeze({
    place,
    grantedBy: Object.freeze(covering.map((g) => g.id)),
    rights: Object.freeze(RIGHTS.filter((r) => rights.has(r) || IMPLIED_BY[r].some((by) => rights.has(by)))),
    maxPriority: Math.max(...covering.map((g) => g.maxPriority)),
    maxLeaseMs: mostGenerous(covering.map((g) => g.maxLeaseMs)),
    maxReservations: mostGenerous(covering.map((g) => g.maxReservations)),
  })
}

/**
 * Allow the request (returning what the covering grants allow; for `admin` the grants with the
 * admin role and no place) or throw AuthError: ERR_PERMISSION_DENIED (no grant of the needed
 * role or right; names the rules that would give it), ERR_PRIORITY_CAP, ERR_LEASE_TOO_LONG,
 * ERR_RESERVATION_LIMIT (each naming the cap and the rules that set it).
 */
export function authorize(principal: Principal, request: AccessRequest): PlaceAccess {
  if (request.action === 'admin') return authorizeAdmin(principal)
  const role: Role = request.action === 'export' ? 'exporter' : 'importer'
  const place = request.place
  if (place === undefined || place === '') {
    throw deny(principal, 'ERR_PERMISSION_DENIED', `a ${request.action} request must name a place`, {})
  }
  const tags = request.placeTags ?? []
  const access = accessTo(principal, role, place, tags)
  if (!access) throw notCovered(principal, request.action, role, place, tags)
  if (role === 'exporter') return access
  checkRights(principal, request, access, tags)
  checkPriority(principal, request, access)
  checkLease(principal, request, access)
  checkReservations(principal, request, access)
  return access
}

function covers(grant: GrantConfig, place: string, tags: readonly string[]): boolean {
  return grant.places === '*' || grant.places.includes(place) || tags.some((t) => grant.tags.includes(t))
}

function mostGenerous(caps: readonly (number | undefined)[]): number | undefined {
  return caps.includes(undefined) ? undefined : Math.max(...(caps as number[]))
}

function authorizeAdmin(principal: Principal): PlaceAccess {
  const admins = principal.grants.filter((g) => g.roles.includes('admin'))
  if (admins.length === 0) {
    const would = principal.config.rules.filter((r) => r.roles.includes('admin'))
    throw deny(
      principal,
      'ERR_PERMISSION_DENIED',
      `${who(principal)} may not administer the hub: no rule matching them has the admin role. ${wouldGrant(principal, would, 'roles = ["admin"]')}`,
      { role: 'admin', candidates: would.map((r) => r.id) },
    )
  }
  return Object.freeze({
    place: '',
    grantedBy: Object.freeze(admins.map((g) => g.id)),
    rights: Object.freeze([]),
    maxPriority: 0,
    maxLeaseMs: undefined,
    maxReservations: undefined,
  })
}

function notCovered(
  principal: Principal,
  action: Action,
  role: Role,
  place: string,
  tags: readonly string[],
): AuthError {
  const would = principal.config.rules.filter((r) => r.roles.includes(role) && covers(r, place, tags))
  return deny(
    principal,
    'ERR_PERMISSION_DENIED',
    `${who(principal)} may not ${action} ${describePlace(place, tags)}: no rule matching them gives the ${role} role there. ${wouldGrant(principal, would, `roles = ["${role}"], places = [${JSON.stringify(place)}]`)}`,
    { role, place, candidates: would.map((r) => r.id) },
  )
}

function checkRights(
  principal: Principal,
  request: AccessRequest,
  access: PlaceAccess,
  tags: readonly string[],
): void {
  const wanted = request.rights ?? (request.action === 'attach' ? ['usb.attach' as const] : [])
  const missing = wanted.filter((r) => !access.rights.includes(r))
  if (missing.length === 0) return
  const would = principal.config.rules.filter(
    (r) =>
      r.roles.includes('importer') &&
      covers(r, request.place ?? '', tags) &&
      missing.every((m) => grants(r, m)),
  )
  throw deny(
    principal,
    'ERR_PERMISSION_DENIED',
    `${who(principal)} may not use ${missing.join(', ')} on ${describePlace(access.place, tags)}: ${access.grantedBy.join(', ')} ${access.grantedBy.length === 1 ? 'grants' : 'grant'} only ${access.rights.join(', ') || 'nothing'}. ${wouldGrant(principal, would, `rights = ${JSON.stringify(missing)}`)}`,
    { place: access.place, rights: missing, candidates: would.map((r) => r.id) },
  )
}

function grants(grant: GrantConfig, right: Right): boolean {
  return grant.rights.includes(right) || IMPLIED_BY[right].some((by) => grant.rights.includes(by))
}

function checkPriority(principal: Principal, request: AccessRequest, access: PlaceAccess): void {
  const priority = request.priority
  if (priority === undefined) return
  if (!Number.isSafeInteger(priority) || priority < 0) {
    throw deny(principal, 'ERR_PRIORITY_CAP', `priority must be an integer ≥ 0, not ${priority}`, {
      priority,
    })
  }
  if (priority <= access.maxPriority) return
  throw deny(
    principal,
    'ERR_PRIORITY_CAP',
    `${who(principal)} may reserve ${JSON.stringify(access.place)} at priority at most ${access.maxPriority} (max_priority of ${setters(principal, access)}), not ${priority}; ask for ${access.maxPriority} or less, or have a hub admin raise max_priority in ${principal.config.file}`,
    { place: access.place, priority, maxPriority: access.maxPriority, grantedBy: access.grantedBy },
  )
}

function checkLease(principal: Principal, request: AccessRequest, access: PlaceAccess): void {
  const lease = request.leaseMs
  if (lease === undefined) return
  if (!Number.isFinite(lease) || lease <= 0) {
    throw deny(
      principal,
      'ERR_LEASE_TOO_LONG',
      `a lease must be a positive number of milliseconds, not ${lease}`,
      {
        leaseMs: lease,
      },
    )
  }
  const max = access.maxLeaseMs
  if (max === undefined || lease <= max) return
  throw deny(
    principal,
    'ERR_LEASE_TOO_LONG',
    `${who(principal)} may hold ${JSON.stringify(access.place)} for at most ${formatDuration(max)} (max_lease of ${setters(principal, access)}), not ${formatDuration(lease)}; ask for ${formatDuration(max)} or less and renew, or have a hub admin raise max_lease in ${principal.config.file}`,
    { place: access.place, leaseMs: lease, maxLeaseMs: max, grantedBy: access.grantedBy },
  )
}

function checkReservations(principal: Principal, request: AccessRequest, access: PlaceAccess): void {
  const held = request.reservations
  const max = access.maxReservations
  if (held === undefined || max === undefined || held < max) return
  throw deny(
    principal,
    'ERR_RESERVATION_LIMIT',
    `${who(principal)} already holds ${held} reservation${held === 1 ? '' : 's'}, the most ${setters(principal, access)} allow for ${JSON.stringify(access.place)} (max_reservations = ${max}); release one first`,
    { place: access.place, reservations: held, maxReservations: max, grantedBy: access.grantedBy },
  )
}

function setters(principal: Principal, access: PlaceAccess): string {
  return listNames(principal.grants.filter((g) => access.grantedBy.includes(g.id)))
}

function wouldGrant(principal: Principal, rules: readonly RuleConfig[], fix: string): string {
  const file = principal.config.file
  if (rules.length === 0) {
    return `No rule in ${file} grants it; a hub admin can add a [[rule]] with a match for them and ${fix}.`
  }
  const shown = rules.slice(0, 3).map(describeRule).join('; ')
  const more = rules.length > 3 ? ` and ${rules.length - 3} more` : ''
  return `It needs a rule in ${file} such as ${shown}${more}; ask a hub admin to change their claims or that file.`
}

function who(principal: Principal): string {
  return `${principal.kind === 'service' ? 'service account' : 'user'} ${JSON.stringify(principal.name)}`
}

function describePlace(place: string, tags: readonly string[]): string {
  return tags.length === 0
    ? `place ${JSON.stringify(place)}`
    : `place ${JSON.stringify(place)} (tags ${tags.join(', ')})`
}

function deny(
  principal: Principal,
  code: AuthErrorCode,
  message: string,
  details: Record<string, unknown>,
): AuthError {
  return new AuthError(code, message, {
    details: { ...details, principal: principal.name, issuer: principal.issuer, file: principal.config.file },
  })
}
