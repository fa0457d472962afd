/**
 * The hub's token-signing key: an Ed25519 key of its own, deliberately not the hub's libp2p
 * identity, so it can be rotated (and its file guarded) without changing the hub's PeerId. Stored
 * as a private JWK (RFC 8037) in a file only its owner may read or write (mode 0600).
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { type CryptoKey, exportJWK, generateKeyPair, importJWK } from 'jose'
import { AuthError } from '../errors.js'
import { ed25519Thumbprint, isBase64Url32, type PublicJwk, publicJwkFor } from './jwk.js'
import { createSecretFile, readKeyFile } from './key-file.js'

export interface SigningKey {
  /** RFC 7638 thumbprint; goes into every token header so exporters pick the right JWKS entry. */
  readonly kid: string
  /** When the key was generated; the newest key signs (see rotation.ts). */
  readonly createdAt: Date
  /** Non-extractable: nothing downstream can leak it by exporting. */
  readonly privateKey: CryptoKey
  readonly publicJwk: PublicJwk
}

/** What the key file holds: the private JWK plus tether's `created_at` (ignored by JOSE libraries). */
interface PrivateJwkFile {
  kty: 'OKP'
  crv: 'Ed25519'
  x: string
  d: string
  kid: string
  alg: 'EdDSA'
  use: 'sig'
  created_at: string
}

const WHAT = 'token signing key file'

/** Generate a new signing key in memory (tests, or a hub that persists it itself). */
export async function generateSigningKey(options: { now?: () => Date } = {}): Promise<SigningKey> {
  return signingKeyFromFile(await generatePrivateJwk(options.now?.() ?? new Date()), 'a generated key')
}

/** Load the signing key at `path`; refuses a missing, group/world-accessible or invalid file. */
export async function loadSigningKey(path: string): Promise<SigningKey> {
  const key = await readSigningKeyFile(path)
  if (!key) {
    throw new AuthError(
      'ERR_KEY_IO',
      `${WHAT} ${path} does not exist; create it with loadOrCreateSigningKey`,
      {
        details: { path, missing: true },
      },
    )
  }
  return key
}

/**
 * Load the signing key at `path`, generating it (file 0600, directory 0700) when missing. A hub
 * calls this at start; `created` says whether exporters need the new JWKS.
 */
export async function loadOrCreateSigningKey(
  path: string,
  options: { now?: () => Date } = {},
): Promise<{ key: SigningKey; created: boolean }> {
  const existing = await readSigningKeyFile(path)
  if (existing) return { key: existing, created: false }
  const jwk = await generatePrivateJwk(options.now?.() ?? new Date())
  if (!(await createSecretFile(path, `${JSON.stringify(jwk, null, 2)}\n`, WHAT))) {
    // Another process created it between our read and our write: theirs wins.
    return { key: await loadSigningKey(path), created: false }
  }
  return { key: await signingKeyFromFile(jwk, path), created: true }
}

async function readSigningKeyFile(path: string): Promise<SigningKey | undefined> {
  const text = await readKeyFile(path, WHAT)
  if (text === undefined) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw invalid(path, 'not JSON', err)
  }
  return signingKeyFromFile(parsed, path)
}

async function generatePrivateJwk(createdAt: Date): Promise<PrivateJwkFile> {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const jwk = await exportJWK(pair.privateKey)
  if (!isBase64Url32(jwk.x) || !isBase64Url32(jwk.d)) {
    throw new AuthError('ERR_KEY_INVALID', 'the runtime generated an Ed25519 key of unexpected shape')
  }
  return {
    kty: 'OKP',
    crv: 'Ed25519',
    x: jwk.x,
    d: jwk.d,
    kid: await ed25519Thumbprint(jwk.x),
    alg: 'EdDSA',
    use: 'sig',
    created_at: createdAt.toISOString(),
  }
}

/** Validate a parsed key file: Ed25519 shape, kid = thumbprint, and `d` really belongs to `x`. */
async function signingKeyFromFile(value: unknown, source: string): Promise<SigningKey> {
  if (typeof value !== 'object' || value === null) throw invalid(source, 'not a JSON object')
  const jwk = value as Partial<Record<keyof PrivateJwkFile, unknown>>
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') {
    throw invalid(source, `kty ${String(jwk.kty)} crv ${String(jwk.crv)}, not OKP Ed25519`)
  }
  if (!isBase64Url32(jwk.x) || !isBase64Url32(jwk.d))
    throw invalid(source, 'x or d is not 32 bytes base64url')
  const kid = await ed25519Thumbprint(jwk.x)
  if (jwk.kid !== kid) throw invalid(source, `kid ${String(jwk.kid)} is not the key's thumbprint ${kid}`)
  const createdAt = new Date(typeof jwk.created_at === 'string' ? jwk.created_at : Number.NaN)
  if (Number.isNaN(createdAt.getTime())) throw invalid(source, 'created_at is missing or not a date')
  if (derivePublicX(jwk.x, jwk.d) !== jwk.x)
    throw invalid(source, 'private key d does not match public key x')
  const privateKey = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, 'EdDSA', {
    extractable: false,
  })
  if (privateKey instanceof Uint8Array) throw invalid(source, 'imported as a secret, not a private key')
  return { kid, createdAt, privateKey, publicJwk: publicJwkFor(jwk.x, kid) }
}

/** A file whose x was edited would otherwise sign tokens no published key verifies. */
function derivePublicX(x: string, d: string): string | undefined {
  try {
    const priv = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x, d }, format: 'jwk' })
    return createPublicKey(priv).export({ format: 'jwk' }).x
  } catch {
    return undefined
  }
}

function invalid(source: string, why: string, cause?: unknown): AuthError {
  return new AuthError(
    'ERR_KEY_INVALID',
    `${WHAT} ${source} does not hold a tether Ed25519 private JWK (${why}); move it away to have a new ` +
      'key generated, then give exporters the new JWKS',
    { details: { path: source }, cause },
  )
}
