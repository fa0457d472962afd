import { describe, IdentityError } from '../errors.js'
import { parseCredentials } from './parse.js'
import { type CredentialStore, KEYRING_SERVICE, type KeytarLike } from './store.js'

/** Loads the native keyring binding lazily, so a platform without it falls back instead of failing to import. */
export async function loadSystemKeyring(): Promise<KeytarLike> {
  const mod = (await import('@napi-rs/keyring/keytar.js')) as KeytarLike & { default?: KeytarLike }
  return mod.default ?? mod
}

function storeError(what: string, err: unknown): IdentityError {
  return new IdentityError(
    'ERR_STORE',
    `${what} the OS keyring failed: ${describe(err)}; unlock the keyring, or set TETHER_CREDENTIALS=file to keep credentials in a 0600 file`,
    { cause: err },
  )
}

/** Credentials in the OS keyring: service "tether", account = the key (hub URL), value = JSON. */
export function keyringStore(keytar: KeytarLike, service = KEYRING_SERVICE): CredentialStore {
  const location = `the OS keyring (service "${service}")`
  return {
    kind: 'keyring',
    location,
    async get(key) {
      let raw: string | null
      try {
        raw = await keytar.getPassword(service, key)
      } catch (err) {
        throw storeError('reading from', err)
      }
      if (raw === null) return undefined
      let parsed: unknown
      try {
        parsed = JSON.parse(raw)
      } catch {
        parsed = null
      }
      return parseCredentials(parsed, location)
    },
    async set(key, credentials) {
      try {
        await keytar.setPassword(service, key, JSON.stringify(credentials))
      } catch (err) {
        throw storeError('writing to', err)
      }
    },
    async delete(key) {
      try {
        return await keytar.deletePassword(service, key)
      } catch (err) {
        throw storeError('deleting from', err)
      }
    },
  }
}

/**
 * Whether the keyring really works here: a write, a read back and a delete of a probe entry (on a
 * headless Linux box without a Secret Service, reads return null and only writes fail).
 */
export async function probeKeyring(
  keytar: KeytarLike,
  service = KEYRING_SERVICE,
): Promise<string | undefined> {
  const account = `probe-${process.pid}`
  try {
    await keytar.setPassword(service, account, 'probe')
    const back = await keytar.getPassword(service, account)
    await keytar.deletePassword(service, account)
    return back === 'probe' ? undefined : 'a value written to it did not read back'
  } catch (err) {
    return describe(err)
  }
}
