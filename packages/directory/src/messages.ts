/**
 * Codecs of the directory protocol (proto/tether/v1/directory.proto). The wire uses protobuf
 * field names (snake_case, enum names, Unix milliseconds); these codecs map them to the API types
 * and validate everything on decode (NetError ERR_DECODE / ERR_BAD_FIELD, origin 'remote') and on
 * encode, so a bad value never leaves this process either.
 */
import { badField, defineMessage, type MessageCodec, schemaType } from '@tether/net'
import type { DirectoryEntry, DirectoryQuery, ExporterRegistration, InterfaceKind } from './types.js'
import { checkQuery, checkRegistration, type Fail } from './validate.js'

export type DirectoryRequest =
  | { readonly type: 'register'; readonly registration: ExporterRegistration }
  | { readonly type: 'refresh' }
  | { readonly type: 'unregister' }
  | { readonly type: 'query'; readonly query: DirectoryQuery }

export type DirectoryResponse =
  | { readonly type: 'registered'; readonly ttlMs: number; readonly entry: DirectoryEntry }
  | { readonly type: 'unregistered'; readonly removed: boolean }
  | { readonly type: 'result'; readonly entries: readonly DirectoryEntry[]; readonly truncated: boolean }
  | { readonly type: 'failure'; readonly code: string; readonly message: string }

export const MAX_FAILURE_MESSAGE = 1024
const FAILURE_CODE = /^ERR_[A-Z0-9_]{1,60}$/
/** PeerIds in their string forms (base58btc or base32 CID). */
const PEER_ID = /^[A-Za-z0-9]{1,128}$/

const KIND_TO_WIRE: Record<InterfaceKind, string> = { usb: 'KIND_USB', serial: 'KIND_SERIAL' }
const KIND_FROM_WIRE: Readonly<Record<string, InterfaceKind>> = { KIND_USB: 'usb', KIND_SERIAL: 'serial' }

type Plain = Record<string, unknown>

// --- wire -> API ---------------------------------------------------------------------------

function asPlain(value: unknown): Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Plain) : {}
}

function mapList(value: unknown, f: (item: Plain) => Plain): unknown {
  return Array.isArray(value) ? value.map((item) => f(asPlain(item))) : value
}

function registrationFromWire(value: unknown, fail: Fail): ExporterRegistration {
  if (typeof value !== 'object' || value === null) throw fail('registration', 'is missing')
  const o = value as Plain
  return checkRegistration(
    {
      name: o.name,
      addresses: o.addresses,
      places: mapList(o.places, (p) => ({
        name: p.name,
        tags: p.tags,
        parts: mapList(p.parts, (part) => ({
          name: part.name,
          compatible: part.compatible,
          interfaces: mapList(part.interfaces, (i) => ({
            kind: typeof i.kind === 'string' ? (KIND_FROM_WIRE[i.kind] ?? i.kind) : i.kind,
            name: i.name,
            ...(i.busid !== undefined ? { busid: i.busid } : {}),
            ...(i.vendor_id !== undefined ? { vendorId: i.vendor_id } : {}),
            ...(i.product_id !== undefined ? { productId: i.product_id } : {}),
            ...(i.description !== undefined ? { description: i.description } : {}),
          })),
        })),
      })),
    },
    fail,
  )
}

function queryFromWire(o: Plain, fail: Fail): DirectoryQuery {
  const q: Plain = {}
  for (const key of ['exporter', 'place', 'text'] as const) if (o[key] !== undefined) q[key] = o[key]
  if (Array.isArray(o.tags) && o.tags.length > 0) q.tags = o.tags
  else if (!Array.isArray(o.tags) && o.tags !== undefined) q.tags = o.tags
  if (Array.isArray(o.compatible) && o.compatible.length > 0) q.compatible = o.compatible
  else if (!Array.isArray(o.compatible) && o.compatible !== undefined) q.compatible = o.compatible
  return checkQuery(q, fail)
}

