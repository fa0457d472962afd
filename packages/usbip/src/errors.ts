/**
 * One error base for the package. `code` is stable for `switch`; `origin` says whether the
 * peer broke the protocol ('remote') or we were misused ('local').
 */
export type UsbipErrorCode =
  | 'ERR_BAD_VERSION'
  | 'ERR_UNKNOWN_OP'
  | 'ERR_UNKNOWN_COMMAND'
  | 'ERR_TRANSFER_TOO_LONG'
  | 'ERR_TOO_MANY_PACKETS'
  | 'ERR_TOO_MANY_DEVICES'
  | 'ERR_BAD_FIELD'
  | 'ERR_UNEXPECTED_MESSAGE'
  | 'ERR_DUPLICATE_SEQNUM'
  | 'ERR_UNKNOWN_SEQNUM'
  | 'ERR_BAD_DESCRIPTOR'
  | 'ERR_TRUNCATED'
  | 'ERR_IMPORT_REFUSED'
  | 'ERR_CLOSED'
  | 'ERR_ABORTED'
  | 'ERR_TIMEOUT'

export type ErrorOrigin = 'local' | 'remote'

export class UsbipError extends Error {
  readonly code: UsbipErrorCode
  readonly origin: ErrorOrigin
  readonly details: Readonly<Record<string, unknown>>

  constructor(
    code: UsbipErrorCode,
    message: string,
    options: { origin?: ErrorOrigin; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'UsbipError'
    this.code = code
    this.origin = options.origin ?? 'remote'
    this.details = options.details ?? {}
  }
}

/** The peer sent bytes that violate the protocol. */
export function protocolError(
  code: UsbipErrorCode,
  message: string,
  details: Record<string, unknown> = {},
): UsbipError {
  return new UsbipError(code, message, { origin: 'remote', details })
}

export function isUsbipError(err: unknown): err is UsbipError {
  return err instanceof UsbipError
}
