import type { Credentials } from '../credentials.js'
import { IdentityError } from '../errors.js'

/** Checks a stored record's shape; a record from a newer or broken tether is an error, not a crash later. */
export function parseCredentials(value: unknown, where: string): Credentials {
  const v = value as Partial<Credentials> | null
  if (
    !v ||
    typeof v !== 'object' ||
    v.version !== 1 ||
    typeof v.idToken !== 'string' ||
    typeof v.issuer !== 'string' ||
    typeof v.expiresAt !== 'number'
  ) {
    throw new IdentityError(
      'ERR_STORE',
      `the credentials in ${where} are not in a format this tether understands; run tether logout, then tether login`,
    )
  }
  return v as Credentials
}
