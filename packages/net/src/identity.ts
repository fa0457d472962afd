/**
 * A node's persistent libp2p identity: one Ed25519 private key, stored protobuf-marshalled
 * (libp2p's own key format) in a file only its owner may read (mode 0600).
 */
import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { NetError } from './errors.js'
import { type Logger, silentLogger } from './logger.js'

export interface Identity {
  readonly privateKey: PrivateKey
  readonly peerId: PeerId
  /** True when this call generated the key and wrote the file. */
  readonly created: boolean
}

/** Larger than any marshalled Ed25519 key (68 bytes); a bigger file is certainly not ours. */
const MAX_IDENTITY_FILE = 4096

/**
 * Load the identity at `path`, creating it (and its directory, mode 0700) when missing. Refuses a
 * file readable or writable by group/others, a non-regular file, or one that does not hold an
 * Ed25519 key, with an error naming the fix.
 */
export async function loadOrCreateIdentity(
  path: string,
  options: { logger?: Logger } = {},
): Promise<Identity> {
  const log = (options.logger ?? silentLogger).child('net:identity')
  try {
    const identity = await readIdentity(path)
    log.debug('identity loaded', { path, peerId: identity.peerId.toString() })
    return identity
  } catch (err) {
    if (!(err instanceof NetError && err.details.missing === true)) throw err
  }
  const privateKey = await generateKeyPair('Ed25519')
  const written = await writeNewIdentityFile(path, privateKeyToProtobuf(privateKey))
  if (!written) {
    // Someone else created it between our read and our write: theirs wins.
    return readIdentity(path)
  }
  const peerId = peerIdFromPrivateKey(privateKey)
  log.info('identity created', { path, peerId: peerId.toString() })
  return { privateKey, peerId, created: true }
}

/** Read an existing identity file (same checks as loadOrCreateIdentity, never creates). */
export async function readIdentity(path: string): Promise<Identity> {
  let info: Awaited<ReturnType<typeof stat>>
  try {
    info = await stat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NetError('ERR_IDENTITY_IO', `identity file ${path} does not exist`, {
        origin: 'local',
        details: { path, missing: true },
        cause: err,
      })
    }
    throw ioError(path, 'stat', err)
  }
  if (!info.isFile()) {
    throw new NetError('ERR_IDENTITY_INVALID', `identity file ${path} is not a regular file; remove it`, {
      origin: 'local',
      details: { path },
    })
  }
  const mode = info.mode & 0o777
  if ((mode & 0o077) !== 0) {
    throw new NetError(
      'ERR_IDENTITY_PERMISSIONS',
      `identity file ${path} has mode 0${mode.toString(8)}, readable or writable by others; ` +
        `run \`chmod 600 ${path}\` (and consider the key leaked if others could read it)`,
      { origin: 'local', details: { path, mode } },
    )
  }
  if (info.size > MAX_IDENTITY_FILE) throw invalidContent(path, `${info.size} bytes is too large`)
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw ioError(path, 'read', err)
  }
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw invalidContent(path, (err as Error).message, err)
  }
  if (privateKey.type !== 'Ed25519') throw invalidContent(path, `key type ${privateKey.type}, not Ed25519`)
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey), created: false }
}

/**
 * Write `bytes` to a new file at `path` atomically: a 0600 temp file in the same directory,
 * fsynced, then hard-linked into place (fails rather than clobbers if `path` appeared meanwhile).
 * Returns false when `path` already existed.
 */
async function writeNewIdentityFile(path: string, bytes: Uint8Array): Promise<boolean> {
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const handle = await open(tmp, 'wx', 0o600)
    try {
      await handle.writeFile(bytes)
      await handle.sync()
    } finally {
      await handle.close()
    }
    try {
      await link(tmp, path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw err
    }
    await syncDir(dir)
    return true
  } catch (err) {
    throw ioError(path, 'write', err)
  } finally {
    await unlink(tmp).catch(() => {})
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

function invalidContent(path: string, why: string, cause?: unknown): NetError {
  return new NetError(
    'ERR_IDENTITY_INVALID',
    `identity file ${path} does not hold a libp2p Ed25519 private key (${why}); ` +
      'move it away to have a new identity generated (peers will see a new peer id)',
    { origin: 'local', details: { path }, cause },
  )
}

function ioError(path: string, action: string, cause: unknown): NetError {
  const code = (cause as NodeJS.ErrnoException).code
  return new NetError('ERR_IDENTITY_IO', `cannot ${action} identity file ${path}: ${code ?? String(cause)}`, {
    origin: 'local',
    details: { path, errno: code },
    cause,
  })
}
