import * as oidc from 'openid-client'
import type { Fetch } from './deps.js'
import { describe, IdentityError } from './errors.js'

export interface DiscoverOptions {
  issuer: string
  clientId: string
  fetch?: Fetch
  /** Per-request timeout towards the IdP. Default 30 s. */
  timeoutS?: number
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost'])

/**
 * Whether plain http is acceptable for this issuer: only on loopback (tests, a developer's local
 * IdP). openid-client 6 refuses http unless `allowInsecureRequests` is applied; we apply it for
 * loopback issuers only, never for a remote one.
 */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)
}

/** OpenID Connect discovery of `issuer` for a public client (PKCE, device grant: no client secret). */
export async function discover(options: DiscoverOptions): Promise<oidc.Configuration> {
  let issuer: URL
  try {
    issuer = new URL(options.issuer)
  } catch (err) {
    throw new IdentityError(
      'ERR_IDP_UNREACHABLE',
      `"${options.issuer}" is not a URL; pass the OpenID Provider's issuer URL (https://…)`,
      { cause: err },
    )
  }
  const execute = isLoopbackHttp(issuer) ? [oidc.allowInsecureRequests] : []
  const discoveryOptions: oidc.DiscoveryRequestOptions = { execute, timeout: options.timeoutS ?? 30 }
  if (options.fetch) discoveryOptions[oidc.customFetch] = options.fetch as oidc.CustomFetch
  try {
    return await oidc.discovery(issuer, options.clientId, undefined, oidc.None(), discoveryOptions)
  } catch (err) {
    throw new IdentityError(
      'ERR_IDP_UNREACHABLE',
      `could not read the OpenID configuration of ${issuer.href}: ${describe(err)}; check the issuer URL and that the IdP is reachable from this machine`,
      { cause: err },
    )
  }
}
