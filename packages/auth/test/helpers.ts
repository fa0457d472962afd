/**
 * Shared fixtures for capability and key tests: a frozen clock, importer keys, a hub with a signing
 * key and a JWKS cache, and raw JWS assembly so tests can build attack tokens byte by byte.
 */
import assert from 'node:assert/strict'
import { createHmac, generateKeyPairSync, type KeyObject, sign as nodeSign } from 'node:crypto'
import { CompactSign } from 'jose'
import {
  type CapabilityInput,
  cnfForPeer,
  generateSigningKey,
  JwksCache,
  publicJwks,
  type SigningKey,
  type VerifyCapabilityOptions,
} from '../src/index.js'

/** 2030-01-01T00:00:00Z: every test sees the same instant. */
export const NOW_S = 1_893_456_000
export const frozen =
  (seconds = NOW_S) =>
  () =>
    new Date(seconds * 1000)

export const ISSUER = 'tether-hub:lab'
/** Exporter PeerIds as strings (verification compares them as opaque strings). */
export const EXPORTER = '12D3KooWExporterAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
export const OTHER_EXPORTER = '12D3KooWExporterBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'

export interface Ed25519Peer {
  readonly raw: Uint8Array
  readonly privateKey: KeyObject
}

/** A fresh importer identity: its raw public key is what noise would authenticate. */
export function newPeer(): Ed25519Peer {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const x = publicKey.export({ format: 'jwk' }).x
  assert.ok(x)
  return { raw: new Uint8Array(Buffer.from(x, 'base64url')), privateKey }
}

export interface Hub {
  readonly key: SigningKey
  readonly cache: JwksCache
  readonly importer: Ed25519Peer
}

export async function newHub(): Promise<Hub> {
  const key = await generateSigningKey({ now: frozen(NOW_S - 3600) })
  const cache = await JwksCache.inMemory(publicJwks([key]))
  return { key, cache, importer: newPeer() }
}

/** A valid lease: started a minute ago, ends in an hour. */
export function claimsFor(importer: Ed25519Peer, overrides: Partial<CapabilityInput> = {}): CapabilityInput {
  return {
    iss: ISSUER,
    sub: 'alice@example.org',
    aud: EXPORTER,
    place: 'lab/bench-3',
    parts: ['nucleo-f4', 'uart0'],
    rights: ['usb.attach', 'serial.rw'],
    nbf: NOW_S - 60,
    exp: NOW_S + 3600,
    iat: NOW_S - 60,
    jti: 'tok-1',
    rid: 'res-1',
    cnf: cnfForPeer(importer.raw),
    ...overrides,
  }
}

export function verifyOptions(
  hub: Hub,
  overrides: Partial<VerifyCapabilityOptions> = {},
): VerifyCapabilityOptions {
  return {
    keys: hub.cache,
    issuer: ISSUER,
    audience: EXPORTER,
    remotePublicKey: hub.importer.raw,
    now: frozen(),
    isRevoked: () => false,
    ...overrides,
  }
}

export const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

export function decodeSegment(segment: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Record<string, unknown>
}

/** Sign an arbitrary header/payload with the hub's real key, bypassing signCapability's checks. */
export function signRaw(
  payload: unknown,
  key: SigningKey,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new CompactSign(
    new TextEncoder().encode(typeof payload === 'string' ? payload : JSON.stringify(payload)),
  )
    .setProtectedHeader({ alg: 'EdDSA', typ: 'tether-cap+jwt', kid: key.kid, ...header })
    .sign(key.privateKey)
}

/** HS256 by hand: what an attacker does with the hub's public key as the HMAC secret. */
export function hs256(header: unknown, payload: unknown, secret: string | Uint8Array): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
}

/** EdDSA by hand with any Ed25519 key (e.g. a key the hub never had). */
export function ed25519Raw(header: unknown, payload: unknown, privateKey: KeyObject): string {
  const input = `${b64(header)}.${b64(payload)}`
  return `${input}.${nodeSign(null, Buffer.from(input), privateKey).toString('base64url')}`
}

/** Assert a promise rejects with an AuthError of `code` (and, optionally, a message matching `message`). */
export async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: Error & { code?: string }) => {
    assert.equal(err.name, 'AuthError', `expected an AuthError, got ${err.name}: ${err.message}`)
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`)
    if (message) assert.match(err.message, message)
    return true
  })
}
