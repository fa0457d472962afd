import { IdentityError } from './errors.js'

/**
 * A signal that aborts on the caller's signal or after `timeoutMs`, and a function that turns the
 * resulting abort into ERR_LOGIN_CANCELLED or ERR_LOGIN_TIMEOUT.
 */
export function loginDeadline(
  signal: AbortSignal | undefined,
  timeoutMs: number,
  what: string,
): { signal: AbortSignal; check(err: unknown): IdentityError | undefined } {
  const timeout = AbortSignal.timeout(timeoutMs)
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout
  return {
    signal: combined,
    check(err) {
      if (err instanceof IdentityError) return err
      if (signal?.aborted) {
        return new IdentityError(
          'ERR_LOGIN_CANCELLED',
          `${what} was cancelled; run tether login again when ready`,
          {
            cause: err,
          },
        )
      }
      if (timeout.aborted) {
        return new IdentityError(
          'ERR_LOGIN_TIMEOUT',
          `${what} did not complete within ${Math.round(timeoutMs / 1000)} s; run tether login again and finish it in the browser sooner`,
          { cause: err },
        )
      }
      return undefined
    },
  }
}
