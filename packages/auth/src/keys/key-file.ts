/**
 * File handling for key material, on @tether/config's owner-only files: permission-checked reads,
 * exclusive 0600 creation for secrets, and atomic replacement (temp file + rename) for the JWKS
 * cache. Every failure is ERR_KEY_IO.
 */
import { ConfigFileError, createProtectedFile, readProtectedFile, replaceProtectedFile } from '@tether/config'
import { AuthError } from '../errors.js'

/** Far larger than any single JWK or a JWKS of a few rotated keys; a bigger file is not ours. */
const MAX_KEY_FILE = 64 * 1024

/**
 * Read a key file, or undefined when it does not exist. A secret may be read or written by its
 * owner alone (fix: chmod 600); public material (`othersMayRead`) may be read by anyone but
 * written by its owner alone (fix: chmod go-w), or others could plant a key.
 */
export async function readKeyFile(
  path: string,
  what: string,
  options: { othersMayRead?: boolean } = {},
): Promise<string | undefined> {
  try {
    const bytes = await readProtectedFile(path, { ...options, maxBytes: MAX_KEY_FILE })
    return bytes?.toString('utf8')
  } catch (err) {
    throw keyFileError(err, what)
  }
}

/**
 * Create `path` with `text`, mode 0600, never clobbering. Returns false when `path` already
 * existed (a concurrent creator won).
 */
export async function createSecretFile(path: string, text: string, what: string): Promise<boolean> {
  try {
    return await createProtectedFile(path, text)
  } catch (err) {
    throw keyFileError(err, what)
  }
}

/** Replace `path` atomically: readers see the old content or the new, never a torn file. */
export async function replaceFile(path: string, text: string, what: string, mode: number): Promise<void> {
  try {
    await replaceProtectedFile(path, text, { mode })
  } catch (err) {
    throw keyFileError(err, what)
  }
}

function keyFileError(err: unknown, what: string): unknown {
  if (!(err instanceof ConfigFileError)) return err
  const { path } = err
  switch (err.problem) {
    case 'not-a-file':
      return new AuthError('ERR_KEY_IO', `${what} ${path} is not a regular file; remove it`, {
        details: { path },
      })
    case 'permissions':
      return new AuthError(
        'ERR_KEY_IO',
        `${what} ${path} has mode 0${err.mode!.toString(8)}, open to other users; run \`${err.fix}\``,
        { details: { path, mode: err.mode } },
      )
    case 'owner':
      return new AuthError(
        'ERR_KEY_IO',
        `${what} ${path} belongs to uid ${err.uid}, not this process's user; remove it or run as its owner`,
        { details: { path, uid: err.uid } },
      )
    case 'too-large':
      return new AuthError('ERR_KEY_IO', `${what} ${path} is ${err.size} bytes, too large to be ours`, {
        details: { path, size: err.size },
      })
    case 'io':
      return new AuthError(
        'ERR_KEY_IO',
        `cannot ${err.action} ${what} ${path}: ${err.errno ?? String(err.cause)}; check the path and its directory permissions`,
        { details: { path, errno: err.errno }, cause: err.cause },
      )
  }
}
