/**
 * The one error class of @tether/identity. `code` is stable (the CLI and tests switch on it); the
 * message is for a human and always says what to do next.
 */
export type IdentityErrorCode =
  | 'ERR_LOGIN_CANCELLED'
  | 'ERR_LOGIN_DENIED'
  | 'ERR_LOGIN_TIMEOUT'
  | 'ERR_IDP_UNREACHABLE'
  | 'ERR_IDP_ERROR'
  | 'ERR_TOKEN_CMD_FAILED'
  | 'ERR_NOT_LOGGED_IN'
  | 'ERR_REFRESH_FAILED'
  | 'ERR_STORE'

export class IdentityError extends Error {
  override readonly name = 'IdentityError'
  readonly code: IdentityErrorCode

  constructor(code: IdentityErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

export function isIdentityError(err: unknown, code?: IdentityErrorCode): err is IdentityError {
  return err instanceof IdentityError && (code === undefined || err.code === code)
}

/** A one-line description of any thrown value, for wrapping it into an IdentityError message. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : ''
    return `${err.message}${cause}`
  }
  return String(err)
}
