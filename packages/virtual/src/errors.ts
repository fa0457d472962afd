/**
 * Errors this package throws at its boundary (bad device specs, unusable disk images).
 * `code` is stable for `switch`; the message says what to do about it.
 */
export type VirtualDeviceErrorCode =
  | 'ERR_BAD_DEVICE_SPEC'
  | 'ERR_DISK_NOT_FOUND'
  | 'ERR_DISK_NOT_A_FILE'
  | 'ERR_DISK_TOO_SMALL'
  | 'ERR_DISK_IO'

export class VirtualDeviceError extends Error {
  readonly code: VirtualDeviceErrorCode
  readonly details: Readonly<Record<string, unknown>>

  constructor(
    code: VirtualDeviceErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'VirtualDeviceError'
    this.code = code
    this.details = options.details ?? {}
  }
}

export function isVirtualDeviceError(err: unknown): err is VirtualDeviceError {
  return err instanceof VirtualDeviceError
}
