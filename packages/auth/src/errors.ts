/** Authorization errors: one class, a stable `code`, a message that says what was wrong and the fix. */
export type AuthErrorCode =
  // capability tokens
  | 'ERR_TOKEN_MALFORMED'
  | 'ERR_TOKEN_ALGORITHM'
  | 'ERR_TOKEN_SIGNATURE'
  | 'ERR_TOKEN_ISSUER'
  | 'ERR_TOKEN_AUDIENCE'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_NOT_YET_VALID'
  | 'ERR_TOKEN_REVOKED'
  | 'ERR_TOKEN_BINDING'
  | 'ERR_TOKEN_SCOPE'
  | 'ERR_TOKEN_MISSING'
  | 'ERR_TOKEN_TYPE'
  | 'ERR_TOKEN_CLAIMS'
  | 'ERR_TOKEN_LIFETIME'
  | 'ERR_TOKEN_PLACE'
  // keys
  | 'ERR_KEY_IO'
  | 'ERR_KEY_INVALID'
  | 'ERR_JWKS_UNAVAILABLE'
  // policy
  | 'ERR_POLICY_CONFIG'
  | 'ERR_PERMISSION_DENIED'
  | 'ERR_PRIORITY_CAP'
  | 'ERR_LEASE_TOO_LONG'
  /** hub.toml has no [auth] and the hub was not started with its explicit insecure flag. */
  | 'ERR_POLICY_NO_AUTH'
  /** The principal already holds max_reservations reservations. */
  | 'ERR_RESERVATION_LIMIT'

export class AuthError extends Error {
  readonly code: AuthErrorCode
  readonly details: Readonly<Record<string, unknown>>

  constructor(
    code: AuthErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AuthError'
    this.code = code
    this.details = options.details ?? {}
  }
}

export function isAuthError(err: unknown): err is AuthError {
  return err instanceof AuthError
}
