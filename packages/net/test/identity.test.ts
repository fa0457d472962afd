import assert from 'node:assert/strict'
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { loadOrCreateIdentity, readIdentity } from '../src/identity.js'

describe('persistent node identity', () => {
  let dir = ''
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-identity-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  test('creates a 0600 Ed25519 key file (and its directory) and loads the same key back', async () => {
    const path = join(dir, 'nested', 'node.key')
    const first = await loadOrCreateIdentity(path)
    assert.equal(first.created, true)
    assert.equal(first.privateKey.type, 'Ed25519')
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.equal((await stat(join(dir, 'nested'))).mode & 0o777, 0o700)
    assert.deepEqual(await readdir(join(dir, 'nested')), ['node.key'], 'no temp file left behind')
    const second = await loadOrCreateIdentity(path)
    assert.equal(second.created, false)
    assert.equal(second.peerId.toString(), first.peerId.toString())
    assert.deepEqual(second.privateKey.raw, first.privateKey.raw)
  })

  test('refuses a file readable by others, naming chmod 600', async () => {
    const path = join(dir, 'wide.key')
    await loadOrCreateIdentity(path)
    await chmod(path, 0o644)
    await assert.rejects(loadOrCreateIdentity(path), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_IDENTITY_PERMISSIONS')
      assert.match(err.message, /chmod 600/)
      return true
    })
    await chmod(path, 0o600)
    assert.equal((await readIdentity(path)).created, false)
  })

  test('refuses garbage and non-Ed25519 keys without overwriting them', async () => {
    const garbage = join(dir, 'garbage.key')
    await writeFile(garbage, 'not a key', { mode: 0o600 })
    await assert.rejects(loadOrCreateIdentity(garbage), { code: 'ERR_IDENTITY_INVALID' })
    const secp = join(dir, 'secp.key')
    await writeFile(secp, privateKeyToProtobuf(await generateKeyPair('secp256k1')), { mode: 0o600 })
    await assert.rejects(loadOrCreateIdentity(secp), { code: 'ERR_IDENTITY_INVALID' })
    await assert.rejects(readIdentity(dir), { code: 'ERR_IDENTITY_INVALID' })
  })

  test('concurrent creation agrees on one key', async () => {
    const path = join(dir, 'race.key')
    const [a, b] = await Promise.all([loadOrCreateIdentity(path), loadOrCreateIdentity(path)])
    assert.equal(a.peerId.toString(), b.peerId.toString())
  })
})
