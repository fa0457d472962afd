import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { keyringStore } from '../src/store/keyring.js'
import { openCredentialStore } from '../src/store/open.js'
import type { KeytarLike } from '../src/store/store.js'
import { credentialsExpiringAt } from './helpers.js'

function workingKeyring(): KeytarLike & { data: Map<string, string> } {
  const data = new Map<string, string>()
  return {
    data,
    getPassword: async (s, a) => data.get(`${s}/${a}`) ?? null,
    setPassword: async (s, a, p) => {
      data.set(`${s}/${a}`, p)
    },
    deletePassword: async (s, a) => data.delete(`${s}/${a}`),
  }
}

/** What a headless Linux box looks like: reads return null, writes fail. */
const headlessKeyring: KeytarLike = {
  getPassword: async () => null,
  setPassword: async () => {
    throw new Error("Couldn't access platform storage: AccessDenied")
  },
  deletePassword: async () => false,
}

describe('choosing the credential store', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-identity-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  test('a keyring that works is used, and the probe leaves nothing behind', async () => {
    const keyring = workingKeyring()
    const { store, notice } = await openCredentialStore({ keyring, filePath: join(dir, 'c.json'), env: {} })
    assert.equal(store.kind, 'keyring')
    assert.equal(notice, undefined)
    assert.equal(keyring.data.size, 0)
    const creds = await credentialsExpiringAt(2_000_000_000)
    await store.set('https://hub.a', creds)
    assert.ok(keyring.data.has('tether/https://hub.a'), 'service "tether", account = the hub')
    assert.deepEqual(await store.get('https://hub.a'), creds)
  })

  test('an unusable keyring falls back to the 0600 file with a notice saying where and why', async () => {
    const filePath = join(dir, 'fallback.json')
    const { store, notice } = await openCredentialStore({ keyring: headlessKeyring, filePath, env: {} })
    assert.equal(store.kind, 'file')
    assert.equal(store.location, filePath)
    assert.ok(notice)
    assert.match(notice, new RegExp(filePath))
    assert.match(notice, /AccessDenied/)
    assert.match(notice, /0600/)
    await store.set('k', await credentialsExpiringAt(2_000_000_000))
    assert.ok(await store.get('k'))
  })

  test('a keyring module that cannot load falls back too', async () => {
    const { store, notice } = await openCredentialStore({
      keyring: async () => {
        throw new Error('no native binding for this platform')
      },
      filePath: join(dir, 'c2.json'),
      env: {},
    })
    assert.equal(store.kind, 'file')
    assert.match(notice ?? '', /no native binding/)
  })

  test('TETHER_CREDENTIALS=file skips the keyring and the notice', async () => {
    let probed = false
    const { store, notice } = await openCredentialStore({
      keyring: async () => {
        probed = true
        return workingKeyring()
      },
      filePath: join(dir, 'c3.json'),
      env: { TETHER_CREDENTIALS: 'file' },
    })
    assert.equal(store.kind, 'file')
    assert.equal(notice, undefined)
    assert.equal(probed, false)
  })

  test('keyring errors surface as ERR_STORE naming the way out', async () => {
    const store = keyringStore(headlessKeyring)
    await assert.rejects(store.set('k', await credentialsExpiringAt(1)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_STORE')
      assert.match(err.message, /TETHER_CREDENTIALS=file/)
      return true
    })
  })
})
