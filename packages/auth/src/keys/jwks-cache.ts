/**
 * The exporter's copy of the hub's JWKS. Kept in a file so an exporter that restarts while the hub
 * is unreachable still verifies tokens offline; replaced atomically (temp file + rename) so a crash
 * mid-update leaves the old copy, never a torn one. Fetching is the caller's job: hand new
 * documents to update().
 */
import { type CryptoKey, importJWK } from 'jose'
import { AuthError } from '../errors.js'
import { type Jwks, parseJwks } from './jwks.js'
import { readKeyFile, replaceFile } from './key-file.js'
import type { KeyResolver } from './resolver.js'

const WHAT = 'JWKS cache file'

export class JwksCache implements KeyResolver {
  readonly #path: string | undefined
  #jwks: Jwks | undefined
  #imported = new Map<string, Promise<CryptoKey>>()
  /** Serialises update() so the file and memory always end with the same (last) document. */
  #writing: Promise<unknown> = Promise.resolve()

  private constructor(path: string | undefined, jwks: Jwks | undefined) {
    this.#path = path
    this.#jwks = jwks
  }

  /**
   * Open the cache persisted at `path` (empty when the file does not exist yet). A file others can
   * write is refused — whoever can edit it can mint tokens — as is one that fails validation.
   */
  static async open(path: string): Promise<JwksCache> {
    const text = await readKeyFile(path, WHAT, { othersMayRead: true })
    if (text === undefined) return new JwksCache(path, undefined)
    let jwks: Jwks
    try {
      jwks = await parseJwks(JSON.parse(text))
    } catch (err) {
      throw new AuthError(
        'ERR_KEY_INVALID',
        `${WHAT} ${path} is corrupt (${(err as Error).message}); delete it and let the exporter fetch the ` +
          "hub's JWKS again",
        { details: { path }, cause: err },
      )
    }
    return new JwksCache(path, jwks)
  }

  /** A cache that is never persisted (tests, or a hub verifying its own tokens). */
  static async inMemory(jwks?: unknown): Promise<JwksCache> {
    return new JwksCache(undefined, jwks === undefined ? undefined : await parseJwks(jwks))
  }

  /** The current document, or undefined before the first update. */
  get jwks(): Jwks | undefined {
    return this.#jwks
  }

  /**
   * Validate `jwks` and make it the current copy, on disk first (mode 0644) then in memory. On any
   * error the previous copy stays in force.
   */
  update(jwks: unknown): Promise<void> {
    const run = this.#writing.then(async () => {
      const parsed = await parseJwks(jwks)
      if (this.#path !== undefined) {
        await replaceFile(this.#path, `${JSON.stringify(parsed, null, 2)}\n`, WHAT, 0o644)
      }
      this.#jwks = parsed
      this.#imported = new Map()
    })
    this.#writing = run.catch(() => {})
    return run
  }

  resolve(kid: string): Promise<CryptoKey> {
    const jwks = this.#jwks
    if (!jwks) {
      return Promise.reject(
        new AuthError(
          'ERR_JWKS_UNAVAILABLE',
          "this exporter has no copy of the hub's JWKS yet, so it cannot verify any token; connect it to " +
            'the hub once (the JWKS is then cached for offline use)',
          { details: { kid } },
        ),
      )
    }
    const cached = this.#imported.get(kid)
    if (cached) return cached
    const jwk = jwks.keys.find((k) => k.kid === kid)
    if (!jwk) {
      return Promise.reject(
        new AuthError(
          'ERR_TOKEN_SIGNATURE',
          `token is signed with key ${kid}, which is not in this exporter's copy of the hub's JWKS ` +
            `(${jwks.keys.map((k) => k.kid).join(', ')}); the copy may be stale — refresh it from the hub — ` +
            'or the token was not issued by this hub',
          { details: { kid, known: jwks.keys.map((k) => k.kid) } },
        ),
      )
    }
    const imported = importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, 'EdDSA').then((key) => {
      if (key instanceof Uint8Array) throw new AuthError('ERR_KEY_INVALID', `key ${kid} imported as a secret`)
      return key
    })
    this.#imported.set(kid, imported)
    return imported
  }
}
