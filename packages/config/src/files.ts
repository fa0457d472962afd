/**
 * Files only their owner controls: secrets (mode 0600: private keys, tokens) and public material
 * nobody else may alter (mode 0644: a cached JWKS). Reads refuse what others could have read or
 * planted; writes never leave a torn or briefly world-readable file. Failures throw
 * ConfigFileError.
 */
import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { link, mkdir, open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { ConfigFileError, ioError, octalMode } from './errors.js'

export interface ReadProtectedOptions {
  /**
   * Group and others may read it (public material); they may still never write it. Default
   * false: a secret, refused unless its mode is 0600 or narrower.
   */
  readonly othersMayRead?: boolean
  /** Refuse a larger file (default: no limit). */
  readonly maxBytes?: number
  /** Follow a symbolic link at `path` (default true); false refuses one (ELOOP, as io). */
  readonly followSymlinks?: boolean
}

/**
 * Read a file that only its owner may control, or undefined when it does not exist. Refuses a
 * file that is not regular, is owned by another user, or whose mode lets group or others read
 * (for a secret) or write it, naming the chmod that fixes it. The checks are made on the open
 * file, so the path cannot be swapped between check and read.
 */
export async function readProtectedFile(
  path: string,
  options: ReadProtectedOptions = {},
): Promise<Buffer | undefined> {
  const flags =
    constants.O_RDONLY | constants.O_NONBLOCK | (options.followSymlinks === false ? constants.O_NOFOLLOW : 0)
  let handle: Awaited<ReturnType<typeof open>>
  try {
    handle = await open(path, flags)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw ioError(path, 'read', err)
  }
  try {
    let info: Awaited<ReturnType<typeof handle.stat>>
    try {
      info = await handle.stat()
    } catch (err) {
      throw ioError(path, 'stat', err)
    }
    checkFile(path, info, options)
    try {
      return await handle.readFile()
    } catch (err) {
      throw ioError(path, 'read', err)
    }
  } finally {
    await handle.close()
  }
}

function checkFile(
  path: string,
  info: { isFile(): boolean; mode: number; uid: number; size: number },
  options: ReadProtectedOptions,
): void {
  if (!info.isFile()) {
    throw new ConfigFileError('not-a-file', path, `${path} is not a regular file; remove it`)
  }
  const mode = info.mode & 0o777
  const forbidden = options.othersMayRead ? 0o022 : 0o077
  if ((mode & forbidden) !== 0) {
    const fix = `${options.othersMayRead ? 'chmod go-w' : 'chmod 600'} ${path}`
    throw new ConfigFileError(
      'permissions',
      path,
      `${path} has mode ${octalMode(mode)}, open to other users; run \`${fix}\``,
      { mode, fix },
    )
  }
  const uid = process.getuid?.()
  if (uid !== undefined && info.uid !== uid) {
    throw new ConfigFileError('owner', path, `${path} belongs to uid ${info.uid}, not to uid ${uid}`, {
      uid: info.uid,
    })
  }
  if (options.maxBytes !== undefined && info.size > options.maxBytes) {
    throw new ConfigFileError(
      'too-large',
      path,
      `${path} is ${info.size} bytes, at most ${options.maxBytes}`,
      {
        size: info.size,
      },
    )
  }
}

/** Create `dir` and its missing parents with mode 0700 (an existing directory is left as it is). */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
}

/**
 * Create `path` holding `data` with exactly `mode` (default 0600), never clobbering: written to a
 * temp file beside it, fsynced, then hard-linked into place. Returns false when `path` already
 * existed (a concurrent creator won). Missing directories are made 0700.
 */
export async function createProtectedFile(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<boolean> {
  return writeThroughTemp(path, data, options.mode ?? 0o600, async (tmp) => {
    try {
      await link(tmp, path)
      return true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw err
    }
  })
}

/**
 * Replace (or create) `path` atomically with `data` at exactly `mode` (default 0600): readers see
 * the old content or the new, never a torn file. Missing directories are made 0700.
 */
export async function replaceProtectedFile(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  await writeThroughTemp(path, data, options.mode ?? 0o600, async (tmp) => {
    await rename(tmp, path)
    return true
  })
}

/**
 * Write `data` to a fresh temp file beside `path` (making the directory 0700 if missing), then
 * `install` it (link or rename; false when it did not take) and sync the directory. The temp file
 * never outlives the call.
 */
async function writeThroughTemp(
  path: string,
  data: string | Uint8Array,
  mode: number,
  install: (tmp: string) => Promise<boolean>,
): Promise<boolean> {
  const dir = dirname(path)
  const tmp = tempPath(path)
  try {
    await ensurePrivateDir(dir)
    await writeSynced(tmp, data, mode)
    const installed = await install(tmp)
    if (installed) await syncDir(dir)
    return installed
  } catch (err) {
    throw ioError(path, 'write', err)
  } finally {
    await unlink(tmp).catch(() => {})
  }
}

function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
}

async function writeSynced(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode)
  try {
    // The umask may have narrowed `mode`; set it exactly so a 0644 public file stays readable.
    await handle.chmod(mode)
    await handle.writeFile(data)
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
