/** Per-stream authorisation on an exporter, against claims verifyCapability returned. */
import { AuthError } from '../errors.js'
import type { CapabilityClaims } from './claims.js'
import { IMPLIED_BY, type Right } from './rights.js'

export function hasRight(claims: CapabilityClaims, right: Right, part?: string): boolean {
  const granted = claims.rights.includes(right) || IMPLIED_BY[right].some((r) => claims.rights.includes(r))
  return granted && (part === undefined || claims.parts.includes(part))
}

/** Throw ERR_TOKEN_SCOPE unless the token grants `right` (on `part`, when given). */
export function requireRight(claims: CapabilityClaims, right: Right, part?: string): void {
  if (hasRight(claims, right, part)) return
  const missing = part !== undefined && !claims.parts.includes(part) ? `part ${JSON.stringify(part)}` : right
  throw new AuthError(
    'ERR_TOKEN_SCOPE',
    `capability ${claims.jti} does not grant ${right}${part === undefined ? '' : ` on ${JSON.stringify(part)}`} ` +
      `(rights ${claims.rights.join(', ')}; parts ${claims.parts.join(', ')}); missing ${missing} — the ` +
      'importer must reserve with that right',
    { details: { jti: claims.jti, right, part, rights: claims.rights, parts: claims.parts } },
  )
}
