import type * as oidc from 'openid-client'
import type { Credentials, LoginMethod } from './credentials.js'
import { IdentityError } from './errors.js'
import { decodeClaims } from './jwt.js'

/** Turns a token endpoint response into stored credentials; an OpenID Provider must return an ID token. */
export function credentialsFromTokens(
  tokens: oidc.TokenEndpointResponse,
  context: { method: LoginMethod; issuer: string; clientId: string; previous?: Credentials },
): Credentials {
  const idToken = tokens.id_token ?? undefined
  if (!idToken) {
    throw new IdentityError(
      'ERR_IDP_ERROR',
      `${context.issuer} returned no ID token; request the "openid" scope and check the client is an OpenID Connect client at the IdP`,
    )
  }
  const exp = decodeClaims(idToken).exp
  if (typeof exp !== 'number') {
    throw new IdentityError(
      'ERR_IDP_ERROR',
      `the ID token from ${context.issuer} has no "exp" claim; fix the IdP's token settings`,
    )
  }
  const refreshToken = tokens.refresh_token ?? context.previous?.refreshToken
  return {
    version: 1,
    method: context.method,
    issuer: context.issuer,
    clientId: context.clientId,
    idToken,
    expiresAt: exp,
    accessToken: tokens.access_token,
    ...(refreshToken ? { refreshToken } : {}),
    ...(tokens.scope
      ? { scope: tokens.scope }
      : context.previous?.scope
        ? { scope: context.previous.scope }
        : {}),
  }
}