function entryFromWire(value: unknown, at: string, fail: Fail): DirectoryEntry {
  const o = asPlain(value)
  const registration = registrationFromWire(o.registration, (field, why) => fail(`${at}.${field}`, why))
  const peerId = o.peer_id
  if (typeof peerId !== 'string' || !PEER_ID.test(peerId)) throw fail(`${at}.peer_id`, 'must be a PeerId')
  const registeredAt = time(o.registered_at_ms, `${at}.registered_at_ms`, fail)
  const expiresAt = time(o.expires_at_ms, `${at}.expires_at_ms`, fail)
  let observedAddress: string | undefined
  if (o.observed_address !== undefined) {
    // Same rules as a registered address.
    observedAddress = checkRegistration(
      { name: 'x', places: [], addresses: [o.observed_address] },
      (_f, why) => fail(`${at}.observed_address`, why),
    ).addresses[0]
  }
  return Object.freeze({
    ...registration,
    peerId,
    ...(observedAddress !== undefined ? { observedAddress } : {}),
    registeredAt,
    expiresAt,
  })
}

function time(value: unknown, at: string, fail: Fail): Date {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw fail(at, 'must be a Unix time in milliseconds')
  }
  return new Date(value)
}

// --- API -> wire ---------------------------------------------------------------------------

export function registrationToWire(r: ExporterRegistration): Plain {
  return {
    name: r.name,
    addresses: [...r.addresses],
    places: r.places.map((p) => ({
      name: p.name,
      tags: [...p.tags],
      parts: p.parts.map((part) => ({
        name: part.name,
        compatible: [...part.compatible],
        interfaces: part.interfaces.map((i) => ({
          kind: KIND_TO_WIRE[i.kind] ?? i.kind,
          name: i.name,
          ...(i.busid !== undefined ? { busid: i.busid } : {}),
          ...(i.vendorId !== undefined ? { vendor_id: i.vendorId } : {}),
          ...(i.productId !== undefined ? { product_id: i.productId } : {}),
          ...(i.description !== undefined ? { description: i.description } : {}),
        })),
      })),
    })),
  }
}

export function entryToWire(e: DirectoryEntry): Plain {
  return {
    registration: registrationToWire(e),
    peer_id: e.peerId,
    ...(e.observedAddress !== undefined ? { observed_address: e.observedAddress } : {}),
    registered_at_ms: e.registeredAt.getTime(),
    expires_at_ms: e.expiresAt.getTime(),
  }
}

function requestToWire(r: DirectoryRequest): Plain {
  switch (r.type) {
    case 'register':
      return { register: { registration: registrationToWire(r.registration) } }
    case 'refresh':
      return { refresh: {} }
    case 'unregister':
      return { unregister: {} }
    case 'query':
      return {
        query: {
          ...(r.query.exporter !== undefined ? { exporter: r.query.exporter } : {}),
          ...(r.query.place !== undefined ? { place: r.query.place } : {}),
          ...(r.query.text !== undefined ? { text: r.query.text } : {}),
          tags: [...(r.query.tags ?? [])],
          compatible: [...(r.query.compatible ?? [])],
        },
      }
    default:
      throw new TypeError(`unknown directory request type ${(r as { type: unknown }).type}`)
  }
}

function responseToWire(r: DirectoryResponse): Plain {
  switch (r.type) {
    case 'registered':
      return { registered: { ttl_ms: r.ttlMs, entry: entryToWire(r.entry) } }
    case 'unregistered':
      return { unregistered: { removed: r.removed } }
    case 'result':
      return { result: { entries: r.entries.map(entryToWire), truncated: r.truncated } }
    case 'failure':
      return { failure: { code: r.code, message: r.message } }
    default:
      throw new TypeError(`unknown directory response type ${(r as { type: unknown }).type}`)
  }
}

// --- codecs --------------------------------------------------------------------------------

