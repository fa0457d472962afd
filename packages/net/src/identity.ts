/**
 * A node's persistent libp2p identity: one Ed25519 private key, stored protobuf-marshalled
 * (libp2p's own key format) in a file only its owner may read (mode 0600).
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ConfigFileError, createProtectedFile, readProtectedFile } from '@tether/config'
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
  let bytes: Uint8Array | undefined
  try {
    bytes = await readProtectedFile(path, { maxBytes: MAX_IDENTITY_FILE })
  } catch (err) {
    throw identityFileError(err)
  }
  if (bytes === undefined) {
    throw new NetError('ERR_IDENTITY_IO', `identity file ${path} does not exist`, {
      origin: 'local',
      details: { path, missing: true },
    })
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
 * Write `bytes` to a new 0600 file at `path` atomically, failing rather than clobbering if `path`
 * appeared meanwhile. Returns false when `path` already existed.
 */
async function writeNewIdentityFile(path: string, bytes: Uint8Array): Promise<boolean> {
  try {
    return await createProtectedFile(path, bytes)
  } catch (err) {
    throw identityFileError(err)
  }
}

function identityFileError(err: unknown): unknown {
  if (!(err instanceof ConfigFileError)) return err
  const { path } = err
  switch (err.problem) {
    case 'not-a-file':
      return new NetError('ERR_IDENTITY_INVALID', `identity file ${path} is not a regular file; remove it`, {
        origin: 'local',
        details: { path },
      })
    case 'permissions':
      return new NetError(
        'ERR_IDENTITY_PERMISSIONS',
        `identity file ${path} has mode 0${err.mode!.toString(8)}, readable or writable by others; ` +
          `run \`${err.fix}\` (and consider the key leaked if others could read it)`,
        { origin: 'local', details: { path, mode: err.mode } },
      )
    case 'owner':
      return new NetError(
        'ERR_IDENTITY_PERMISSIONS',
        `identity file ${path} belongs to uid ${err.uid}, not this process's user; ` +
          'remove it to have a new identity generated, or run as its owner',
        { origin: 'local', details: { path, uid: err.uid } },
      )
    case 'too-large':
      return invalidContent(path, `${err.size} bytes is too large`)
    case 'io':
      return new NetError(
        'ERR_IDENTITY_IO',
        `cannot ${err.action} identity file ${path}: ${err.errno ?? String(err.cause)}`,
        { origin: 'local', details: { path, errno: err.errno }, cause: err.cause },
      )
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
