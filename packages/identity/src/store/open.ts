import { type Logger, silentLogger } from '../deps.js'
import { describe } from '../errors.js'
import { defaultCredentialsPath, fileStore } from './file.js'
import { keyringStore, loadSystemKeyring, probeKeyring } from './keyring.js'
import type { CredentialStore, KeytarLike } from './store.js'

export interface OpenStoreOptions {
  /** `auto` (default): the keyring when it works, else the file. From `TETHER_CREDENTIALS` when unset. */
  prefer?: 'auto' | 'keyring' | 'file'
  /** Defaults to the native keyring (`@napi-rs/keyring`). */
  keyring?: KeytarLike | (() => Promise<KeytarLike>)
  /** Defaults to `$XDG_STATE_HOME/tether/credentials.json`. */
  filePath?: string
  env?: NodeJS.ProcessEnv
  logger?: Logger
}

export interface OpenedStore {
  store: CredentialStore
  /** Set when the file was chosen because the keyring is unusable: print it once to the user. */
  notice?: string
}

/** Picks where credentials live: the OS keyring when it works, otherwise a 0600 file (and says why). */
export async function openCredentialStore(options: OpenStoreOptions = {}): Promise<OpenedStore> {
  const env = options.env ?? process.env
  const logger = options.logger ?? silentLogger
  const path = options.filePath ?? defaultCredentialsPath(env)
  const fromEnv = env.TETHER_CREDENTIALS
  const prefer = options.prefer ?? (fromEnv === 'file' || fromEnv === 'keyring' ? fromEnv : 'auto')
  if (prefer === 'file') return { store: fileStore(path) }

  let keytar: KeytarLike | undefined
  let problem: string | undefined
  try {
    const source = options.keyring ?? loadSystemKeyring
    keytar = typeof source === 'function' ? await source() : source
    problem = await probeKeyring(keytar)
  } catch (err) {
    problem = `the keyring module could not be loaded (${describe(err)})`
  }
  if (keytar && problem === undefined) return { store: keyringStore(keytar) }
  if (prefer === 'keyring') {
    // Asked for explicitly: return it anyway so the first real operation reports the failure.
    logger.warn(`credentials: the OS keyring looks unusable (${problem})`)
    return { store: keyringStore(keytar ?? brokenKeyring(problem ?? 'unknown')) }
  }
  logger.debug(`credentials: keyring unusable (${problem}); using ${path}`)
  return {
    store: fileStore(path),
    notice:
      `tether: the OS keyring is not usable here (${problem}), so your credentials are kept in ${path} ` +
      '(mode 0600, readable only by you). To use the keyring instead, run a Secret Service such as ' +
      'gnome-keyring in this session; to silence this message, set TETHER_CREDENTIALS=file.',
  }
}

function brokenKeyring(problem: string): KeytarLike {
  const fail = (): Promise<never> => Promise.reject(new Error(problem))
  return { getPassword: fail, setPassword: fail, deletePassword: fail }
}
