import * as oidc from 'openid-client'
import { loginDeadline } from './abort.js'
import type { Credentials } from './credentials.js'
import {
  type Clock,
  type Fetch,
  type Logger,
  realSleep,
  type Sleep,
  silentLogger,
  systemClock,
} from './deps.js'
import { discover } from './discovery.js'
import { IdentityError } from './errors.js'
import { oauthErrorCode, wrapGrantError } from './oauth-errors.js'
import { DEFAULT_SCOPES } from './scopes.js'
import { credentialsFromTokens } from './token-response.js'

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

export interface DevicePrompt {
  verificationUri: string
  userCode: string
  /** The verification URI with the code filled in, when the IdP offers one (good for a QR code). */
  verificationUriComplete?: string
  expiresInS: number
}

export interface DeviceLoginOptions {
  issuer: string
  clientId: string
  scopes?: readonly string[]
  /** Tells the user where to go and which code to enter. */
  onPrompt: (verificationUri: string, userCode: string, prompt: DevicePrompt) => void
  signal?: AbortSignal
  /** Upper bound on the whole login; the IdP's `expires_in` also applies. Default 15 minutes. */
  timeoutMs?: number
  fetch?: Fetch
  clock?: Clock
  sleep?: Sleep
  logger?: Logger
}

/**
 * OAuth 2.0 device authorization grant (RFC 8628) for machines without a browser: the user
 * approves on another device while we poll the token endpoint, waiting `interval` seconds
 * between polls (5 when the IdP names none) and 5 more after each `slow_down`.
 */
export async function loginWithDeviceCode(options: DeviceLoginOptions): Promise<Credentials> {
  const clock = options.clock ?? systemClock
  const sleep = options.sleep ?? realSleep
  const logger = options.logger ?? silentLogger
  const deadline = loginDeadline(options.signal, options.timeoutMs ?? 15 * 60_000, 'the device login')
  const config = await discover({
    issuer: options.issuer,
    clientId: options.clientId,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  })
  const issuer = config.serverMetadata().issuer
  if (!config.serverMetadata().device_authorization_endpoint) {
    throw new IdentityError(
      'ERR_IDP_ERROR',
      `${issuer} does not offer the device authorization grant; log in with the browser instead (drop --device)`,
    )
  }
  let started: oidc.DeviceAuthorizationResponse
  try {
    started = await oidc.initiateDeviceAuthorization(config, {
      scope: (options.scopes ?? DEFAULT_SCOPES).join(' '),
    })
  } catch (err) {
    throw wrapGrantError(err, issuer, 'starting the device login')
  }
  options.onPrompt(started.verification_uri, started.user_code, {
    verificationUri: started.verification_uri,
    userCode: started.user_code,
    ...(started.verification_uri_complete
      ? { verificationUriComplete: started.verification_uri_complete }
      : {}),
    expiresInS: started.expires_in,
  })
  const expiresAt = clock.now() + started.expires_in * 1000
  let intervalS = started.interval ?? 5
  for (;;) {
    try {
      await sleep(intervalS * 1000, deadline.signal)
    } catch (err) {
      throw deadline.check(err) ?? err
    }
    if (clock.now() >= expiresAt) {
      throw new IdentityError(
        'ERR_LOGIN_TIMEOUT',
        `the device code expired before it was approved; run tether login --device again and enter the new code within ${started.expires_in} s`,
      )
    }
    try {
      const tokens = await oidc.genericGrantRequest(config, DEVICE_GRANT, {
        device_code: started.device_code,
      })
      return credentialsFromTokens(tokens, { method: 'device', issuer, clientId: options.clientId })
    } catch (err) {
      const code = oauthErrorCode(err)
      if (code === 'authorization_pending') continue
      if (code === 'slow_down') {
        intervalS += 5
        logger.debug(`login: the IdP asked to slow down; polling every ${intervalS} s`)
        continue
      }
      throw deadline.check(err) ?? wrapGrantError(err, issuer, 'the device login')
    }
  }
}
