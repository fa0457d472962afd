import * as oidc from 'openid-client'
import { describe, IdentityError, type IdentityErrorCode } from './errors.js'

/** The OAuth `error` code carried by an openid-client error (authorization or token endpoint), if any. */
export function oauthErrorCode(err: unknown): string | undefined {
  if (err instanceof oidc.ResponseBodyError || err instanceof oidc.AuthorizationResponseError)
    return err.error
  return undefined
}

/**
 * Maps an OAuth error code from the IdP onto our codes: the user said no, the grant ran out of
 * time, or something the IdP's operator has to look at.
 */
export function fromOAuthError(
  error: string,
  description: string | undefined,
  issuer: string,
): IdentityError {
  const detail = description ? `${error}: ${description}` : error
  let code: IdentityErrorCode = 'ERR_IDP_ERROR'
  let fix = 'check the client registration at the IdP, then run tether login again'
  if (error === 'access_denied') {
    code = 'ERR_LOGIN_DENIED'
    fix =
      'the login was declined at the IdP; run tether login again and approve it, or ask the IdP admin for access'
  } else if (error === 'expired_token') {
    code = 'ERR_LOGIN_TIMEOUT'
    fix =
      'the code expired before it was approved; run tether login --device again and enter the new code sooner'
  }
  return new IdentityError(code, `${issuer} refused the login (${detail}); ${fix}`)
}

/** Wraps anything openid-client threw during a grant into an IdentityError. */
export function wrapGrantError(err: unknown, issuer: string, what: string): IdentityError {
  if (err instanceof IdentityError) return err
  if (err instanceof oidc.ResponseBodyError || err instanceof oidc.AuthorizationResponseError) {
    return fromOAuthError(err.error, err.error_description, issuer)
  }
  const unreachable = err instanceof TypeError || (err instanceof Error && err.name === 'TimeoutError')
  return new IdentityError(
    unreachable ? 'ERR_IDP_UNREACHABLE' : 'ERR_IDP_ERROR',
    `${what} at ${issuer} failed: ${describe(err)}; ${unreachable ? 'check the network path to the IdP' : 'run tether login again; if it persists, report it with this message'}`,
    { cause: err },
  )
}
