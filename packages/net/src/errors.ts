/**
 * One error base for the package. `code` is stable for `switch`; `origin` says whether the
 * peer broke the protocol ('remote') or we were misused / misconfigured ('local').
 */
export type NetErrorCode =
  | 'ERR_FRAME_TOO_LARGE'
  | 'ERR_BAD_FRAME'
  | 'ERR_DECODE'
  | 'ERR_BAD_FIELD'
  | 'ERR_TRUNCATED'
  | 'ERR_CLOSED'
  | 'ERR_ABORTED'
  | 'ERR_TIMEOUT'
  | 'ERR_SCHEMA'
  | 'ERR_IDENTITY_PERMISSIONS'
  | 'ERR_IDENTITY_INVALID'
  | 'ERR_IDENTITY_IO'
  | 'ERR_BAD_CONFIG'
  | 'ERR_TUNNEL_REFUSED'

export type ErrorOrigin = 'local' | 'remote'

export class NetError extends Error {
  readonly code: NetErrorCode
  readonly origin: ErrorOrigin
  readonly details: Readonly<Record<string, unknown>>

  constructor(
    code: NetErrorCode,
    message: string,
    options: { origin?: ErrorOrigin; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'NetError'
    this.code = code
    this.origin = options.origin ?? 'remote'
    this.details = options.details ?? {}
  }
}

export function isNetError(err: unknown): err is NetError {
  return err instanceof NetError
}
