/**
 * The codec of hub requests (tether.v1.HubRequest). Wire names are snake_case and times Unix
 * milliseconds; the codec maps them to API types and validates every field on decode (NetError
 * ERR_DECODE / ERR_BAD_FIELD) and on encode, so nothing malformed crosses either way.
 */
import { badField, defineMessage, type MessageCodec } from '@tether/net'
import {
  COMPATIBLE,
  fields,
  KIND,
  MAX_PLACE,
  NAME,
  PLACE,
  PLACE_ID,
  type Plain,
  SUBJECT,
  USER,
} from './fields.js'
import {
  AUDIT_EVENT_TYPES,
  type HubRequest,
  type HubRequestBody,
  MAX_CAPABILITY_TOKEN,
  MAX_ID,
  MAX_LOGIN_TOKEN,
  MAX_NAME,
  MAX_PLACE_STATES,
  MAX_REASON,
  MAX_SPEC_ITEMS,
  MAX_USER,
} from './types.js'

const AUDIT_TYPE = new RegExp(`^(${AUDIT_EVENT_TYPES.join('|')})$`)

const REQUEST_KINDS = [
  'reserve',
  'return',
  'renew',
  'capability',
  'list',
  'show',
  'who',
  'whoami',
  'jwks',
  'grant',
  'revoke',
  'kick',
  'maintenance',
  'join_token',
  'enroll',
  'auth_info',
  'watch',
  'audit',
  'place_states',
] as const

function requestBody(o: Plain): HubRequestBody {
  const f = fields('HubRequest')
  const present = REQUEST_KINDS.filter((k) => f.sub(o, k) !== undefined)
  if (present.length !== 1) throw badField('HubRequest', 'request', 'must name exactly one request')
  const kind = present[0] as (typeof REQUEST_KINDS)[number]
  const b = f.sub(o, kind) as Plain
  switch (kind) {
    case 'reserve': {
      const r = fields('ReserveRequest')
      const parts = Array.isArray(b.parts) ? b.parts : []
      if (parts.length > MAX_SPEC_ITEMS)
        throw badField('ReserveRequest', 'parts', `has more than ${MAX_SPEC_ITEMS}`)
      const place = r.optStr(b, 'place', MAX_PLACE, PLACE)
      return {
        type: 'reserve',
        ...(place !== undefined ? { place } : {}),
        tags: r.strList(b, 'tags'),
        parts: parts.map((p) => {
          const part = (typeof p === 'object' && p !== null ? p : {}) as Plain
          return {
            compatible: r.strList(part, 'compatible', COMPATIBLE),
            interfaces: r.strList(part, 'interfaces', KIND),
          }
        }),
        priority: r.num(b, 'priority', 1000),
        leaseMs: r.num(b, 'lease_ms'),
        wait: r.bool(b, 'wait'),
      }
    }
    case 'return':
      return { type: 'return', id: fields('LeaseRef').str(b, 'id', MAX_ID, NAME) }
    case 'show':
      return { type: 'show', id: fields('LeaseRef').str(b, 'id', MAX_ID, NAME) }
    case 'renew': {
      const r = fields('RenewRequest')
      return { type: 'renew', id: r.str(b, 'id', MAX_ID, NAME), leaseMs: r.num(b, 'lease_ms') }
    }
    case 'capability': {
      const c = fields('CapabilityRequest')
      const previous = c.optStr(b, 'previous', MAX_CAPABILITY_TOKEN)
      return {
        type: 'capability',
        leaseId: c.str(b, 'lease_id', MAX_ID, NAME),
        ...(previous !== undefined ? { previous } : {}),
      }
    }
    case 'list':
      return { type: 'list', all: fields('ListRequest').bool(b, 'all') }
    case 'who': {
      const place = fields('WhoRequest').optStr(b, 'place', MAX_PLACE, PLACE)
      return { type: 'who', ...(place !== undefined ? { place } : {}) }
    }
    case 'whoami':
      return { type: 'whoami' }
    case 'jwks':
      return { type: 'jwks' }
    case 'grant': {
      const g = fields('GrantRequest')
      const place = g.optStr(b, 'place', MAX_PLACE, PLACE)
      const tag = g.optStr(b, 'tag', MAX_NAME, NAME)
      if ((place === undefined) === (tag === undefined))
        throw badField('GrantRequest', 'place', 'or tag: give exactly one')
      const startsAtMs = g.num(b, 'starts_at_ms')
      const endsAtMs = g.num(b, 'ends_at_ms')
      if (endsAtMs <= startsAtMs) throw badField('GrantRequest', 'ends_at_ms', 'must be after starts_at_ms')
      return {
        type: 'grant',
        subject: g.str(b, 'subject', 264, SUBJECT),
        ...(place !== undefined ? { place } : {}),
        ...(tag !== undefined ? { tag } : {}),
        startsAtMs,
        endsAtMs,
      }
    }
    case 'revoke': {
      const r = fields('RevokeRequest')
      return { type: 'revoke', id: r.str(b, 'id', MAX_ID, NAME), reason: r.str(b, 'reason', MAX_REASON) }
    }
    case 'kick': {
      const k = fields('KickRequest')
      return {
        type: 'kick',
        leaseId: k.str(b, 'lease_id', MAX_ID, NAME),
        reason: k.str(b, 'reason', MAX_REASON),
      }
    }
    case 'maintenance': {
      const m = fields('MaintenanceRequest')
      return {
        type: 'maintenance',
        place: m.str(b, 'place', MAX_PLACE, PLACE),
        on: m.bool(b, 'on'),
        reason: m.str(b, 'reason', MAX_REASON),
      }
    }
    case 'join_token': {
      const j = fields('JoinTokenRequest')
      return {
        type: 'join-token',
        exporter: j.str(b, 'exporter', MAX_NAME, NAME),
        validMs: j.num(b, 'valid_ms'),
      }
    }
    case 'enroll':
      return { type: 'enroll', joinToken: fields('EnrollRequest').str(b, 'join_token', 256) }
    case 'auth_info':
      return { type: 'auth-info' }
    case 'watch':
      return { type: 'watch' }
    case 'audit': {
      const a = fields('AuditRequest')
      const afterSeq = a.optNum(b, 'after_seq')
      const sinceMs = a.optNum(b, 'since_ms')
      const user = a.optStr(b, 'user', MAX_USER, USER)
      const place = a.optStr(b, 'place', MAX_PLACE, PLACE)
      return {
        type: 'audit',
        ...(afterSeq !== undefined ? { afterSeq } : {}),
        ...(sinceMs !== undefined ? { sinceMs } : {}),
        ...(user !== undefined ? { user } : {}),
        ...(place !== undefined ? { place } : {}),
        types: a.strList(b, 'types', AUDIT_TYPE) as (typeof AUDIT_EVENT_TYPES)[number][],
        limit: a.num(b, 'limit', 0xffff_ffff),
      }
    }
    case 'place_states':
      return {
        type: 'place-states',
        places: fields('PlaceStatesRequest').strList(b, 'places', PLACE_ID, MAX_PLACE_STATES),
      }
  }
}

