import { decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose'

const SEGMENT = /^[A-Za-z0-9_-]+$/

/** Whether `text` has the shape of a compact JWS (three base64url parts, decodable header and claims). */
export function looksLikeJwt(text: string): boolean {
  const parts = text.split('.')
  if (parts.length !== 3 || !parts.every((p, i) => SEGMENT.test(p) || (i === 2 && p === ''))) return false
  try {
    decodeProtectedHeader(text)
    decodeJwt(text)
    return true
  } catch {
    return false
  }
}

/** The claims of a JWT, not verified: the client only reads them, the hub verifies them. */
export function decodeClaims(jwt: string): JWTPayload {
  return decodeJwt(jwt)
}
