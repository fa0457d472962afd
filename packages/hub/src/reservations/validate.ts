/** Shape checks of engine requests; each returns a reason, or undefined when the value is fine. */
import type { GrantRequest, PlaceSpec, RenewRequest, ReservationTarget, ReserveRequest } from './types.js'

export const MAX_SPEC_TAGS = 32
export const MAX_SPEC_PARTS = 64
export const MAX_SPEC_VALUES = 32
export const MAX_TEXT_LENGTH = 256
/** Durations and times must be safe integers of milliseconds. */
const INTERFACE_KINDS: readonly string[] = ['usb', 'serial']

const isText = (v: unknown): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= MAX_TEXT_LENGTH
const isDuration = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0
const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0

function texts(v: unknown, max: number, what: string): string | undefined {
  if (v === undefined) return undefined
  if (!Array.isArray(v) || v.length > max) return `${what} must be a list of at most ${max}`
  if (!v.every(isText)) return `${what} must be non-empty strings of at most ${MAX_TEXT_LENGTH} characters`
  return undefined
}

export function checkSpec(spec: PlaceSpec): string | undefined {
  if (typeof spec !== 'object' || spec === null) return 'spec must be an object'
  const tags = texts(spec.tags, MAX_SPEC_TAGS, 'spec tags')
  if (tags) return tags
  if (spec.parts === undefined) return undefined
  if (!Array.isArray(spec.parts) || spec.parts.length > MAX_SPEC_PARTS) {
    return `spec parts must be a list of at most ${MAX_SPEC_PARTS}`
  }
  for (const [i, part] of spec.parts.entries()) {
    const compatible = texts(part?.compatible, MAX_SPEC_VALUES, `spec part ${i} compatible`)
    if (compatible) return compatible
    const kinds = part.interfaces
    if (kinds !== undefined && (!Array.isArray(kinds) || !kinds.every((k) => INTERFACE_KINDS.includes(k)))) {
      return `spec part ${i} interfaces must be a list of ${INTERFACE_KINDS.join(' or ')}`
    }
  }
  return undefined
}

export function checkTarget(target: ReservationTarget): string | undefined {
  if (typeof target !== 'object' || target === null) return 'target must name a place or give a spec'
  if ('place' in target) return isText(target.place) ? undefined : 'target place must be a place id'
  if ('spec' in target) return checkSpec(target.spec)
  return 'target must name a place or give a spec'
}

export function checkReserve(req: ReserveRequest): string | undefined {
  if (!isText(req.user)) return 'user must be a non-empty string'
  const groups = texts(req.groups, 256, 'groups')
  if (groups) return groups
  if (req.priority !== undefined && !Number.isSafeInteger(req.priority)) return 'priority must be an integer'
  if (!isDuration(req.leaseMs)) return 'leaseMs must be a positive integer'
  if (req.waitMs !== undefined && !isDuration(req.waitMs)) return 'waitMs must be a positive integer'
  return checkTarget(req.target)
}

export function checkRenew(req: RenewRequest): string | undefined {
  if (!isText(req.user)) return 'user must be a non-empty string'
  if (!isText(req.leaseId)) return 'leaseId must be a non-empty string'
  if (!isDuration(req.maxLeaseMs)) return 'maxLeaseMs must be a positive integer'
  if (req.extendMs !== undefined && !isDuration(req.extendMs)) return 'extendMs must be a positive integer'
  if (req.maxTotalMs !== undefined && !isDuration(req.maxTotalMs))
    return 'maxTotalMs must be a positive integer'
  if (req.maxRenewals !== undefined && !(Number.isSafeInteger(req.maxRenewals) && req.maxRenewals >= 0)) {
    return 'maxRenewals must be a non-negative integer'
  }
  return undefined
}

export function checkGrant(req: GrantRequest, now: number): string | undefined {
  const s = req.subject
  if (typeof s !== 'object' || s === null) return 'subject must name a user or a group'
  if (!('user' in s ? isText(s.user) : 'group' in s && isText(s.group))) {
    return 'subject must name a user or a group'
  }
  const t = req.target
  if (typeof t !== 'object' || t === null) return 'target must name a place or a tag'
  if (!('place' in t ? isText(t.place) : 'tag' in t && isText(t.tag)))
    return 'target must name a place or a tag'
  if (!isTime(req.start)) return 'start must be a time in milliseconds'
  if (req.end !== undefined) {
    if (!isTime(req.end) || req.end <= req.start) return 'end must be a time after start'
    if (req.end <= now) return 'the window has already ended'
  }
  if (req.by !== undefined && !isText(req.by)) return 'by must be a non-empty string'
  if (req.note !== undefined && typeof req.note !== 'string') return 'note must be a string'
  return undefined
}