function bodyToWire(body: HubRequestBody): Plain {
  switch (body.type) {
    case 'reserve':
      return {
        reserve: {
          ...(body.place !== undefined ? { place: body.place } : {}),
          tags: [...body.tags],
          parts: body.parts.map((p) => ({ compatible: [...p.compatible], interfaces: [...p.interfaces] })),
          priority: body.priority,
          lease_ms: body.leaseMs,
          wait: body.wait,
        },
      }
    case 'return':
      return { return: { id: body.id } }
    case 'show':
      return { show: { id: body.id } }
    case 'renew':
      return { renew: { id: body.id, lease_ms: body.leaseMs } }
    case 'capability':
      return {
        capability: {
          lease_id: body.leaseId,
          ...(body.previous !== undefined ? { previous: body.previous } : {}),
        },
      }
    case 'list':
      return { list: { all: body.all } }
    case 'who':
      return { who: body.place !== undefined ? { place: body.place } : {} }
    case 'whoami':
      return { whoami: {} }
    case 'jwks':
      return { jwks: {} }
    case 'grant':
      return {
        grant: {
          subject: body.subject,
          ...(body.place !== undefined ? { place: body.place } : {}),
          ...(body.tag !== undefined ? { tag: body.tag } : {}),
          starts_at_ms: body.startsAtMs,
          ends_at_ms: body.endsAtMs,
        },
      }
    case 'revoke':
      return { revoke: { id: body.id, reason: body.reason } }
    case 'kick':
      return { kick: { lease_id: body.leaseId, reason: body.reason } }
    case 'maintenance':
      return { maintenance: { place: body.place, on: body.on, reason: body.reason } }
    case 'join-token':
      return { join_token: { exporter: body.exporter, valid_ms: body.validMs } }
    case 'enroll':
      return { enroll: { join_token: body.joinToken } }
    case 'auth-info':
      return { auth_info: {} }
    case 'watch':
      return { watch: {} }
    case 'audit':
      return {
        audit: {
          ...(body.afterSeq !== undefined ? { after_seq: body.afterSeq } : {}),
          ...(body.sinceMs !== undefined ? { since_ms: body.sinceMs } : {}),
          ...(body.user !== undefined ? { user: body.user } : {}),
          ...(body.place !== undefined ? { place: body.place } : {}),
          types: [...body.types],
          limit: body.limit,
        },
      }
    case 'place-states':
      return { place_states: { places: [...body.places] } }
  }
}

/** Validates on both sides: what we send must also decode. */
export const HubRequestCodec: MessageCodec<HubRequest> = (() => {
  const inner = defineMessage<Plain>('tether.v1.HubRequest', (o) => o)
  const validate = (o: Plain): HubRequest => ({
    login: fields('HubRequest').str(o, 'login', MAX_LOGIN_TOKEN),
    body: requestBody(o),
  })
  return {
    name: inner.name,
    encode: (value) => {
      const wire = { login: value.login, ...bodyToWire(value.body) }
      validate(wire)
      return inner.encode(wire)
    },
    decode: (bytes) => validate(inner.decode(bytes)),
  }
})()
