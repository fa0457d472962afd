/**
 * How a verifier finds the public key a token names in its `kid` header. Returning only a CryptoKey
 * bound to Ed25519 (never raw bytes or a JWK) is deliberate: such a key cannot be reinterpreted as
 * an HMAC secret, which is the algorithm-confusion attack on JWS.
 */
import type { CryptoKey } from 'jose'

export interface KeyResolver {
  /**
   * The Ed25519 public key for `kid`. Throws AuthError ERR_TOKEN_SIGNATURE when the kid is unknown,
   * ERR_JWKS_UNAVAILABLE when there are no keys at all.
   */
  resolve(kid: string): Promise<CryptoKey>
}
