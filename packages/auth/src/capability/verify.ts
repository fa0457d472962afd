/**
 * The exporter's side: decide whether a presented capability token authorises the peer presenting
 * it. Entirely offline (keys come from the cached JWKS); each refusal has its own AuthError code and
 * a message fit for the log. Checks run cheapest and least-trusting first: header, signature,
 * then claims, binding, revocation.
 */
import { type CryptoKey, compactVerify, errors as joseErrors } from 'jose'
import { AuthError, isAuthError } from '../errors.js'
import type { KeyResolver } from '../keys/resolver.js'
import { type CapabilityClaims, checkLifetime, DEFAULT_MAX_LIFETIME_S, parseClaims } from './claims.js'
import { cnfMatches } from './cnf.js'
import { parseHeader } from './header.js'

export const DEFAULT_CLOCK_TOLERANCE_S = 5

export interface VerifyCapabilityOptions {
  /** kid → hub public key, e.g. the exporter's JwksCache. */
  readonly keys: KeyResolver
  /** The hub's issuer string this exporter trusts. */
  readonly issuer: string
  /** This exporter's own PeerId string. */
  readonly audience: string
  /** Raw 32-byte Ed25519 public key of the remote peer, as authenticated by the noise handshake. */
  readonly remotePublicKey: Uint8Array
  /** When the request is for a specific place, the token must be for that place. */
  readonly place?: string
  readonly now?: () => Date
  readonly clockToleranceS?: number
  /** Tokens that span longer are refused (ERR_TOKEN_LIFETIME). */
  readonly maxLifetimeS?: number
  /** Revocation by token id or by reservation id. Required: an exporter must decide how it learns of revocations. */
  readonly isRevoked: (jti: string, rid: string) => boolean | Promise<boolean>
}

export async function verifyCapability(
  token: unknown,
  options: VerifyCapabilityOptions,
): Promise<CapabilityClaims> {
  const { kid } = parseHeader(token)
  const claims = parseClaims(await verifySignature(token as string, kid, options.keys))
  const log = { jti: claims.jti, rid: claims.rid, sub: claims.sub, kid }

  if (claims.iss !== options.issuer) {
    throw new AuthError(
      'ERR_TOKEN_ISSUER',
      `capability ${claims.jti} was issued by ${JSON.stringify(claims.iss)}, not this exporter's hub ` +
        `${JSON.stringify(options.issuer)}; the importer must get its token from the hub this exporter trusts`,
      { details: { ...log, iss: claims.iss, expected: options.issuer } },
    )
  }
  if (claims.aud !== options.audience) {
    throw new AuthError(
      'ERR_TOKEN_AUDIENCE',
      `capability ${claims.jti} is for exporter ${claims.aud}, not this one (${options.audience}); ` +
        'the importer must present the token issued for this exporter',
      { details: { ...log, aud: claims.aud, expected: options.audience } },
    )
  }
  checkLifetime(claims, options.maxLifetimeS ?? DEFAULT_MAX_LIFETIME_S)
  checkTime(claims, options, log)
  if (!(options.remotePublicKey.byteLength === 32 && cnfMatches(claims.cnf, options.remotePublicKey))) {
    throw new AuthError(
      'ERR_TOKEN_BINDING',
      `capability ${claims.jti} is bound to another peer's key (cnf x ${claims.cnf.jwk.x}), not the ` +
        "connected peer's: the token was copied or replayed — only the peer it was issued to may use it",
      { details: { ...log, cnf: claims.cnf.jwk.x } },
    )
  }
  if (options.place !== undefined && claims.place !== options.place) {
    throw new AuthError(
      'ERR_TOKEN_PLACE',
      `capability ${claims.jti} is for place ${JSON.stringify(claims.place)}, not ${JSON.stringify(options.place)}; ` +
        'the importer must reserve this place and use the token issued for it',
      { details: { ...log, place: claims.place, expected: options.place } },
    )
  }
  if (await options.isRevoked(claims.jti, claims.rid)) {
    throw new AuthError(
      'ERR_TOKEN_REVOKED',
      `capability ${claims.jti} (reservation ${claims.rid}) has been revoked by the hub; the lease is over — ` +
        'the importer must make a new reservation',
      { details: log },
    )
  }
  return claims
}

function checkTime(
  claims: CapabilityClaims,
  options: VerifyCapabilityOptions,
  log: Record<string, unknown>,
): void {
  const now = Math.floor((options.now?.() ?? new Date()).getTime() / 1000)
  const tolerance = options.clockToleranceS ?? DEFAULT_CLOCK_TOLERANCE_S
  if (claims.exp <= now - tolerance) {
    throw new AuthError(
      'ERR_TOKEN_EXPIRED',
      `capability ${claims.jti} expired at ${iso(claims.exp)} (now ${iso(now)}); the importer must renew its lease`,
      { details: { ...log, exp: claims.exp, now } },
    )
  }
  const startsAt = Math.max(claims.nbf, claims.iat)
  if (startsAt > now + tolerance) {
    throw new AuthError(
      'ERR_TOKEN_NOT_YET_VALID',
      `capability ${claims.jti} is not valid before ${iso(startsAt)} (now ${iso(now)}); wait for the ` +
        "lease to start, or fix this exporter's clock if it is behind",
      { details: { ...log, nbf: claims.nbf, iat: claims.iat, now } },
    )
  }
}

/** Check the signature with the key the header names, EdDSA only; returns the decoded payload. */
async function verifySignature(token: string, kid: string, keys: KeyResolver): Promise<unknown> {
  let key: CryptoKey
  try {
    key = await keys.resolve(kid)
  } catch (err) {
    if (isAuthError(err)) throw err
    throw new AuthError('ERR_JWKS_UNAVAILABLE', `cannot look up hub key ${kid}: ${String(err)}`, {
      details: { kid },
      cause: err,
    })
  }
  let payload: Uint8Array
  try {
    // algorithms pins EdDSA a second time, and `key` is an Ed25519 CryptoKey that jose will not use as
    // an HMAC secret: two independent guards against algorithm confusion.
    ;({ payload } = await compactVerify(token, key, { algorithms: ['EdDSA'] }))
  } catch (err) {
    if (err instanceof joseErrors.JOSEAlgNotAllowed) {
      throw new AuthError(
        'ERR_TOKEN_ALGORITHM',
        'capability token algorithm refused; only EdDSA is accepted',
        {
          details: { kid },
          cause: err,
        },
      )
    }
    if (err instanceof joseErrors.JWSInvalid) {
      throw new AuthError('ERR_TOKEN_MALFORMED', `capability token is malformed: ${(err as Error).message}`, {
        details: { kid },
        cause: err,
      })
    }
    throw new AuthError(
      'ERR_TOKEN_SIGNATURE',
      `capability token signature does not verify with hub key ${kid}: it was tampered with or forged; ` +
        'treat the presenting peer as hostile',
      { details: { kid }, cause: err },
    )
  }
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload))
  } catch (err) {
    throw new AuthError('ERR_TOKEN_MALFORMED', 'capability token payload is not UTF-8 JSON', {
      details: { kid },
      cause: err,
    })
  }
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString()
}