function oneOf(o: Plain, type: string, members: readonly string[]): [string, Plain] {
  const present = members.filter((m) => o[m] !== undefined && o[m] !== null)
  if (present.length !== 1) {
    throw badField(type, members.join('|'), `must hold exactly one of ${members.join(', ')}`)
  }
  const member = present[0] as string
  return [member, asPlain(o[member])]
}

function requestFromWire(o: Plain): DirectoryRequest {
  const fail: Fail = (field, why) => badField('DirectoryRequest', field, why)
  const [member, body] = oneOf(o, 'DirectoryRequest', ['register', 'refresh', 'unregister', 'query'])
  switch (member) {
    case 'register':
      return { type: 'register', registration: registrationFromWire(body.registration, fail) }
    case 'refresh':
      return { type: 'refresh' }
    case 'unregister':
      return { type: 'unregister' }
    default:
      return { type: 'query', query: queryFromWire(body, fail) }
  }
}

function responseFromWire(o: Plain): DirectoryResponse {
  const fail: Fail = (field, why) => badField('DirectoryResponse', field, why)
  const [member, body] = oneOf(o, 'DirectoryResponse', ['registered', 'unregistered', 'result', 'failure'])
  switch (member) {
    case 'registered': {
      const ttlMs = body.ttl_ms
      if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs <= 0) {
        throw fail('registered.ttl_ms', 'must be a positive number of milliseconds')
      }
      return { type: 'registered', ttlMs, entry: entryFromWire(body.entry, 'registered.entry', fail) }
    }
    case 'unregistered':
      if (typeof body.removed !== 'boolean') throw fail('unregistered.removed', 'must be a boolean')
      return { type: 'unregistered', removed: body.removed }
    case 'result': {
      if (!Array.isArray(body.entries)) throw fail('result.entries', 'must be a list')
      const entries = body.entries.map((e, i) => entryFromWire(e, `result.entries[${i}]`, fail))
      if (typeof body.truncated !== 'boolean') throw fail('result.truncated', 'must be a boolean')
      return { type: 'result', entries, truncated: body.truncated }
    }
    default: {
      const { code, message } = body
      if (typeof code !== 'string' || !FAILURE_CODE.test(code))
        throw fail('failure.code', 'must look like ERR_X')
      if (typeof message !== 'string' || message.length > MAX_FAILURE_MESSAGE) {
        throw fail('failure.message', `must be a string of at most ${MAX_FAILURE_MESSAGE} chars`)
      }
      return { type: 'failure', code, message }
    }
  }
}

/**
 * A codec over an API type: decode through defineMessage (validating), encode by mapping to
 * the wire shape and validating that mapping before it is sent.
 */
function mappedCodec<T>(
  name: string,
  fromWire: (o: Plain) => T,
  toWire: (value: T) => Plain,
): MessageCodec<T> {
  const wire = defineMessage(name, fromWire)
  return {
    name,
    encode(value) {
      const type = schemaType(name)
      const message = type.fromObject(toWire(value))
      const bytes = type.encode(message).finish()
      wire.decode(bytes)
      return bytes
    },
    decode: (bytes) => wire.decode(bytes),
  }
}

export const DirectoryRequestCodec: MessageCodec<DirectoryRequest> = mappedCodec(
  'tether.v1.DirectoryRequest',
  requestFromWire,
  requestToWire,
)

export const DirectoryResponseCodec: MessageCodec<DirectoryResponse> = mappedCodec(
  'tether.v1.DirectoryResponse',
  responseFromWire,
  responseToWire,
)

/** Encoded size of one entry inside a QueryResult (field tag + length prefix + body). */
export function encodedEntrySize(entry: DirectoryEntry): number {
  const type = schemaType('tether.v1.DirectoryEntry')
  const body = type.encode(type.fromObject(entryToWire(entry))).finish().length
  return 1 + varintSize(body) + body
}

function varintSize(n: number): number {
  let size = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    size++
  }
  return size
}
