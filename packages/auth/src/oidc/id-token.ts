/**
 * The hub's check of who is asking: an OpenID Connect ID token (or a CI job's OIDC token, or a
 * service account's client-credentials access token) from one of the issuers hub.toml trusts,
 * verified against that issuer's published keys. Discovery documents and key sets are fetched
 * once and cached (jose refreshes the key set on an unknown `kid`, rate-limited). A token that
 * verified is remembered until it expires (a client sends the same one with every request; the
 * signature check is most of a request's cost), in a bounded cache.
 */
import { createRemoteJWKSet, customFetch, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose'
import { AuthError } from '../errors.js'

export interface TrustedIssuer {
  /** The issuer URL exactly as in the tokens' `iss` (https; http only on loopback, for tests). */
  readonly url: string
  /**
   * Accepted `aud` values: the client ids tether's CLI and CI use at this issuer, and, for service
   * accounts' client-credentials access tokens (RFC 9068, `typ: at+jwt`), the hub's resource
   * indicator (e.g. `urn:tether:hub`, hub.toml `audience`). The `aud` check is what separates them:
   * an access token is accepted only when its resource is listed here.
   */
  readonly audiences: readonly string[]
}

export interface IdTokenVerifierOptions {
  readonly issuers: readonly TrustedIssuer[]
  /** Injected for tests: the clock (ms) and fetch. */
  readonly now?: () => number
  readonly fetch?: typeof globalThis.fetch
  readonly clockToleranceS?: number
  readonly timeoutMs?: number
  /** Verified tokens remembered at most (default 4096; 0: none). */
  readonly cacheSize?: number
}

export interface VerifiedIdentity {
  readonly issuer: string
  readonly subject: string
  readonly claims: Readonly<JWTPayload & Record<string, unknown>>
  readonly expiresAt: number
}

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA']

export class IdTokenVerifier {
  private readonly keySets = new Map<string, Promise<ReturnType<typeof createRemoteJWKSet>>>()
  /** Token → its verified identity; Map order is least recently verified first. */
  private readonly verified = new Map<string, VerifiedIdentity>()
  private readonly now: () => number
  private readonly fetch: typeof globalThis.fetch

  constructor(private readonly options: IdTokenVerifierOptions) {
    for (const issuer of options.issuers) checkIssuerUrl(issuer.url)
    this.now = options.now ?? Date.now
    this.fetch = options.fetch ?? globalThis.fetch
  }

  async verify(token: string): Promise<VerifiedIdentity> {
    const known = this.verified.get(token)
    if (known) {
      // Only expiry can change a verified token's verdict.
      if (this.now() <= known.expiresAt + 1000 * this.tolerance) return known
      this.verified.delete(token)
    }
    const identity = await this.verifyNow(token)
    this.remember(token, identity)
    return identity
  }

  private get tolerance(): number {
    return this.options.clockToleranceS ?? 30
  }

  private remember(token: string, identity: VerifiedIdentity): void {
    const size = this.options.cacheSize ?? 4096
    if (size <= 0) return
    this.verified.set(token, identity)
    if (this.verified.size > size) this.verified.delete(this.verified.keys().next().value as string)
  }

  private async verifyNow(token: string): Promise<VerifiedIdentity> {
    const issuer = this.issuerOf(token)
    const keys = await this.keySet(issuer.url)
    try {
      const { payload } = await jwtVerify(token, keys, {
        issuer: issuer.url,
        audience: [...issuer.audiences],
        algorithms: ALGORITHMS,
        currentDate: new Date(this.now()),
        clockTolerance: this.tolerance,
        requiredClaims: ['sub', 'exp', 'iat'],
      })
      return {
        issuer: issuer.url,
        subject: payload.sub as string,
        claims: Object.freeze({ ...payload }),
        expiresAt: (payload.exp as number) * 1000,
      }
    } catch (err) {
      throw fromJose(err, issuer.url)
    }
  }

  /** The trusted issuer the token claims; its signature is checked after, against that issuer's keys. */
  private issuerOf(token: string): TrustedIssuer {
    let iss: unknown
    try {
      const payload = token.split('.')[1]
      if (payload === undefined) throw new Error('not a JWT')
      iss = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')).iss
    } catch (err) {
      throw new AuthError(
        'ERR_TOKEN_MALFORMED',
        'the login token is not a JWT; log in again (tether login)',
        {
          cause: err,
        },
      )
    }
    const issuer = this.options.issuers.find((i) => i.url === iss)
    if (!issuer) {
      throw new AuthError(
        'ERR_TOKEN_ISSUER',
        `tokens from ${JSON.stringify(iss)} are not trusted by this hub; trusted: ${this.options.issuers.map((i) => i.url).join(', ') || 'none'}`,
        { details: { issuer: iss } },
      )
    }
    return issuer
  }

  private keySet(issuerUrl: string): Promise<ReturnType<typeof createRemoteJWKSet>> {
    let keys = this.keySets.get(issuerUrl)
    if (!keys) {
      keys = this.discover(issuerUrl)
      this.keySets.set(issuerUrl, keys)
      // A failed discovery is retried by the next request, not cached.
      keys.catch(() => this.keySets.delete(issuerUrl))
    }
    return keys
  }

  private async discover(issuerUrl: string): Promise<ReturnType<typeof createRemoteJWKSet>> {
    const where = `${issuerUrl.replace(/\/$/, '')}/.well-known/openid-configuration`
    let document: { issuer?: unknown; jwks_uri?: unknown }
    try {
      const response = await this.fetch(where, {
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      })
      if (!response.ok) throw new Error(`HTTP ${response.status}`)
      document = (await response.json()) as typeof document
    } catch (err) {
      throw new AuthError(
        'ERR_JWKS_UNAVAILABLE',
        `cannot read ${where}: ${(err as Error).message}; check the issuer url in hub.toml and that the hub can reach it`,
        { cause: err, details: { issuer: issuerUrl } },
      )
    }
    if (document.issuer !== issuerUrl || typeof document.jwks_uri !== 'string') {
      throw new AuthError(
        'ERR_JWKS_UNAVAILABLE',
        `${where} names issuer ${JSON.stringify(document.issuer)} and jwks_uri ${JSON.stringify(document.jwks_uri)}; the issuer must be exactly ${issuerUrl}`,
        { details: { issuer: issuerUrl } },
      )
    }
    checkIssuerUrl(document.jwks_uri)
    return createRemoteJWKSet(new URL(document.jwks_uri), {
      timeoutDuration: this.options.timeoutMs ?? 10_000,
      [customFetch]: this.fetch,
    })
  }
}

function checkIssuerUrl(text: string): void {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new AuthError('ERR_POLICY_CONFIG', `issuer url ${JSON.stringify(text)} is not a URL`)
  }
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname)
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new AuthError(
      'ERR_POLICY_CONFIG',
      `issuer url ${text} must be https (plain http is accepted only on loopback, for tests)`,
    )
  }
}

