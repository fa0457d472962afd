/**
 * The codec of hub responses (tether.v1.HubResponse), validated on decode and on encode like the
 * requests (requests.ts).
 */
import { badField, defineMessage, type MessageCodec } from '@tether/net'
import { FAILURE_CODE, fields, LINE, MAX_PLACE, NAME, PLACE_ID, type Plain, USER } from './fields.js'
import {
  type AuditRecordInfo,
  type HubResponse,
  type LeaseInfo,
  MAX_AUDIT_EVENT_JSON,
  MAX_AUDIT_RECORDS,
  MAX_AUDIT_SUMMARY,
  MAX_CAPABILITY_TOKEN,
  MAX_FAILURE_MESSAGE,
  MAX_ID,
  MAX_JWKS_JSON,
  MAX_NAME,
  MAX_PLACE_STATES,
  MAX_REASON,
  MAX_USER,
  PLACE_STATES,
  type PlaceStateInfo,
  type QueueEntryInfo,
} from './types.js'

function leaseFromWire(o: Plain): LeaseInfo {
  const f = fields('Lease')
  return {
    id: f.str(o, 'id', MAX_ID, NAME),
    user: f.str(o, 'user', 256),
    exporter: f.str(o, 'exporter', MAX_NAME, NAME),
    exporterPeerId: f.str(o, 'exporter_peer_id', 128),
    place: f.str(o, 'place', MAX_NAME, NAME),
    parts: f.strList(o, 'parts'),
    priority: f.num(o, 'priority', 1000),
    startsAtMs: f.num(o, 'starts_at_ms'),
    expiresAtMs: f.num(o, 'expires_at_ms'),
    renewals: f.num(o, 'renewals'),
  }
}

function leaseToWire(l: LeaseInfo): Plain {
  return {
    id: l.id,
    user: l.user,
    exporter: l.exporter,
    exporter_peer_id: l.exporterPeerId,
    place: l.place,
    parts: [...l.parts],
    priority: l.priority,
    starts_at_ms: l.startsAtMs,
    expires_at_ms: l.expiresAtMs,
    renewals: l.renewals,
  }
}

function entryFromWire(o: Plain): QueueEntryInfo {
  const f = fields('QueueEntry')
  return {
    id: f.str(o, 'id', MAX_ID, NAME),
    user: f.str(o, 'user', 256),
    priority: f.num(o, 'priority', 1000),
    position: f.num(o, 'position'),
    enqueuedAtMs: f.num(o, 'enqueued_at_ms'),
    wanted: f.str(o, 'wanted', 1024),
  }
}

function entryToWire(e: QueueEntryInfo): Plain {
  return {
    id: e.id,
    user: e.user,
    priority: e.priority,
    position: e.position,
    enqueued_at_ms: e.enqueuedAtMs,
    wanted: e.wanted,
  }
}

// A newer hub may record types this client does not know: any word, not only AUDIT_EVENT_TYPES.
const AUDIT_TYPE = /^[a-z][a-z0-9-]{0,31}$/

function auditRecordFromWire(o: Plain): AuditRecordInfo {
  const f = fields('AuditRecord')
  const eventJson = f.str(o, 'event_json', MAX_AUDIT_EVENT_JSON)
  let event: unknown
  try {
    event = JSON.parse(eventJson)
  } catch {
    throw badField('AuditRecord', 'event_json', 'is not JSON')
  }
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw badField('AuditRecord', 'event_json', 'is not a JSON object')
  }
  return {
    seq: f.num(o, 'seq'),
    atMs: f.num(o, 'at_ms'),
    type: f.str(o, 'type', 32, AUDIT_TYPE),
    user: f.str(o, 'user', MAX_USER, LINE),
    place: f.str(o, 'place', MAX_PLACE, LINE),
    summary: f.str(o, 'summary', MAX_AUDIT_SUMMARY, LINE),
    eventJson,
  }
}

