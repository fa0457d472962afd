import * as oidc from 'openid-client'
import { loginDeadline } from './abort.js'
import type { Credentials } from './credentials.js'
import { type Fetch, type Logger, silentLogger } from './deps.js'
import { discover } from './discovery.js'
import { describe } from './errors.js'
import { type Callback, startLoopbackReceiver } from './loopback.js'
import { fromOAuthError, wrapGrantError } from './oauth-errors.js'
import { DEFAULT_SCOPES } from './scopes.js'
import { credentialsFromTokens } from './token-response.js'

export interface BrowserLoginOptions {
  issuer: string
  clientId: string
  scopes?: readonly string[]
  /**
   * Shows the authorization URL to the user: opens a browser, prints it, or (tests) drives one. Called
   * once, not awaited (the redirect may arrive before it settles); a rejection is logged with the URL.
   */
  openUrl: (url: string) => Promise<void> | void
  signal?: AbortSignal
  /** Default 5 minutes. */
  timeoutMs?: number
  /** Extra authorization request parameters (e.g. `login_hint`, `audience` some IdPs want). */
  extraParams?: Record<string, string>
  fetch?: Fetch
  logger?: Logger
}

/**
 * Authorization code + PKCE (S256) with a loopback redirect (RFC 8252): the browser comes back to
 * a listener on 127.0.0.1 at a port of the kernel's choosing; state and nonce are checked.
 */
export async function loginWithBrowser(options: BrowserLoginOptions): Promise<Credentials> {
  const logger = options.logger ?? silentLogger
  const scopes = options.scopes ?? DEFAULT_SCOPES
  const deadline = loginDeadline(options.signal, options.timeoutMs ?? 5 * 60_000, 'the browser login')
  const config = await discover({
    issuer: options.issuer,
    clientId: options.clientId,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  })
  const issuer = config.serverMetadata().issuer
  const receiver = await startLoopbackReceiver(logger)
  try {
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    const nonce = oidc.randomNonce()
    const params: Record<string, string> = {
      redirect_uri: receiver.redirectUri,
      scope: scopes.join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      // OpenID Connect Core §11: offline_access (a refresh token) is only granted with prompt=consent.
      ...(scopes.includes('offline_access') ? { prompt: 'consent' } : {}),
      ...options.extraParams,
    }
    const url = oidc.buildAuthorizationUrl(config, params)
    // Wait for the redirect before showing the URL: a fast browser (or an IdP with a session) may come back at once.
    const arrival = receiver.next(state, deadline.signal)
    arrival.catch(() => {})
    // Not awaited: an opener may only return once the page it opened has loaded, which is our answer.
    Promise.resolve()
      .then(() => options.openUrl(url.href))
      .catch((err: unknown) => {
        logger.warn(`login: could not open a browser (${describe(err)}); open this URL yourself: ${url.href}`)
      })
    let callback: Callback
    try {
      callback = await arrival
    } catch (err) {
      throw deadline.check(err) ?? err
    }
    const error = callback.url.searchParams.get('error')
    if (error) {
      const failure = fromOAuthError(
        error,
        callback.url.searchParams.get('error_description') ?? undefined,
        issuer,
      )
      callback.respond(false, `${failure.message}. You can close this tab.`)
      throw failure
    }
    try {
      const tokens = await oidc.authorizationCodeGrant(config, callback.url, {
        pkceCodeVerifier: verifier,
        expectedState: state,
        expectedNonce: nonce,
        idTokenExpected: true,
      })
      const credentials = credentialsFromTokens(tokens, {
        method: 'browser',
        issuer,
        clientId: options.clientId,
      })
      callback.respond(
        true,
        'You are logged in to tether. You can close this tab and return to the terminal.',
      )
      return credentials
    } catch (err) {
      const failure = wrapGrantError(err, issuer, 'exchanging the authorization code')
      callback.respond(false, `${failure.message}. You can close this tab.`)
      throw failure
    }
  } finally {
    await receiver.close()
  }
}
