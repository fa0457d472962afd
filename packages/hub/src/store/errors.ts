/** Errors of the reservation store, with a stable `code`. */
export type StoreErrorCode =
  /** The database was written by a newer tether (its schema version is unknown here). */
  | 'ERR_SCHEMA_TOO_NEW'
  /** A commit failed: the engine is ahead of the store; restart from the store. */
  | 'ERR_STORE_FAILED'

export class StoreError extends Error {
  readonly code: StoreErrorCode
  readonly origin = 'local' as const
  readonly details: Readonly<Record<string, unknown>>

  constructor(
    code: StoreErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'StoreError'
    this.code = code
    this.details = options.details ?? {}
  }
}
