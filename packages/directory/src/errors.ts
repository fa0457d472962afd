/**
 * One error base for the package. `code` is stable for `switch`; `origin` says whether the hub
 * refused or broke the protocol ('remote') or we were misused / could not act ('local').
 */
export type DirectoryErrorCode =
  /** The exporter name is held by another live peer. */
  | 'ERR_NAME_TAKEN'
  /** The hub does not let this peer register under that name (not enrolled). */
  | 'ERR_NOT_ADMITTED'
  /** Refresh for a peer the hub holds no registration of. */
  | 'ERR_NOT_REGISTERED'
  /** The hub holds as many registrations as it may. */
  | 'ERR_DIRECTORY_FULL'
  | 'ERR_BAD_REGISTRATION'
  | 'ERR_BAD_QUERY'
  /** The hub multiaddr lacks /p2p/<hubPeerId>. */
  | 'ERR_BAD_HUB_ADDRESS'
  /** The hub answered with a response that does not fit the request. */
  | 'ERR_BAD_RESPONSE'
  | 'ERR_HUB_UNREACHABLE'
  /** The hub failed internally, or answered with a code this version does not know. */
  | 'ERR_HUB_ERROR'
  | 'ERR_ABORTED'

export type ErrorOrigin = 'local' | 'remote'

export class DirectoryError extends Error {
  readonly code: DirectoryErrorCode
  readonly origin: ErrorOrigin
  readonly details: Readonly<Record<string, unknown>>

  constructor(
    code: DirectoryErrorCode,
    message: string,
    options: { origin?: ErrorOrigin; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'DirectoryError'
    this.code = code
    this.origin = options.origin ?? 'remote'
    this.details = options.details ?? {}
  }
}

export function isDirectoryError(err: unknown): err is DirectoryError {
  return err instanceof DirectoryError
}

/** Codes a hub may put in a DirectoryFailure; anything else reads as ERR_HUB_ERROR. */
export const WIRE_ERROR_CODES: readonly DirectoryErrorCode[] = [
  'ERR_NAME_TAKEN',
  'ERR_NOT_ADMITTED',
  'ERR_NOT_REGISTERED',
  'ERR_DIRECTORY_FULL',
  'ERR_BAD_REGISTRATION',
  'ERR_BAD_QUERY',
  'ERR_HUB_ERROR',
]
