import type { Credentials } from './credentials.js'
import { type Clock, type Fetch, type Logger, silentLogger, systemClock } from './deps.js'
import { IdentityError } from './errors.js'
import { refresh as refreshWithToken } from './refresh.js'
import type { CredentialStore } from './store/store.js'
import { loginWithTokenCommand, type TokenCommandOptions } from './token-command.js'

export interface CurrentTokenOptions {
  /** Refresh when the ID token expires within this many seconds. Default 60. */
  refreshSkewS?: number
  clock?: Clock
  fetch?: Fetch
  logger?: Logger
  /** Swappable for tests; default: the refresh token grant, or re-running the token command. */
  renew?: (credentials: Credentials) => Promise<Credentials>
  tokenCommand?: Omit<TokenCommandOptions, 'clock'>
}

function notLoggedIn(key: string, why: string): IdentityError {
  return new IdentityError('ERR_NOT_LOGGED_IN', `${why}; run tether login ${key}`)
}

/**
 * A valid ID token for `key` (the hub), renewing it first when it expires within the skew: with the
 * refresh token, or by running the stored token command again. The renewed credentials are stored.
 */
export async function currentToken(
  store: CredentialStore,
  key: string,
  options: CurrentTokenOptions = {},
): Promise<string> {
  const clock = options.clock ?? systemClock
  const logger = options.logger ?? silentLogger
  const skewS = options.refreshSkewS ?? 60
  const credentials = await store.get(key)
  if (!credentials) throw notLoggedIn(key, `you are not logged in to ${key}`)
  const nowS = clock.now() / 1000
  if (credentials.expiresAt - nowS > skewS) return credentials.idToken

  const renew =
    options.renew ??
    ((c: Credentials): Promise<Credentials> => {
      if (c.tokenCommand) return loginWithTokenCommand(c.tokenCommand, { ...options.tokenCommand, clock })
      if (c.refreshToken) return refreshWithToken(c, options.fetch ? { fetch: options.fetch } : {})
      throw notLoggedIn(key, `your session with ${key} has expired and there is no refresh token to renew it`)
    })
  logger.debug(
    `credentials: the ID token for ${key} expires in ${Math.round(credentials.expiresAt - nowS)} s; renewing`,
  )
  let renewed: Credentials
  try {
    renewed = await renew(credentials)
  } catch (err) {
    // Unreachable IdP but the token is still valid for a little while: use it rather than fail.
    if (credentials.expiresAt > nowS && err instanceof IdentityError && err.code === 'ERR_IDP_UNREACHABLE') {
      logger.warn(
        `credentials: could not renew the session with ${key} (${err.message}); using the current token`,
      )
      return credentials.idToken
    }
    throw err
  }
  await store.set(key, renewed)
  return renewed.idToken
}
