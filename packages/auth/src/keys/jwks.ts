/**
 * The hub's JWKS document (RFC 7517 §5): the public halves of its signing keys, newest first. The
 * hub builds it with publicJwks; exporters accept one only through parseJwks, which is strict
 * because whatever it lets through decides who can mint capability tokens.
 */
import { AuthError } from '../errors.js'
import { ed25519Thumbprint, isBase64Url32, type PublicJwk, publicJwkFor } from './jwk.js'
import type { SigningKey } from './signing-key.js'

export interface Jwks {
  readonly keys: readonly PublicJwk[]
}

/** A hub has one key, two during a rotation; far more means something is wrong upstream. */
export const MAX_JWKS_KEYS = 16

/** The JWKS for `keys` (newest first, duplicates dropped). Publish every key whose tokens may be live. */
export function publicJwks(keys: readonly SigningKey[]): Jwks {
  const seen = new Set<string>()
  const out: PublicJwk[] = []
  for (const key of [...keys].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())) {
    if (seen.has(key.kid)) continue
    seen.add(key.kid)
    out.push(key.publicJwk)
  }
  return { keys: out }
}

/**
 * Validate an untrusted JWKS: only OKP/Ed25519 signature keys, each with kid = its RFC 7638
 * thumbprint (so a kid cannot be made to point at another key), no private members, no duplicates.
 * Any violation rejects the whole document (ERR_KEY_INVALID): a half-good JWKS is a hub problem.
 */
export async function parseJwks(value: unknown): Promise<Jwks> {
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { keys?: unknown }).keys)) {
    throw invalid('it is not an object with a "keys" array')
  }
  const raw = (value as { keys: unknown[] }).keys
  if (raw.length === 0) throw invalid('it has no keys')
  if (raw.length > MAX_JWKS_KEYS) throw invalid(`it has ${raw.length} keys, more than ${MAX_JWKS_KEYS}`)
  const keys: PublicJwk[] = []
  const kids = new Set<string>()
  for (const [i, entry] of raw.entries()) {
    const key = await parseKey(entry, i)
    if (kids.has(key.kid)) throw invalid(`kid ${key.kid} appears twice`)
    kids.add(key.kid)
    keys.push(key)
  }
  return { keys }
}

async function parseKey(entry: unknown, index: number): Promise<PublicJwk> {
  if (typeof entry !== 'object' || entry === null) throw invalid(`keys[${index}] is not an object`)
  const jwk = entry as Record<string, unknown>
  for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
    if (secret in jwk) {
      // The hub published private material: every token it ever signed with this key is suspect.
      throw new AuthError(
        'ERR_KEY_INVALID',
        `refusing the hub's JWKS: keys[${index}] contains the private member "${secret}"; the hub is ` +
          'leaking its signing key — rotate it (generate a new one) and publish only public keys',
        { details: { index, member: secret } },
      )
    }
  }
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') {
    throw invalid(`keys[${index}] is kty ${String(jwk.kty)} crv ${String(jwk.crv)}; only OKP Ed25519 is used`)
  }
  if (!isBase64Url32(jwk.x)) throw invalid(`keys[${index}].x is not a 32-byte base64url Ed25519 key`)
  if (typeof jwk.kid !== 'string' || jwk.kid === '') throw invalid(`keys[${index}] has no kid`)
  const thumbprint = await ed25519Thumbprint(jwk.x)
  if (jwk.kid !== thumbprint) {
    throw invalid(`keys[${index}].kid ${jwk.kid} is not the key's RFC 7638 thumbprint ${thumbprint}`)
  }
  if (jwk.alg !== undefined && jwk.alg !== 'EdDSA') throw invalid(`keys[${index}].alg is ${String(jwk.alg)}`)
  if (jwk.use !== undefined && jwk.use !== 'sig') throw invalid(`keys[${index}].use is ${String(jwk.use)}`)
  return publicJwkFor(jwk.x, jwk.kid)
}

function invalid(why: string): AuthError {
  return new AuthError(
    'ERR_KEY_INVALID',
    `refusing the hub's JWKS: ${why}; the exporter keeps its previous copy — check the hub's signing keys`,
    { details: { why } },
  )
}
