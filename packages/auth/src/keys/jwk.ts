/**
 * The one key shape tether's token keys have: an Ed25519 OKP JWK (RFC 8037) named by its RFC 7638
 * thumbprint. Shared by the hub's signing key, the JWKS it publishes and the exporter's cached copy.
 */
import { calculateJwkThumbprint } from 'jose'

/** A published (public) token-verification key, as it appears in the hub's JWKS. */
export interface PublicJwk {
  readonly kty: 'OKP'
  readonly crv: 'Ed25519'
  /** base64url of the raw 32-byte Ed25519 public key. */
  readonly x: string
  /** RFC 7638 SHA-256 thumbprint of {crv, kty, x}: stable, and checkable by anyone holding the key. */
  readonly kid: string
  readonly alg: 'EdDSA'
  readonly use: 'sig'
}

/** Unpadded base64url of exactly 32 bytes is 43 characters; the last one carries only 4 bits (…AEIMQUYcgkosw048). */
const B64URL_32 = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/

/**
 * Strict check for base64url of a 32-byte value. Buffer's decoder silently skips junk characters,
 * so a key string is checked by shape before it is decoded.
 */
export function isBase64Url32(value: unknown): value is string {
  return typeof value === 'string' && B64URL_32.test(value)
}

export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

/** Decode a value already checked with isBase64Url32. */
export function fromBase64Url32(value: string): Uint8Array {
  return new Uint8Array(Buffer.from(value, 'base64url'))
}

/** The RFC 7638 thumbprint of an Ed25519 public key given as base64url `x`. */
export function ed25519Thumbprint(x: string): Promise<string> {
  return calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x }, 'sha256')
}

export function publicJwkFor(x: string, kid: string): PublicJwk {
  return { kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' }
}
