/**
 * The grant part shared by [[rule]] and [[service_account]]: roles, places / tags, importer rights
 * and caps. Keys that the roles make meaningless are errors, so a typo cannot widen or narrow access.
 */

import type { TableReader } from '@tether/config'
import { RIGHTS, type Right } from '../capability/rights.js'
import { parseDuration } from './duration.js'
import { type GrantConfig, ROLES, type Role } from './schema.js'

/** Keys read by readGrant (the callers add their own). */
export const GRANT_KEYS = [
  'roles',
  'places',
  'tags',
  'rights',
  'max_priority',
  'max_lease',
  'max_reservations',
] as const

/** Place and tag names, as the exporter's places.toml allows them. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/
const NAME_HINT = 'use 1-63 characters A-Z a-z 0-9 . _ - starting with a letter or digit'
export const MAX_PRIORITY_LIMIT = 2_147_483_647
const MAX_LEASE_MS = 366 * 86_400_000
const MAX_NAMES = 256

export function readGrant(reader: TableReader, label: string | undefined): GrantConfig | undefined {
  const before = reader.issues.issues.length
  const roles = readRoles(reader)
  const places = readPlaces(reader)
  const tags =
    reader.stringArray('tags', {
      max: MAX_NAMES,
      example: 'tags = ["rpi4"]',
      check: (tag) =>
        tag === '*'
          ? '"*" is only for places; write places = ["*"] to cover every place'
          : NAME_PATTERN.test(tag)
            ? undefined
            : `${JSON.stringify(tag)} is not a tag name; ${NAME_HINT}`,
    }) ?? []
  if (reader.has('tags') && Array.isArray(reader.table.tags) && reader.table.tags.length === 0) {
    reader.issues.add(reader.at('tags'), 'is empty; list tag names or remove the key')
  }
  const rights = readRights(reader)
  const maxPriority = reader.integer('max_priority', {
    min: 0,
    max: MAX_PRIORITY_LIMIT,
    hint: 'the highest priority this rule lets a reservation ask for, e.g. max_priority = 10',
  })
  const maxLeaseMs = readLease(reader)
  const maxReservations = reader.integer('max_reservations', {
    min: 1,
    max: 10_000,
    hint: 'how many reservations may be held at once, e.g. max_reservations = 2',
  })
  if (roles) checkRoleKeys(reader, roles)
  if (reader.issues.issues.length > before || !roles) return undefined
  return {
    id: reader.path,
    label,
    roles,
    places,
    tags,
    rights: roles.includes('importer') ? (rights ?? [...RIGHTS]) : [],
    maxPriority: maxPriority ?? 0,
    maxLeaseMs,
    maxReservations,
  }
}

function readRoles(reader: TableReader): Role[] | undefined {
  if (!reader.has('roles')) {
    reader.issues.add(
      reader.at('roles'),
      `is missing; add e.g. roles = ["importer"] (any of ${quoted(ROLES)})`,
    )
    return undefined
  }
  const roles = reader.stringArray('roles', {
    max: ROLES.length,
    example: 'roles = ["importer"]',
    check: (role) =>
      (ROLES as readonly string[]).includes(role)
        ? undefined
        : `${JSON.stringify(role)} is not a role; use ${quoted(ROLES)}`,
  })
  if (roles && roles.length === 0) {
    reader.issues.add(reader.at('roles'), `is empty; add at least one of ${quoted(ROLES)}`)
    return undefined
  }
  return roles as Role[] | undefined
}

function readPlaces(reader: TableReader): string[] | '*' {
  const places = reader.stringArray('places', {
    max: MAX_NAMES,
    example: 'places = ["rpi-1"] or places = ["*"]',
    check: (place) =>
      place === '*' || NAME_PATTERN.test(place)
        ? undefined
        : `${JSON.stringify(place)} is not a place name; ${NAME_HINT}`,
  })
  if (!places) return []
  if (places.length === 0) {
    reader.issues.add(
      reader.at('places'),
      'is empty; list place names, write ["*"] for every place, or remove the key',
    )
  }
  if (places.includes('*')) {
    if (places.length > 1) {
      reader.issues.add(reader.at('places'), '"*" already covers every place; write places = ["*"] alone')
    }
    return '*'
  }
  return places
}

function readRights(reader: TableReader): Right[] | undefined {
  const rights = reader.stringArray('rights', {
    max: RIGHTS.length,
    example: 'rights = ["usb.attach", "serial.ro"]',
    check: (right) =>
      (RIGHTS as readonly string[]).includes(right)
        ? undefined
        : `${JSON.stringify(right)} is not a right; use ${quoted(RIGHTS)}`,
  })
  if (rights && rights.length === 0) {
    reader.issues.add(
      reader.at('rights'),
      `is empty, which grants nothing; list some of ${quoted(RIGHTS)} or remove the key for all of them`,
    )
    return undefined
  }
  return rights as Right[] | undefined
}

function readLease(reader: TableReader): number | undefined {
  const value = reader.table.max_lease
  if (value === undefined) return undefined
  const ms = typeof value === 'string' ? parseDuration(value) : undefined
  if (ms === undefined || ms > MAX_LEASE_MS) {
    const shown = typeof value === 'string' ? JSON.stringify(value) : `${typeof value} ${String(value)}`
    reader.issues.add(
      reader.at('max_lease'),
      `${shown} is not a lease length; write a duration string such as "30m", "2h", "1d" or "1h30m" (units d h m s, at most 366d)`,
    )
    return undefined
  }
  return ms
}

function checkRoleKeys(reader: TableReader, roles: readonly Role[]): void {
  const perPlace = roles.includes('exporter') || roles.includes('importer')
  if (perPlace && !reader.has('places') && !reader.has('tags')) {
    reader.issues.add(
      reader.path,
      `roles ${quoted(roles)} need the places they apply to; add places = ["rpi-1"], tags = ["rpi4"] or places = ["*"]`,
    )
  }
  if (!perPlace) {
    for (const key of ['places', 'tags'] as const) {
      if (reader.has(key)) {
        reader.issues.add(
          reader.at(key),
          'only applies to the exporter and importer roles (admin is hub-wide); remove it',
        )
      }
    }
  }
  if (!roles.includes('importer')) {
    for (const key of ['rights', 'max_priority', 'max_lease', 'max_reservations'] as const) {
      if (reader.has(key)) {
        reader.issues.add(
          reader.at(key),
          'only applies to the importer role; add "importer" to roles or remove it',
        )
      }
    }
  }
}

function quoted(items: readonly string[]): string {
  return items.map((i) => `"${i}"`).join(', ')
}