function auditRecordToWire(r: AuditRecordInfo): Plain {
  return {
    seq: r.seq,
    at_ms: r.atMs,
    type: r.type,
    user: r.user,
    place: r.place,
    summary: r.summary,
    event_json: r.eventJson,
  }
}

const STATE = new RegExp(`^(${PLACE_STATES.join('|')})$`)

function placeStateFromWire(o: Plain): PlaceStateInfo {
  const f = fields('PlaceState')
  const holder = f.optStr(o, 'holder', MAX_USER, USER)
  const untilMs = f.optNum(o, 'until_ms')
  const note = f.optStr(o, 'note', MAX_REASON, LINE)
  return {
    place: f.str(o, 'place', MAX_PLACE, PLACE_ID),
    state: f.str(o, 'state', 16, STATE) as PlaceStateInfo['state'],
    ...(holder !== undefined ? { holder } : {}),
    ...(untilMs !== undefined ? { untilMs } : {}),
    waiting: f.num(o, 'waiting', 0xffff_ffff),
    ...(note !== undefined ? { note } : {}),
  }
}

function placeStateToWire(s: PlaceStateInfo): Plain {
  return {
    place: s.place,
    state: s.state,
    ...(s.holder !== undefined ? { holder: s.holder } : {}),
    ...(s.untilMs !== undefined ? { until_ms: s.untilMs } : {}),
    waiting: s.waiting,
    ...(s.note !== undefined ? { note: s.note } : {}),
  }
}

const RESPONSE_KINDS = [
  'lease',
  'progress',
  'capability',
  'list',
  'identity',
  'jwks',
  'join_token',
  'enrolled',
  'done',
  'auth_info',
  'revoked',
  'granted',
  'audit',
  'place_states',
  'failure',
] as const

function responseFromWire(o: Plain): HubResponse {
  const f = fields('HubResponse')
  const present = RESPONSE_KINDS.filter((k) => f.sub(o, k) !== undefined)
  if (present.length !== 1) throw badField('HubResponse', 'response', 'must name exactly one response')
  const kind = present[0] as (typeof RESPONSE_KINDS)[number]
  const b = f.sub(o, kind) as Plain
  switch (kind) {
    case 'lease':
      return { type: 'lease', lease: leaseFromWire(b) }
    case 'progress':
      return { type: 'progress', entry: entryFromWire(f.sub(b, 'entry') ?? {}) }
    case 'capability': {
      const c = fields('Capability')
      return {
        type: 'capability',
        token: c.str(b, 'token', MAX_CAPABILITY_TOKEN),
        expiresAtMs: c.num(b, 'expires_at_ms'),
      }
    }
    case 'list':
      return {
        type: 'list',
        leases: (Array.isArray(b.leases) ? b.leases : []).map((l) => leaseFromWire(l as Plain)),
        queue: (Array.isArray(b.queue) ? b.queue : []).map((e) => entryFromWire(e as Plain)),
      }
    case 'identity': {
      const i = fields('Identity')
      return {
        type: 'identity',
        user: i.str(b, 'user', 256),
        roles: i.strList(b, 'roles', /^(admin|exporter|importer)$/),
        issuer: i.str(b, 'issuer', 1024),
        expiresAtMs: i.num(b, 'expires_at_ms'),
      }
    }
    case 'jwks':
      return { type: 'jwks', json: fields('Jwks').str(b, 'json', MAX_JWKS_JSON) }
    case 'join_token': {
      const j = fields('JoinToken')
      return { type: 'join-token', token: j.str(b, 'token', 256), expiresAtMs: j.num(b, 'expires_at_ms') }
    }
    case 'enrolled':
      return { type: 'enrolled', exporter: fields('Enrolled').str(b, 'exporter', MAX_NAME, NAME) }
    case 'done':
      return { type: 'done' }
    case 'auth_info': {
      const list = Array.isArray(b.issuers) ? b.issuers : []
      if (list.length > 16) throw badField('AuthInfo', 'issuers', 'has more than 16')
      return {
        type: 'auth-info',
        issuers: list.map((item) => {
          const i = fields('IssuerInfo')
          const o = (typeof item === 'object' && item !== null ? item : {}) as Plain
          const device = i.optStr(o, 'device_client_id', 256)
          return {
            url: i.str(o, 'url', 1024),
            clientId: i.str(o, 'client_id', 256),
            ...(device !== undefined ? { deviceClientId: device } : {}),
          }
        }),
      }
    }
    case 'granted':
      return { type: 'granted', id: fields('Granted').str(b, 'id', MAX_ID, NAME) }
    case 'audit': {
      const records = Array.isArray(b.records) ? b.records : []
      if (records.length > MAX_AUDIT_RECORDS)
        throw badField('AuditLog', 'records', `has more than ${MAX_AUDIT_RECORDS}`)
      return {
        type: 'audit',
        records: records.map((r) =>
          auditRecordFromWire((typeof r === 'object' && r !== null ? r : {}) as Plain),
        ),
        more: fields('AuditLog').bool(b, 'more'),
      }
    }
    case 'place_states': {
      const states = Array.isArray(b.states) ? b.states : []
      if (states.length > MAX_PLACE_STATES)
        throw badField('PlaceStates', 'states', `has more than ${MAX_PLACE_STATES}`)
      return {
        type: 'place-states',
        states: states.map((s) =>
          placeStateFromWire((typeof s === 'object' && s !== null ? s : {}) as Plain),
        ),
      }
    }
    case 'revoked': {
      const r = fields('Revoked')
      return {
        type: 'revoked',
        leaseId: r.str(b, 'lease_id', MAX_ID, NAME),
        reason: r.str(b, 'reason', MAX_REASON),
      }
    }
    case 'failure': {
      const x = fields('HubFailure')
      return {
        type: 'failure',
        code: x.str(b, 'code', 64, FAILURE_CODE),
        message: x.str(b, 'message', MAX_FAILURE_MESSAGE),
      }
    }
  }
}

