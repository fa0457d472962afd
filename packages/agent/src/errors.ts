/** The importer's errors: one class, a stable `code`, the fix in the message. */
export type AgentErrorCode =
  | 'ERR_UNREACHABLE'
  | 'ERR_NOT_FOUND'
  | 'ERR_AMBIGUOUS'
  | 'ERR_BAD_TARGET'
  | 'ERR_NOT_ATTACHED'
  | 'ERR_BAD_REQUEST'
  | 'ERR_AGENT_UNAVAILABLE'
  /** The agent's socket exists but this user may not use it (not in its --group). */
  | 'ERR_AGENT_DENIED'
  | 'ERR_ABORTED'
  /** A hub with [auth]: the user holds no lease on the place. */
  | 'ERR_NO_LEASE'
  /** A hub with [auth]: the lease an attachment ran under is over (kicked, returned, expired). */
  | 'ERR_LEASE_ENDED'
  /** The hub refused or failed a request (its code is in the message). */
  | 'ERR_HUB'

export class AgentError extends Error {
  readonly code: AgentErrorCode
  readonly details: Readonly<Record<string, unknown>>

  constructor(
    code: AgentErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AgentError'
    this.code = code
    this.details = options.details ?? {}
  }
}

export function isAgentError(err: unknown): err is AgentError {
  return err instanceof AgentError
}
