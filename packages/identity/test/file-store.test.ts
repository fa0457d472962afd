import assert from 'node:assert/strict'
import { chmod, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { IdentityError } from '../src/errors.js'
import { defaultCredentialsPath, fileStore } from '../src/store/file.js'
import { credentialsExpiringAt } from './helpers.js'

describe('file credential store', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-identity-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  test('round-trips credentials in a 0600 file inside a 0700 directory', async () => {
    const path = join(dir, 'state', 'tether', 'credentials.json')
    const store = fileStore(path)
    assert.equal(await store.get('https://hub.a'), undefined)
    const creds = await credentialsExpiringAt(2_000_000_000)
    await store.set('https://hub.a', creds)
    await store.set('https://hub.b', { ...creds, refreshToken: 'other' })
    assert.deepEqual(await store.get('https://hub.a'), creds)
    assert.equal((await store.get('https://hub.b'))?.refreshToken, 'other')
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.equal((await stat(join(dir, 'state', 'tether'))).mode & 0o777, 0o700)
    assert.equal(await store.delete('https://hub.a'), true)
    assert.equal(await store.delete('https://hub.a'), false)
    assert.equal(await store.get('https://hub.a'), undefined)
    assert.ok(await store.get('https://hub.b'))
  })

  test('refuses a file others can read, naming the chmod that fixes it', async () => {
    const path = join(dir, 'loose.json')
    await writeFile(path, JSON.stringify({ version: 1, entries: {} }), { mode: 0o644 })
    await chmod(path, 0o644)
    await assert.rejects(fileStore(path).get('k'), (err: unknown) => {
      assert.ok(err instanceof IdentityError)
      assert.equal(err.code, 'ERR_STORE')
      assert.match(err.message, /mode 0644/)
      assert.match(err.message, new RegExp(`chmod 600 ${path}`))
      return true
    })
    await assert.rejects(fileStore(path).set('k', await credentialsExpiringAt(1)), { code: 'ERR_STORE' })
  })

  test('refuses a symlink and a file that is not JSON', async () => {
    const real = join(dir, 'real.json')
    await writeFile(real, JSON.stringify({ version: 1, entries: {} }), { mode: 0o600 })
    const link = join(dir, 'link.json')
    await symlink(real, link)
    await assert.rejects(fileStore(link).get('k'), { code: 'ERR_STORE' })
    const junk = join(dir, 'junk.json')
    await writeFile(junk, 'not json', { mode: 0o600 })
    await assert.rejects(fileStore(junk).get('k'), { code: 'ERR_STORE' })
  })

  test('lives under $XDG_STATE_HOME, or ~/.local/state without it', () => {
    assert.equal(
      defaultCredentialsPath({ XDG_STATE_HOME: '/x/state' }, '/home/u'),
      '/x/state/tether/credentials.json',
    )
    assert.equal(defaultCredentialsPath({}, '/home/u'), '/home/u/.local/state/tether/credentials.json')
    assert.equal(
      defaultCredentialsPath({ XDG_STATE_HOME: 'relative' }, '/home/u'),
      '/home/u/.local/state/tether/credentials.json',
      'a relative XDG path is ignored, as the spec says',
    )
  })
})
