import type { ConfigIssue } from '@tether/config'

/**
 * One error base for the package. `code` is stable for `switch`; the message names the file or
 * option at fault and the fix.
 */
export type ExporterErrorCode =
  /** places.toml is not valid TOML or does not match the schema (see `issues`). */
  | 'ERR_CONFIG'
  /** The configuration asks for something a later release will do (serial, host USB). */
  | 'ERR_NOT_SUPPORTED'
  /** No hub address: neither --hub nor [hub].address. */
  | 'ERR_NO_HUB'
  /** startExporter with neither `auth` nor `openMode: true`. */
  | 'ERR_OPEN_MODE_REQUIRED'
  /** Presenting the join token to the hub failed. */
  | 'ERR_ENROLL'
  /** A configured device could not be built (e.g. a missing disk image). */
  | 'ERR_DEVICE'
  /** The on-disk list of ended leases is damaged or unreadable. */
  | 'ERR_REVOCATIONS'

/** One problem in a configuration file, at a key path such as `place[1].part[0].name`. */
export type { ConfigIssue }

export class ExporterError extends Error {
  readonly code: ExporterErrorCode
  readonly details: Readonly<Record<string, unknown>>
  /** For ERR_CONFIG: every problem found, in file order. */
  readonly issues: readonly ConfigIssue[]

  constructor(
    code: ExporterErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; issues?: readonly ConfigIssue[]; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ExporterError'
    this.code = code
    this.details = options.details ?? {}
    this.issues = options.issues ?? []
  }
}

export function isExporterError(err: unknown): err is ExporterError {
  return err instanceof ExporterError
}
