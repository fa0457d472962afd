/** One error base for the package, with a stable `code` for `switch`. */
export type HubErrorCode =
  /** startHub() without `openMode: true`: authorization is not implemented yet. */
  | 'ERR_OPEN_MODE_REQUIRED'
  | 'ERR_BAD_CONFIG'
  /** Exporter enrollment: the join token is unknown, already used, or expired. */
  | 'ERR_JOIN_TOKEN_INVALID'
  | 'ERR_JOIN_TOKEN_USED'
  | 'ERR_JOIN_TOKEN_EXPIRED'
  /** A registration under a name that is bound to another PeerId (or to none). */
  | 'ERR_NOT_ENROLLED'

export class HubError extends Error {
  readonly code: HubErrorCode
  readonly origin = 'local' as const
  readonly details: Readonly<Record<string, unknown>>

  constructor(
    code: HubErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'HubError'
    this.code = code
    this.details = options.details ?? {}
  }
}

export function isHubError(err: unknown): err is HubError {
  return err instanceof HubError
}
