import * as oidc from 'openid-client'
import type { Credentials } from './credentials.js'
import type { Fetch } from './deps.js'
import { discover } from './discovery.js'
import { IdentityError } from './errors.js'
import { wrapGrantError } from './oauth-errors.js'
import { credentialsFromTokens } from './token-response.js'

export interface RefreshOptions {
  fetch?: Fetch
}

/** New tokens from the refresh token; keeps the old refresh token when the IdP does not rotate it. */
export async function refresh(credentials: Credentials, options: RefreshOptions = {}): Promise<Credentials> {
  if (!credentials.refreshToken) {
    throw new IdentityError(
      'ERR_REFRESH_FAILED',
      `no refresh token is stored for ${credentials.issuer}; run tether login again (the IdP must grant offline_access)`,
    )
  }
  const config = await discover({
    issuer: credentials.issuer,
    clientId: credentials.clientId,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  })
  try {
    const tokens = await oidc.refreshTokenGrant(config, credentials.refreshToken)
    return credentialsFromTokens(tokens, {
      method: credentials.method,
      issuer: credentials.issuer,
      clientId: credentials.clientId,
      previous: credentials,
    })
  } catch (err) {
    const wrapped = wrapGrantError(err, credentials.issuer, 'refreshing the tokens')
    if (wrapped.code === 'ERR_IDP_UNREACHABLE') throw wrapped
    throw new IdentityError(
      'ERR_REFRESH_FAILED',
      `the IdP would not refresh the session (${wrapped.message}); run tether login again`,
      { cause: err },
    )
  }
}