function responseToWire(r: HubResponse): Plain {
  switch (r.type) {
    case 'lease':
      return { lease: leaseToWire(r.lease) }
    case 'progress':
      return { progress: { entry: entryToWire(r.entry) } }
    case 'capability':
      return { capability: { token: r.token, expires_at_ms: r.expiresAtMs } }
    case 'list':
      return { list: { leases: r.leases.map(leaseToWire), queue: r.queue.map(entryToWire) } }
    case 'identity':
      return {
        identity: { user: r.user, roles: [...r.roles], issuer: r.issuer, expires_at_ms: r.expiresAtMs },
      }
    case 'jwks':
      return { jwks: { json: r.json } }
    case 'join-token':
      return { join_token: { token: r.token, expires_at_ms: r.expiresAtMs } }
    case 'enrolled':
      return { enrolled: { exporter: r.exporter } }
    case 'done':
      return { done: {} }
    case 'auth-info':
      return {
        auth_info: {
          issuers: r.issuers.map((i) => ({
            url: i.url,
            client_id: i.clientId,
            ...(i.deviceClientId !== undefined ? { device_client_id: i.deviceClientId } : {}),
          })),
        },
      }
    case 'granted':
      return { granted: { id: r.id } }
    case 'revoked':
      return { revoked: { lease_id: r.leaseId, reason: r.reason } }
    case 'audit':
      return { audit: { records: r.records.map(auditRecordToWire), more: r.more } }
    case 'place-states':
      return { place_states: { states: r.states.map(placeStateToWire) } }
    case 'failure':
      return { failure: { code: r.code, message: r.message.slice(0, MAX_FAILURE_MESSAGE) } }
  }
}

export const HubResponseCodec: MessageCodec<HubResponse> = (() => {
  const inner = defineMessage<Plain>('tether.v1.HubResponse', (o) => o)
  return {
    name: inner.name,
    encode: (value) => {
      const wire = responseToWire(value)
      responseFromWire(wire)
      return inner.encode(wire)
    },
    decode: (bytes) => responseFromWire(inner.decode(bytes)),
  }
})()
