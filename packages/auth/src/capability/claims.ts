/**
 * The capability token's claims and their shape check. Used both when the hub signs (so it never
 * mints a token exporters would refuse) and when an exporter verifies (after the signature).
 */
import { AuthError } from '../errors.js'
import { type CapabilityCnf, parseCnf } from './cnf.js'
import { isRight, type Right } from './rights.js'

export interface CapabilityClaims {
  /** The hub that issued the token. */
  readonly iss: string
  /** The user the lease belongs to. */
  readonly sub: string
  /** The exporter's PeerId string: a token is good at exactly one exporter. */
  readonly aud: string
  readonly place: string
  /** The parts of the place the token covers (board names, consoles …). */
  readonly parts: readonly string[]
  readonly rights: readonly Right[]
  /** Lease start / end, and issue time: NumericDate seconds. */
  readonly nbf: number
  readonly exp: number
  readonly iat: number
  /** Token id (for revocation of this token). */
  readonly jti: string
  /** Reservation id (for revocation of every token of a lease). */
  readonly rid: string
  /** The importer's key (RFC 7800); see cnf.ts. */
  readonly cnf: CapabilityCnf
}

/** Leases are renewed by reissuing; a day bounds the damage of a token that leaked anyway. */
export const DEFAULT_MAX_LIFETIME_S = 24 * 60 * 60

const MAX_STRING = 256
const MAX_PARTS = 64

/**
 * Check an untrusted payload is a well-formed capability: ERR_TOKEN_MALFORMED for missing or
 * mistyped registered claims, ERR_TOKEN_CLAIMS for bad rights/parts/place, ERR_TOKEN_BINDING for a
 * missing or unusable cnf. Returns a copy holding only the known claims.
 */
export function parseClaims(payload: unknown): CapabilityClaims {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw malformed('the payload is not a JSON object')
  }
  const p = payload as Record<string, unknown>
  const iss = requireString(p, 'iss')
  const sub = requireString(p, 'sub')
  if (Array.isArray(p.aud)) throw malformed('aud is an array; a capability names exactly one exporter PeerId')
  const aud = requireString(p, 'aud')
  const jti = requireString(p, 'jti')
  const rid = requireString(p, 'rid')
  const nbf = requireTime(p, 'nbf')
  const exp = requireTime(p, 'exp')
  const iat = requireTime(p, 'iat')
  const place = p.place
  if (typeof place !== 'string' || place === '' || place.length > MAX_STRING) {
    throw badClaims(`place must be a non-empty string of at most ${MAX_STRING} characters`, { jti })
  }
  const parts = parseParts(p.parts, jti)
  const rights = parseRights(p.rights, jti)
  const cnf = parseCnf(p.cnf)
  if (!cnf) {
    throw new AuthError(
      'ERR_TOKEN_BINDING',
      `capability ${jti} has no usable cnf (RFC 7800 {jwk: {kty: OKP, crv: Ed25519, x}}), so it is not ` +
        "bound to the importer's key; refusing a bearer token — the hub must bind tokens with cnfForPeer",
      { details: { jti } },
    )
  }
  return { iss, sub, aud, place, parts, rights, nbf, exp, iat, jti, rid, cnf }
}

/**
 * The span a token can be used over: from the earlier of issue and start to expiry. Throws
 * ERR_TOKEN_LIFETIME when it is empty or longer than `maxLifetimeS`.
 */
export function checkLifetime(claims: CapabilityClaims, maxLifetimeS: number): void {
  const from = Math.min(claims.iat, claims.nbf)
  const span = claims.exp - from
  if (claims.exp <= claims.nbf || span > maxLifetimeS) {
    throw new AuthError(
      'ERR_TOKEN_LIFETIME',
      `capability ${claims.jti} spans ${span} s (iat ${claims.iat}, nbf ${claims.nbf}, exp ${claims.exp}); ` +
        `tokens must end after they start and live at most ${maxLifetimeS} s — the hub must issue ` +
        'shorter tokens and renew them',
      { details: { jti: claims.jti, iat: claims.iat, nbf: claims.nbf, exp: claims.exp, maxLifetimeS } },
    )
  }
}

function parseParts(value: unknown, jti: string): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_PARTS) {
    throw badClaims(`parts must be an array of 1 to ${MAX_PARTS} part names`, { jti })
  }
  const seen = new Set<string>()
  for (const part of value) {
    if (typeof part !== 'string' || part === '' || part.length > MAX_STRING) {
      throw badClaims(`parts contains ${JSON.stringify(part)}, not a non-empty string`, { jti })
    }
    if (seen.has(part)) throw badClaims(`parts lists ${JSON.stringify(part)} twice`, { jti })
    seen.add(part)
  }
  return [...seen]
}

function parseRights(value: unknown, jti: string): Right[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw badClaims('rights must be a non-empty array of usb.attach, serial.rw, serial.ro, power', { jti })
  }
  const seen = new Set<Right>()
  for (const right of value) {
    if (!isRight(right)) {
      throw badClaims(
        `rights contains ${JSON.stringify(right)}, not one of usb.attach, serial.rw, serial.ro, power`,
        { jti },
      )
    }
    if (seen.has(right)) throw badClaims(`rights lists ${right} twice`, { jti })
    seen.add(right)
  }
  return [...seen]
}

function requireString(p: Record<string, unknown>, name: string): string {
  const value = p[name]
  if (typeof value !== 'string' || value === '' || value.length > MAX_STRING) {
    throw malformed(`claim ${name} must be a non-empty string of at most ${MAX_STRING} characters`)
  }
  return value
}

function requireTime(p: Record<string, unknown>, name: string): number {
  const value = p[name]
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw malformed(`claim ${name} must be a NumericDate (whole seconds since the epoch)`)
  }
  return value
}

function malformed(why: string): AuthError {
  return new AuthError(
    'ERR_TOKEN_MALFORMED',
    `capability token is malformed: ${why}; the issuer is not a compatible tether hub`,
    {
      details: { why },
    },
  )
}

function badClaims(why: string, details: Record<string, unknown>): AuthError {
  return new AuthError(
    'ERR_TOKEN_CLAIMS',
    `capability ${String(details.jti)} has invalid scope claims: ${why}; the hub's policy produced a bad grant`,
    { details: { ...details, why } },
  )
}
