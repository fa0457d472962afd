/**
 * The audit log as admins read it (`tether admin audit`): the request's filters as a store query
 * (limit defaulted and capped), every record with a one-line summary and its event as bounded
 * JSON, and pages that fit one message. Summaries are written here so every client shows the same;
 * times in them are UTC (the reader's zone is not known here).
 */
import { formatDuration } from '@tether/auth'
import {
  type AuditEventType,
  type AuditRecordInfo,
  type HubRequestBody,
  MAX_AUDIT_EVENT_JSON,
  MAX_AUDIT_RECORDS,
  MAX_AUDIT_SUMMARY,
  MAX_USER,
} from '@tether/control'
import type { EngineEvent, EngineEventType, Grant } from '../reservations/types.js'
import { auditColumns } from '../store/audit-columns.js'
import type { AuditQuery, AuditRecord } from '../store/types.js'
import { describeTarget } from './view.js'

export const DEFAULT_AUDIT_LIMIT = 100
export const MAX_AUDIT_LIMIT = MAX_AUDIT_RECORDS
/** The records of one answer, encoded, stay under this (a message is at most 64 KiB). */
export const AUDIT_PAGE_BYTES = 48 * 1024
/** Longest place id on the wire (EXPORTER/PLACE). */
const MAX_PLACE_TEXT = 127

// Every engine event type can be asked for by name (AUDIT_EVENT_TYPES lists them all).
const _everyTypeNamed: [Exclude<EngineEventType, AuditEventType>] extends [never] ? true : never = true
void _everyTypeNamed

/** The store query for an audit request: `limit` defaulted (100) and capped (1000). */
export function auditQuery(
  body: Extract<HubRequestBody, { type: 'audit' }>,
): AuditQuery & { readonly limit: number } {
  return {
    ...(body.afterSeq !== undefined ? { after: body.afterSeq } : {}),
    ...(body.sinceMs !== undefined ? { since: body.sinceMs } : {}),
    ...(body.user !== undefined ? { user: body.user } : {}),
    ...(body.place !== undefined ? { place: body.place } : {}),
    ...(body.types.length > 0 ? { types: [...body.types] } : {}),
    limit: Math.min(body.limit || DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT),
  }
}

/**
 * The first `limit` of `records` (read with a limit one higher, so `more` is known) as far as they
 * fit `budget` bytes; `more` when records were left out.
 */
export function auditPage(
  records: readonly AuditRecord[],
  limit: number,
  budget = AUDIT_PAGE_BYTES,
): { records: AuditRecordInfo[]; more: boolean } {
  const page: AuditRecordInfo[] = []
  let bytes = 0
  for (const record of records.slice(0, limit)) {
    const info = auditRecordInfo(record)
    bytes += encodedSize(info)
    if (page.length > 0 && bytes > budget) return { records: page, more: true }
    page.push(info)
  }
  return { records: page, more: records.length > limit }
}

export function auditRecordInfo(record: AuditRecord): AuditRecordInfo {
  const { user, place } = auditColumns(record.event)
  return {
    seq: record.seq,
    atMs: record.at,
    type: record.type,
    user: oneLine(user ?? '', MAX_USER),
    place: oneLine(place ?? '', MAX_PLACE_TEXT),
    summary: summarizeEvent(record.event),
    eventJson: eventJson(record.event),
  }
}

/** The event as JSON of at most `max` characters: long strings shortened, or only its type. */
export function eventJson(event: EngineEvent, max = MAX_AUDIT_EVENT_JSON): string {
  const full = JSON.stringify(event)
  if (full.length <= max) return full
  const shortened = JSON.stringify({ ...event, truncated: true }, (_key, value: unknown) =>
    typeof value === 'string' && value.length > 200 ? `${value.slice(0, 200)}…` : value,
  )
  if (shortened.length <= max) return shortened
  return JSON.stringify({ seq: event.seq, at: event.at, type: event.type, truncated: true })
}

/**
 * One line about an event for people, e.g. "alice reserved lab-a-1/rpi-1 for 20m, until 14:02 UTC
 * (L42)", "lease L42 (carol on lab-a-1/rpi-1) kicked by bob: needed for the release", "refused
 * reserve lab-a-1/rpi-1 for carol: ERR_PRIORITY_CAP ...".
 */
export function summarizeEvent(event: EngineEvent): string {
  return oneLine(describe(event), MAX_AUDIT_SUMMARY)
}