function fromJose(err: unknown, issuer: string): AuthError {
  const details = { issuer }
  if (err instanceof AuthError) return err
  if (err instanceof joseErrors.JWTExpired) {
    return new AuthError('ERR_TOKEN_EXPIRED', 'your login has expired; run tether login again', {
      cause: err,
      details,
    })
  }
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    const code =
      err.claim === 'aud'
        ? 'ERR_TOKEN_AUDIENCE'
        : err.claim === 'nbf'
          ? 'ERR_TOKEN_NOT_YET_VALID'
          : 'ERR_TOKEN_MALFORMED'
    return new AuthError(code, `login token refused: ${err.message} (claim ${err.claim})`, {
      cause: err,
      details,
    })
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) {
    return new AuthError('ERR_TOKEN_ALGORITHM', `login token refused: ${err.message}`, {
      cause: err,
      details,
    })
  }
  if (
    err instanceof joseErrors.JWSSignatureVerificationFailed ||
    err instanceof joseErrors.JWKSNoMatchingKey
  ) {
    return new AuthError(
      'ERR_TOKEN_SIGNATURE',
      `login token refused: the signature does not verify (${err.message})`,
      {
        cause: err,
        details,
      },
    )
  }
  if (err instanceof joseErrors.JWKSTimeout || !(err instanceof joseErrors.JOSEError)) {
    return new AuthError(
      'ERR_JWKS_UNAVAILABLE',
      `cannot fetch the keys of ${issuer}: ${(err as Error).message}`,
      {
        cause: err,
        details,
      },
    )
  }
  return new AuthError('ERR_TOKEN_MALFORMED', `login token refused: ${(err as Error).message}`, {
    cause: err,
    details,
  })
}
