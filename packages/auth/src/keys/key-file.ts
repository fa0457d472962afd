/**
 * File handling for key material: permission-checked reads, exclusive 0600 creation for secrets,
 * and atomic replacement (temp file + rename) for the JWKS cache. Every failure is ERR_KEY_IO.
 */
import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { AuthError } from '../errors.js'

/** Far larger than any single JWK or a JWKS of a few rotated keys; a bigger file is not ours. */
const MAX_KEY_FILE = 64 * 1024

/**
 * Read a key file, or undefined when it does not exist. `forbiddenMode` are the permission bits
 * that make the file untrustworthy: 0o077 for a secret (nobody else may read or write it), 0o022 for
 * public material (nobody else may write it, or they could plant a key).
 */
export async function readKeyFile(
  path: string,
  what: string,
  forbiddenMode: number,
  fix: string,
): Promise<string | undefined> {
  let info: Awaited<ReturnType<typeof stat>>
  try {
    info = await stat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw ioError(path, what, 'stat', err)
  }
  if (!info.isFile()) {
    throw new AuthError('ERR_KEY_IO', `${what} ${path} is not a regular file; remove it`, {
      details: { path },
    })
  }
  const mode = info.mode & 0o777
  if ((mode & forbiddenMode) !== 0) {
    throw new AuthError(
      'ERR_KEY_IO',
      `${what} ${path} has mode 0${mode.toString(8)}, open to other users; run \`${fix} ${path}\``,
      { details: { path, mode } },
    )
  }
  if (info.size > MAX_KEY_FILE) {
    throw new AuthError('ERR_KEY_IO', `${what} ${path} is ${info.size} bytes, too large to be ours`, {
      details: { path, size: info.size },
    })
  }
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    throw ioError(path, what, 'read', err)
  }
}

/**
 * Create `path` with `text`, mode 0600, never clobbering: written to a temp file, fsynced, then
 * hard-linked into place. Returns false when `path` already existed (a concurrent creator won).
 */
export async function createSecretFile(path: string, text: string, what: string): Promise<boolean> {
  const dir = dirname(path)
  const tmp = tempPath(path)
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await writeSynced(tmp, text, 0o600)
    try {
      await link(tmp, path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw err
    }
    await syncDir(dir)
    return true
  } catch (err) {
    throw ioError(path, what, 'write', err)
  } finally {
    await unlink(tmp).catch(() => {})
  }
}

/** Replace `path` atomically: readers see the old content or the new, never a torn file. */
export async function replaceFile(path: string, text: string, what: string, mode: number): Promise<void> {
  const dir = dirname(path)
  const tmp = tempPath(path)
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await writeSynced(tmp, text, mode)
    await rename(tmp, path)
    await syncDir(dir)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw ioError(path, what, 'write', err)
  }
}

function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
}

async function writeSynced(path: string, text: string, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode)
  try {
    // The umask may have narrowed `mode`; set it exactly so a 0644 public file stays readable.
    await handle.chmod(mode)
    await handle.writeFile(text, 'utf8')
    await handle.sync()
  } finally {
    await handle.close()
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined)
  if (!handle) return
  try {
    await handle.sync()
  } catch {
    // Some filesystems refuse fsync on directories; the file itself is synced.
  } finally {
    await handle.close()
  }
}

function ioError(path: string, what: string, action: string, cause: unknown): AuthError {
  const errno = (cause as NodeJS.ErrnoException).code
  return new AuthError(
    'ERR_KEY_IO',
    `cannot ${action} ${what} ${path}: ${errno ?? String(cause)}; check the path and its directory permissions`,
    { details: { path, errno }, cause },
  )
}
