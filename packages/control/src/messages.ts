/**
 * Codecs of the hub's control protocol (proto/tether/v1/hub.proto). Wire names are snake_case and
 * times Unix milliseconds; these codecs map them to API types and validate every field on decode
 * (NetError ERR_DECODE / ERR_BAD_FIELD) and on encode, so nothing malformed crosses either way.
 */
import { badField, defineMessage, type MessageCodec } from '@tether/net'

export interface PartSpec {
  readonly compatible: readonly string[]
  readonly interfaces: readonly string[]
}

export type HubRequestBody =
  | {
      readonly type: 'reserve'
      readonly place?: string
      readonly tags: readonly string[]
      readonly parts: readonly PartSpec[]
      readonly priority: number
      readonly leaseMs: number
      readonly wait: boolean
    }
  | { readonly type: 'return'; readonly id: string }
  | { readonly type: 'renew'; readonly id: string; readonly leaseMs: number }
  | { readonly type: 'capability'; readonly leaseId: string }
  | { readonly type: 'list'; readonly all: boolean }
  | { readonly type: 'show'; readonly id: string }
  | { readonly type: 'who'; readonly place?: string }
  | { readonly type: 'whoami' }
  | { readonly type: 'jwks' }
  | {
      readonly type: 'grant'
      readonly subject: string
      readonly place?: string
      readonly tag?: string
      readonly startsAtMs: number
      readonly endsAtMs: number
    }
  | { readonly type: 'revoke'; readonly id: string; readonly reason: string }
  | { readonly type: 'kick'; readonly leaseId: string; readonly reason: string }
  | { readonly type: 'maintenance'; readonly place: string; readonly on: boolean; readonly reason: string }
  | { readonly type: 'join-token'; readonly exporter: string; readonly validMs: number }
  | { readonly type: 'enroll'; readonly joinToken: string }
  | { readonly type: 'auth-info' }
  | { readonly type: 'watch' }

export interface HubRequest {
  /** The caller's OIDC token; empty for jwks and enroll. */
  readonly login: string
  readonly body: HubRequestBody
}

export interface LeaseInfo {
  readonly id: string
  readonly user: string
  readonly exporter: string
  readonly exporterPeerId: string
  readonly place: string
  readonly parts: readonly string[]
  readonly priority: number
  readonly startsAtMs: number
  readonly expiresAtMs: number
  readonly renewals: number
}

export interface QueueEntryInfo {
  readonly id: string
  readonly user: string
  readonly priority: number
  readonly position: number
  readonly enqueuedAtMs: number
  readonly wanted: string
}

export type HubResponse =
  | { readonly type: 'lease'; readonly lease: LeaseInfo }
  | { readonly type: 'progress'; readonly entry: QueueEntryInfo }
  | { readonly type: 'capability'; readonly token: string; readonly expiresAtMs: number }
  | {
      readonly type: 'list'
      readonly leases: readonly LeaseInfo[]
      readonly queue: readonly QueueEntryInfo[]
    }
  | {
      readonly type: 'identity'
      readonly user: string
      readonly roles: readonly string[]
      readonly issuer: string
      readonly expiresAtMs: number
    }
  | { readonly type: 'jwks'; readonly json: string }
  | { readonly type: 'join-token'; readonly token: string; readonly expiresAtMs: number }
  | { readonly type: 'enrolled'; readonly exporter: string }
  | { readonly type: 'done' }
  | { readonly type: 'auth-info'; readonly issuers: readonly IssuerInfo[] }
  | { readonly type: 'revoked'; readonly leaseId: string; readonly reason: string }
  | { readonly type: 'granted'; readonly id: string }
  | { readonly type: 'failure'; readonly code: string; readonly message: string }

export interface IssuerInfo {
  readonly url: string
  readonly clientId: string
  readonly deviceClientId?: string
}

/** Bounds: an OIDC token is a few KiB at most; names follow the directory's rules. */
export const MAX_LOGIN_TOKEN = 16 * 1024
export const MAX_NAME = 63
export const MAX_ID = 128
export const MAX_REASON = 512
export const MAX_SPEC_ITEMS = 32
export const MAX_CAPABILITY_TOKEN = 8 * 1024
export const MAX_JWKS_JSON = 64 * 1024
export const MAX_FAILURE_MESSAGE = 1024

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/
/** A place, optionally with its exporter: PLACE or EXPORTER/PLACE. */
const PLACE = /^([A-Za-z0-9][A-Za-z0-9._-]{0,62}\/)?[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/
const MAX_PLACE = 2 * MAX_NAME + 1
const SUBJECT = /^(user|group):[^\s]{1,256}$/
const FAILURE_CODE = /^ERR_[A-Z0-9_]{1,60}$/

type Plain = Record<string, unknown>

/** Field checks bound to one message type, so every error names type and field. */
function fields(type: string) {
  const str = (o: Plain, field: string, max: number, pattern?: RegExp): string => {
    const v = o[field]
    if (typeof v !== 'string') throw badField(type, field, 'must be a string')
    if (v.length > max) throw badField(type, field, `is longer than ${max}`)
    if (pattern && !pattern.test(v))
      throw badField(type, field, `has an invalid form: ${JSON.stringify(v.slice(0, 80))}`)
    return v
  }
  const optStr = (o: Plain, field: string, max: number, pattern?: RegExp): string | undefined =>
    o[field] === undefined || o[field] === null ? undefined : str(o, field, max, pattern)
  const num = (o: Plain, field: string, max = Number.MAX_SAFE_INTEGER): number => {
    const v = o[field] ?? 0
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) {
      throw badField(type, field, `must be an integer in 0..${max}`)
    }
    return v
  }
  const bool = (o: Plain, field: string): boolean => {
    const v = o[field] ?? false
    if (typeof v !== 'boolean') throw badField(type, field, 'must be a boolean')
    return v
  }
  const strList = (o: Plain, field: string, pattern: RegExp = NAME): string[] => {
    const v = o[field] ?? []
    if (!Array.isArray(v) || v.length > MAX_SPEC_ITEMS)
      throw badField(type, field, `must be a list of at most ${MAX_SPEC_ITEMS}`)
    return v.map((item, i) => {
      if (typeof item !== 'string' || item.length > 256 || !pattern.test(item)) {
        throw badField(type, `${field}[${i}]`, 'is not a valid name')
      }
      return item
    })
  }
  const sub = (o: Plain, field: string): Plain | undefined => {
    const v = o[field]
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Plain) : undefined
  }
  return { str, optStr, num, bool, strList, sub }
}

// Compatible strings are vendor,model pairs; interface kinds are words.
const COMPATIBLE = /^[A-Za-z0-9][A-Za-z0-9.,_+-]{0,127}$/
const KIND = /^(usb|serial)$/

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
    case 'capability':
      return { type: 'capability', leaseId: fields('CapabilityRequest').str(b, 'lease_id', MAX_ID, NAME) }
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
      return { capability: { lease_id: body.leaseId } }
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
