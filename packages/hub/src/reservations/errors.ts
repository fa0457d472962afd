/** Errors of the reservation engine, with a stable `code` for `switch` and for the wire. */
export type ReservationErrorCode =
  /** No known place satisfies the request (spec or tags/parts), or the named place lacks them. */
  | 'ERR_NO_MATCH'
  /** Unknown lease, queue entry, grant or place. */
  | 'ERR_NOT_FOUND'
  /** The lease asked about is over (returned, kicked, revoked, expired) or never was. */
  | 'ERR_LEASE_ENDED'
  /** The lease or queue entry belongs to another user. */
  | 'ERR_NOT_HOLDER'
  /** A renewal would not extend the lease (max total, max renewals, a grant ahead, contention). */
  | 'ERR_RENEW_DENIED'
  /** The place (or every place that matches) is in maintenance. */
  | 'ERR_MAINTENANCE'
  /** The wait queue holds as many entries as it may. */
  | 'ERR_QUEUE_FULL'
  /** Nothing is free now and the request asked not to wait. */
  | 'ERR_BUSY'
  /** A malformed request: bad priority, durations, window, spec. */
  | 'ERR_BAD_REQUEST'

export class ReservationError extends Error {
  readonly code: ReservationErrorCode
  readonly origin = 'local' as const
  readonly details: Readonly<Record<string, unknown>>

  constructor(
    code: ReservationErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ReservationError'
    this.code = code
    this.details = options.details ?? {}
  }
}

export function isReservationError(err: unknown): err is ReservationError {
  return err instanceof ReservationError
}
