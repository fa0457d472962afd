/**
 * First look at an untrusted token, before any key is touched: is it a three-part compact JWS whose
 * protected header asks for exactly EdDSA, carries the capability `typ` and names a key? Deciding
 * the algorithm here, from a fixed allow-list and never from the token, is what defeats `alg: none`
 * and HS256-with-the-public-key forgeries.
 */
import { AuthError } from '../errors.js'
import { CAPABILITY_TYP } from './sign.js'

/** Far above any real capability (~600 bytes); stops a peer making us parse megabytes. */
export const MAX_TOKEN_LENGTH = 8 * 1024

const SEGMENT = /^[A-Za-z0-9_-]+$/

export interface TokenHeader {
  readonly kid: string
}

export function parseHeader(token: unknown): TokenHeader {
  if (typeof token !== 'string' || token === '') {
    throw new AuthError(
      'ERR_TOKEN_MISSING',
      'no capability token was presented; the importer must obtain one from the hub for this lease',
    )
  }
  if (token.length > MAX_TOKEN_LENGTH) {
    throw malformed(`it is ${token.length} characters long, more than ${MAX_TOKEN_LENGTH}`)
  }
  const segments = token.split('.')
  if (segments.length !== 3) {
    throw malformed(`it has ${segments.length} dot-separated parts, not the 3 of a compact JWS`)
  }
  const [head, payload, signature] = segments as [string, string, string]
  if (!SEGMENT.test(head) || !SEGMENT.test(payload) || !(signature === '' || SEGMENT.test(signature))) {
    throw malformed('a part is empty or not base64url (truncated or corrupted in transit?)')
  }
  let header: unknown
  try {
    header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8'))
  } catch {
    throw malformed('its protected header is not base64url-encoded JSON')
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw malformed('its protected header is not a JSON object')
  }
  const h = header as Record<string, unknown>
  if (h.alg !== 'EdDSA') {
    const alg = typeof h.alg === 'string' ? h.alg : JSON.stringify(h.alg)
    const why =
      h.alg === 'none' || h.alg === undefined
        ? 'an unsigned token (alg none)'
        : typeof h.alg === 'string' && h.alg.startsWith('HS')
          ? 'an HMAC algorithm — the signature-to-MAC key-confusion forgery'
          : 'not the hub signing algorithm'
    throw new AuthError(
      'ERR_TOKEN_ALGORITHM',
      `capability token uses alg ${alg}, ${why}; only EdDSA tokens signed by the hub are accepted — ` +
        'treat the presenting peer as hostile',
      { details: { alg } },
    )
  }
  if (h.typ !== CAPABILITY_TYP) {
    throw new AuthError(
      'ERR_TOKEN_TYPE',
      `token has typ ${JSON.stringify(h.typ)}, not ${CAPABILITY_TYP}: it is some other JWT, not a capability; ` +
        'the importer must present the capability token the hub issued for the lease',
      { details: { typ: h.typ } },
    )
  }
  if (h.crit !== undefined) {
    throw malformed(`it marks header extensions ${JSON.stringify(h.crit)} critical; capabilities use none`)
  }
  if (typeof h.kid !== 'string' || h.kid === '') {
    throw malformed('its header names no signing key (kid)')
  }
  if (signature === '') {
    throw new AuthError('ERR_TOKEN_SIGNATURE', 'capability token has an empty signature; it was not signed', {
      details: { kid: h.kid },
    })
  }
  return { kid: h.kid }
}

function malformed(why: string): AuthError {
  return new AuthError(
    'ERR_TOKEN_MALFORMED',
    `capability token is malformed: ${why}; ask the importer to fetch a fresh token from the hub`,
    { details: { why } },
  )
}
