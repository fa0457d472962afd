import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  generateSigningKey,
  JwksCache,
  keysToPublish,
  loadOrCreateSigningKey,
  loadSigningKey,
  newestSigningKey,
  parseJwks,
  publicJwks,
  signCapability,
  verifyCapability,
} from '../src/index.js'
import { claimsFor, EXPORTER, frozen, ISSUER, NOW_S, newPeer, rejectsWith } from './helpers.js'

let dir = ''
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tether-auth-keys-'))
})
after(() => rm(dir, { recursive: true, force: true }))

/** RFC 7638 by hand, independent of jose: SHA-256 over the lexicographically ordered required members. */
function thumbprint(x: string): string {
  return createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest('base64url')
}

describe('hub signing key file', () => {
  test('is created 0600 in a 0700 directory, with kid = RFC 7638 thumbprint, and reloads the same', async () => {
    const path = join(dir, 'hub', 'signing.jwk')
    const first = await loadOrCreateSigningKey(path, { now: frozen() })
    assert.equal(first.created, true)
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.equal((await stat(join(dir, 'hub'))).mode & 0o777, 0o700)
    assert.deepEqual(await readdir(join(dir, 'hub')), ['signing.jwk'], 'no temp file left behind')
    assert.equal(first.key.kid, thumbprint(first.key.publicJwk.x))
    assert.equal(first.key.createdAt.getTime(), NOW_S * 1000)
    const file = JSON.parse(await readFile(path, 'utf8'))
    assert.equal(file.kty, 'OKP')
    assert.equal(file.crv, 'Ed25519')
    assert.equal(typeof file.d, 'string')
    const second = await loadOrCreateSigningKey(path)
    assert.equal(second.created, false)
    assert.equal(second.key.kid, first.key.kid)
    assert.equal((await loadSigningKey(path)).kid, first.key.kid)
  })

  test('refuses a group- or world-readable key file with ERR_KEY_IO naming chmod 600', async () => {
    const path = join(dir, 'wide.jwk')
    await loadOrCreateSigningKey(path)
    for (const mode of [0o640, 0o604, 0o660]) {
      await chmod(path, mode)
      await rejectsWith(loadSigningKey(path), 'ERR_KEY_IO', /chmod 600/)
      await rejectsWith(loadOrCreateSigningKey(path), 'ERR_KEY_IO', /chmod 600/)
    }
    await chmod(path, 0o600)
    await loadSigningKey(path)
  })

  test('a missing file → ERR_KEY_IO; a tampered one → ERR_KEY_INVALID', async () => {
    await rejectsWith(loadSigningKey(join(dir, 'absent.jwk')), 'ERR_KEY_IO', /does not exist/)
    const path = join(dir, 'tampered.jwk')
    await loadOrCreateSigningKey(path)
    const good = JSON.parse(await readFile(path, 'utf8'))
    const otherPath = join(dir, 'other.jwk')
    await loadOrCreateSigningKey(otherPath)
    const other = JSON.parse(await readFile(otherPath, 'utf8'))
    const variants = [
      { ...good, kid: 'chosen-by-me' },
      { ...good, x: other.x, kid: other.kid }, // d no longer matches x
      { ...good, crv: 'X25519' },
      { ...good, d: 'short' },
      { ...good, created_at: 'yesterday' },
    ]
    for (const variant of variants) {
      await writeFile(path, JSON.stringify(variant), { mode: 0o600 })
      await rejectsWith(loadSigningKey(path), 'ERR_KEY_INVALID')
    }
    await writeFile(path, 'not json', { mode: 0o600 })
    await rejectsWith(loadSigningKey(path), 'ERR_KEY_INVALID')
  })
})

describe('JWKS document', () => {
  test('publicJwks lists every key, newest first, public members only', async () => {
    const old = await generateSigningKey({ now: frozen(NOW_S - 86400) })
    const current = await generateSigningKey({ now: frozen() })
    const jwks = publicJwks([old, current, old])
    assert.deepEqual(
      jwks.keys.map((k) => k.kid),
      [current.kid, old.kid],
    )
    for (const key of jwks.keys) {
      assert.deepEqual(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'])
      assert.equal(key.alg, 'EdDSA')
      assert.equal(key.use, 'sig')
      assert.equal(key.crv, 'Ed25519')
      assert.equal(key.kid, thumbprint(key.x))
    }
    assert.deepEqual(await parseJwks(JSON.parse(JSON.stringify(jwks))), jwks)
  })

  test('parseJwks refuses private members, foreign key types, missing or lying kids, duplicates', async () => {
    const key = await generateSigningKey()
    const jwk = key.publicJwk
    await rejectsWith(parseJwks({ keys: [{ ...jwk, d: jwk.x }] }), 'ERR_KEY_INVALID', /private member "d"/)
    await rejectsWith(parseJwks({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'k' }] }), 'ERR_KEY_INVALID')
    await rejectsWith(
      parseJwks({ keys: [{ ...jwk, kty: 'EC', crv: 'P-256' }] }),
      'ERR_KEY_INVALID',
      /only OKP/,
    )
    await rejectsWith(parseJwks({ keys: [{ ...jwk, crv: 'X25519' }] }), 'ERR_KEY_INVALID')
    const { kid: _kid, ...noKid } = jwk
    await rejectsWith(parseJwks({ keys: [noKid] }), 'ERR_KEY_INVALID', /no kid/)
    await rejectsWith(parseJwks({ keys: [{ ...jwk, kid: 'other' }] }), 'ERR_KEY_INVALID', /thumbprint/)
    await rejectsWith(parseJwks({ keys: [jwk, jwk] }), 'ERR_KEY_INVALID', /twice/)
    await rejectsWith(parseJwks({ keys: [{ ...jwk, alg: 'HS256' }] }), 'ERR_KEY_INVALID')
    await rejectsWith(parseJwks({ keys: [] }), 'ERR_KEY_INVALID')
    await rejectsWith(parseJwks([jwk]), 'ERR_KEY_INVALID')
  })
})

