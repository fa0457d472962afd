/**
 * Typed protobuf messages: each codec pairs a schema type with validation at the edge, so code
 * past decode() only sees well-formed values.
 */
import type protobuf from 'protobufjs'
import { NetError } from './errors.js'
import { schemaType } from './schema.js'

export interface MessageCodec<T> {
  /** Fully qualified protobuf name, e.g. "tether.v1.TunnelOpen". */
  readonly name: string
  encode(value: T): Uint8Array
  /** Decode and validate; throws NetError ERR_DECODE or ERR_BAD_FIELD (origin 'remote'). */
  decode(bytes: Uint8Array): T
}

/** Build a codec from a schema type name and a validator of the decoded plain object. */
export function defineMessage<T>(
  name: string,
  validate: (value: Record<string, unknown>) => T,
): MessageCodec<T> {
  let type: protobuf.Type | undefined
  const get = () => {
    type ??= schemaType(name)
    return type
  }
  return {
    name,
    encode(value) {
      const t = get()
      const plain = value as unknown as Record<string, unknown>
      validate({ ...t.toObject(t.create(), { defaults: true }), ...plain })
      return t.encode(t.fromObject(plain)).finish()
    },
    decode(bytes) {
      const t = get()
      let object: Record<string, unknown>
      try {
        object = t.toObject(t.decode(bytes), { defaults: true, enums: String, longs: Number, bytes: Array })
      } catch (err) {
        throw new NetError('ERR_DECODE', `cannot decode ${name}: ${(err as Error).message}`, {
          details: { type: name },
          cause: err,
        })
      }
      return validate(object)
    },
  }
}

export function badField(type: string, field: string, why: string): NetError {
  return new NetError('ERR_BAD_FIELD', `${type}.${field} ${why}`, { details: { type, field } })
}

// --- tether.v1.TunnelOpen ---

export interface TunnelOpen {
  /** The device to import, e.g. "1-1"; empty asks for the device list only (OP_REQ_DEVLIST). */
  readonly busid: string
  readonly token: Uint8Array
}

/** A USB/IP busid fits SYSFS_BUS_ID_SIZE (32) with its NUL: "1-1", "3-1.4.2". */
const BUSID = /^[0-9]{1,3}-[0-9]{1,3}(\.[0-9]{1,3}){0,6}$/
export const MAX_TOKEN_BYTES = 8 * 1024

export const TunnelOpen: MessageCodec<TunnelOpen> = defineMessage('tether.v1.TunnelOpen', (o) => {
  const busid = o.busid
  if (typeof busid !== 'string' || busid.length > 31 || (busid !== '' && !BUSID.test(busid))) {
    throw badField(
      'TunnelOpen',
      'busid',
      `must look like "1-1", or be empty for the device list (got ${JSON.stringify(busid)})`,
    )
  }
  const token = toBytes(o.token)
  if (!token) throw badField('TunnelOpen', 'token', 'must be bytes')
  if (token.length > MAX_TOKEN_BYTES) {
    throw badField('TunnelOpen', 'token', `is ${token.length} bytes, at most ${MAX_TOKEN_BYTES}`)
  }
  return { busid, token }
})

// --- tether.v1.TunnelOpenResult ---

export const TUNNEL_STATUSES = [
  'STATUS_OK',
  'STATUS_NO_SUCH_DEVICE',
  'STATUS_DENIED',
  'STATUS_BUSY',
  'STATUS_ERROR',
] as const
export type TunnelStatus = (typeof TUNNEL_STATUSES)[number]

export interface TunnelOpenResult {
  readonly status: TunnelStatus
  readonly message: string
  /**
   * A refusal's machine-readable reason (the exporter's error code, e.g. ERR_TOKEN_REVOKED);
   * absent when there is none, and from exporters older than the field.
   */
  readonly code?: string
}

export const MAX_RESULT_MESSAGE = 1024
/** A refusal code: ERR_ and upper-case letters, digits, underscores, like every tether error code. */
export const REFUSAL_CODE = /^ERR_[A-Z0-9_]{1,60}$/

export const TunnelOpenResult: MessageCodec<TunnelOpenResult> = defineMessage(
  'tether.v1.TunnelOpenResult',
  (o) => {
    const status = o.status
    if (typeof status !== 'string' || !(TUNNEL_STATUSES as readonly string[]).includes(status)) {
      throw badField('TunnelOpenResult', 'status', `is not a known status (got ${JSON.stringify(status)})`)
    }
    const message = o.message
    if (typeof message !== 'string' || message.length > MAX_RESULT_MESSAGE) {
      throw badField('TunnelOpenResult', 'message', `must be a string of at most ${MAX_RESULT_MESSAGE} chars`)
    }
    const code = o.code
    if (code !== undefined && (typeof code !== 'string' || !REFUSAL_CODE.test(code))) {
      throw badField(
        'TunnelOpenResult',
        'code',
        `must look like ERR_TOKEN_REVOKED (${REFUSAL_CODE.source}), or be absent (got ${JSON.stringify(code)?.slice(0, 80)})`,
      )
    }
    return { status: status as TunnelStatus, message, ...(code !== undefined ? { code } : {}) }
  },
)

function toBytes(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value
  if (Array.isArray(value) && value.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
    return Uint8Array.from(value as number[])
  }
  return undefined
}
