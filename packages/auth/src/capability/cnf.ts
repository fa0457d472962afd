/**
 * Proof-of-possession binding (RFC 7800 `cnf`): a token names the importer's Ed25519 public key,
 * and an exporter honours it only on a connection whose noise handshake authenticated that very key.
 * A token copied to another peer is therefore useless to it.
 */
import { timingSafeEqual } from 'node:crypto'
import { AuthError } from '../errors.js'
import { fromBase64Url32, isBase64Url32, toBase64Url } from '../keys/jwk.js'

export interface CapabilityCnf {
  readonly jwk: { readonly kty: 'OKP'; readonly crv: 'Ed25519'; readonly x: string }
}

/** Structurally a libp2p PeerId (or anything with its public key); avoids depending on libp2p here. */
export interface PeerLike {
  readonly publicKey?: { readonly type: string; readonly raw: Uint8Array } | undefined
}

/**
 * The `cnf` claim for a peer: give its PeerId (libp2p Ed25519 PeerIds embed the key, see
 * `peerIdFromString(id)`) or the raw 32-byte Ed25519 public key. Other key types cannot be bound.
 */
export function cnfForPeer(peer: PeerLike | Uint8Array): CapabilityCnf {
  const raw =
    peer instanceof Uint8Array ? peer : peer.publicKey?.type === 'Ed25519' ? peer.publicKey.raw : undefined
  if (raw === undefined || raw.byteLength !== 32) {
    const type =
      peer instanceof Uint8Array ? `${peer.byteLength}-byte key` : (peer.publicKey?.type ?? 'no key')
    throw new AuthError(
      'ERR_KEY_INVALID',
      `cannot bind a capability to this peer (${type}): tokens bind only Ed25519 peers; ` +
        'the importer must use an Ed25519 libp2p identity',
      { details: { type } },
    )
  }
  return { jwk: { kty: 'OKP', crv: 'Ed25519', x: toBase64Url(raw) } }
}

/** Whether `cnf` (already shape-checked) names exactly `remotePublicKey`. */
export function cnfMatches(cnf: CapabilityCnf, remotePublicKey: Uint8Array): boolean {
  if (remotePublicKey.byteLength !== 32 || !isBase64Url32(cnf.jwk.x)) return false
  return timingSafeEqual(fromBase64Url32(cnf.jwk.x), remotePublicKey)
}

/** Parse an untrusted `cnf` claim; undefined when it is missing or not an Ed25519 OKP JWK. */
export function parseCnf(value: unknown): CapabilityCnf | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const jwk = (value as { jwk?: unknown }).jwk
  if (typeof jwk !== 'object' || jwk === null) return undefined
  const { kty, crv, x } = jwk as Record<string, unknown>
  if (kty !== 'OKP' || crv !== 'Ed25519' || !isBase64Url32(x)) return undefined
  return { jwk: { kty, crv, x } }
}