describe('exporter JWKS cache', () => {
  test('persists atomically and verifies offline after a restart', async () => {
    const path = join(dir, 'exporter', 'hub-jwks.json')
    const key = await generateSigningKey()
    const importer = newPeer()
    const token = await signCapability(claimsFor(importer), key)

    const cache = await JwksCache.open(path)
    assert.equal(cache.jwks, undefined)
    await cache.update(publicJwks([key]))
    assert.equal((await stat(path)).mode & 0o777, 0o644)
    assert.deepEqual(await readdir(join(dir, 'exporter')), ['hub-jwks.json'], 'no temp file left behind')

    // A new process: only the file survives.
    const reopened = await JwksCache.open(path)
    const claims = await verifyCapability(token, {
      keys: reopened,
      issuer: ISSUER,
      audience: EXPORTER,
      remotePublicKey: importer.raw,
      now: frozen(),
      isRevoked: () => false,
    })
    assert.equal(claims.jti, 'tok-1')
  })

  test('an invalid update keeps the previous copy, in memory and on disk', async () => {
    const path = join(dir, 'keep', 'hub-jwks.json')
    const key = await generateSigningKey()
    const cache = await JwksCache.open(path)
    await cache.update(publicJwks([key]))
    const before = await readFile(path, 'utf8')
    await rejectsWith(cache.update({ keys: [{ ...key.publicJwk, d: 'AAAA' }] }), 'ERR_KEY_INVALID')
    assert.equal(await readFile(path, 'utf8'), before)
    assert.ok(await cache.resolve(key.kid))
  })

  test('refuses a cache file others can write, and a corrupt one', async () => {
    const path = join(dir, 'writable', 'hub-jwks.json')
    const cache = await JwksCache.open(path)
    await cache.update(publicJwks([await generateSigningKey()]))
    await chmod(path, 0o664)
    await rejectsWith(JwksCache.open(path), 'ERR_KEY_IO', /chmod go-w/)
    await chmod(path, 0o644)
    await writeFile(path, '{"keys": [')
    await rejectsWith(JwksCache.open(path), 'ERR_KEY_INVALID', /delete it/)
  })

  test('resolve: unknown kid → ERR_TOKEN_SIGNATURE (stale copy), empty cache → ERR_JWKS_UNAVAILABLE', async () => {
    const cache = await JwksCache.inMemory()
    await rejectsWith(cache.resolve('x'), 'ERR_JWKS_UNAVAILABLE')
    await cache.update(publicJwks([await generateSigningKey()]))
    await rejectsWith(cache.resolve('unknown-kid'), 'ERR_TOKEN_SIGNATURE', /stale/)
  })
})

describe('key rotation', () => {
  test('an old key verifies its tokens while published, and stops once dropped', async () => {
    const maxTokenLifetimeS = 86400
    const old = await generateSigningKey({ now: frozen(NOW_S - 10 * 86400) })
    const importer = newPeer()
    const oldToken = await signCapability(claimsFor(importer), old)

    // Rotation: a new key appears; the newest signs, both are published.
    const current = await generateSigningKey({ now: frozen(NOW_S) })
    assert.equal(newestSigningKey([old, current]).kid, current.kid)
    const cache = await JwksCache.inMemory()
    const published = keysToPublish([old, current], { now: frozen(NOW_S + 60), maxTokenLifetimeS })
    assert.deepEqual(
      published.map((k) => k.kid),
      [current.kid, old.kid],
    )
    await cache.update(publicJwks(published))
    const verify = (token: string) =>
      verifyCapability(token, {
        keys: cache,
        issuer: ISSUER,
        audience: EXPORTER,
        remotePublicKey: importer.raw,
        now: frozen(),
        isRevoked: () => false,
      })
    await verify(oldToken)
    await verify(await signCapability(claimsFor(importer), newestSigningKey([old, current])))

    // One maximum token lifetime after the rotation, the old key is dropped from the JWKS …
    const later = keysToPublish([old, current], {
      now: frozen(NOW_S + maxTokenLifetimeS + 1),
      maxTokenLifetimeS,
    })
    assert.deepEqual(
      later.map((k) => k.kid),
      [current.kid],
    )
    await cache.update(publicJwks(later))
    // … and its tokens (or forgeries with its leaked key) no longer verify.
    await rejectsWith(verify(oldToken), 'ERR_TOKEN_SIGNATURE', /stale/)
  })

  test('newestSigningKey with no keys → ERR_KEY_INVALID', () => {
    assert.throws(() => newestSigningKey([]), { code: 'ERR_KEY_INVALID' })
  })
})