function describe(event: EngineEvent): string {
  const at = event.at
  switch (event.type) {
    case 'lease-started': {
      const l = event.lease
      const how = l.queueId ? `got ${l.place} after waiting (${l.queueId})` : `reserved ${l.place}`
      return (
        `${l.user} ${how}${priority(l.priority)} for ${formatDuration(l.expiresAt - l.startedAt)}, ` +
        `until ${utcClock(l.expiresAt, at)} (${l.id})`
      )
    }
    case 'lease-renewed': {
      const l = event.lease
      return (
        `${l.user} renewed ${l.id} on ${l.place} until ${utcClock(l.expiresAt, at)} ` +
        `(was ${utcClock(event.previousExpiresAt, at)}; renewal ${l.renewals})`
      )
    }
    case 'lease-ended':
      return leaseEnded(event)
    case 'queued': {
      const e = event.entry
      return `${e.user} waits for ${describeTarget(e.target)}${priority(e.priority)} at position ${event.position} (${e.id})`
    }
    case 'dequeued':
      return dequeued(event)
    case 'refused': {
      // The hub's login and policy refusals say which request first: "reserve: ...".
      const split = event.op === 'access' ? /^([a-z-]+): (.*)$/s.exec(event.message) : null
      const request = split ? (split[1] as string) : event.op
      const message = split ? (split[2] as string) : event.message
      const what = event.place ?? event.id
      const who = event.user ?? (event.peer ? `peer ${event.peer}` : 'an unknown caller')
      return `refused ${request}${what ? ` ${what}` : ''} for ${who}: ${event.code} ${message}`
    }
    case 'grant-added': {
      const g = event.grant
      const until = g.end === undefined ? 'until revoked' : `until ${utcClock(g.end, g.start)}`
      return `${actor(g.by)}granted ${grantText(g)} from ${utcClock(g.start, at)} ${until} (${g.id})`
    }
    case 'grant-removed': {
      const g = event.grant
      return event.reason === 'revoked'
        ? `${actor(event.by)}revoked grant ${g.id} (${grantText(g)})`
        : `grant ${g.id} (${grantText(g)}) ended`
    }
    case 'maintenance': {
      const why = event.note ? `: ${event.note}` : ''
      return event.on
        ? `${actor(event.by)}took ${event.place} out of service${why}`
        : `${actor(event.by)}put ${event.place} back in service${why}`
    }
  }
}

function leaseEnded(event: Extract<EngineEvent, { type: 'lease-ended' }>): string {
  const l = event.lease
  const why = event.note ? `: ${event.note}` : ''
  switch (event.reason) {
    case 'returned':
      return `${l.user} returned ${l.place} (${l.id})`
    case 'expired':
      return `lease ${l.id} (${l.user} on ${l.place}) expired`
    case 'kicked':
      return `lease ${l.id} (${l.user} on ${l.place}) kicked by ${event.by ?? 'an admin'}${why}`
    case 'revoked':
      return `lease ${l.id} (${l.user} on ${l.place}) revoked${event.by ? ` by ${event.by}` : ''}${why}`
  }
}

function dequeued(event: Extract<EngineEvent, { type: 'dequeued' }>): string {
  const e = event.entry
  const wanted = describeTarget(e.target)
  switch (event.reason) {
    case 'served':
      return `${e.user} stopped waiting for ${wanted}: served with lease ${event.leaseId ?? '?'} (${e.id})`
    case 'cancelled': {
      const by = event.by && event.by !== e.user ? `, removed by ${event.by}` : ''
      return `${e.user} left the queue for ${wanted}${by} (${e.id})`
    }
    case 'timeout':
      return `${e.user} stopped waiting for ${wanted}: timed out (${e.id})`
  }
}

function actor(by: string | undefined): string {
  return by ? `${by} ` : ''
}

function priority(p: number): string {
  return p !== 0 ? ` at priority ${p}` : ''
}

function grantText(g: Grant): string {
  const target = 'place' in g.target ? `place ${g.target.place}` : `places tagged ${g.target.tag}`
  const subject = 'user' in g.subject ? `user:${g.subject.user}` : `group:${g.subject.group}`
  return `${target} to ${subject}`
}

/** "14:02 UTC", with the date when that is another day than `from`: "2025-06-03 09:00 UTC". */
export function utcClock(ms: number, from: number): string {
  if (!Number.isFinite(new Date(ms).getTime()) || !Number.isFinite(new Date(from).getTime())) return `${ms}`
  const iso = new Date(ms).toISOString()
  const day = iso.slice(0, 10)
  return `${day === new Date(from).toISOString().slice(0, 10) ? '' : `${day} `}${iso.slice(11, 16)} UTC`
}

/** Control characters (newlines too) as spaces, cut to `max` characters with an ellipsis. */
function oneLine(text: string, max: number): string {
  const line = text.replace(/\p{Cc}+/gu, ' ')
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`
}

function encodedSize(r: AuditRecordInfo): number {
  const strings = [r.type, r.user, r.place, r.summary, r.eventJson]
  // Field tags, lengths and the two varints: well under 48 bytes.
  return strings.reduce((n, s) => n + Buffer.byteLength(s), 48)
}
