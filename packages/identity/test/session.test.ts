import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { discover } from '../src/discovery.js'
import { looksLikeJwt } from '../src/jwt.js'
import { logout, whoami } from '../src/session.js'
import { fakeIdp } from './fake-idp.js'
import { credentialsExpiringAt, fakeClock, makeJwt, memoryStore } from './helpers.js'

const T0 = 1_800_000_000

describe('whoami and logout', () => {
  test('whoami decodes the stored ID token; logout forgets it', async () => {
    const store = memoryStore()
    await store.set('hub', await credentialsExpiringAt(T0 + 60))
    const me = await whoami(store, 'hub', fakeClock(T0 * 1000))
    assert.equal(me.subject, 'alice')
    assert.equal(me.issuer, 'https://idp.example.test')
    assert.deepEqual(me.claims.groups, ['g1'])
    assert.equal(me.expired, false)
    assert.equal(me.renewable, true)
    assert.equal((await whoami(store, 'hub', fakeClock((T0 + 61) * 1000))).expired, true)
    assert.equal(await logout(store, 'hub'), true)
    assert.equal(await logout(store, 'hub'), false)
    await assert.rejects(whoami(store, 'hub'), { code: 'ERR_NOT_LOGGED_IN' })
  })
})

describe('JWT shape and discovery', () => {
  test('looksLikeJwt', async () => {
    assert.equal(looksLikeJwt(await makeJwt({ sub: 'x' })), true)
    for (const bad of ['', 'abc', 'a.b', 'a.b.c', 'e30.e30', '!!.e30.e30', 'e30.e30.sig.extra']) {
      assert.equal(looksLikeJwt(bad), false, bad)
    }
  })

  test('an IdP that does not answer is ERR_IDP_UNREACHABLE', async () => {
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    await assert.rejects(discover({ issuer: 'http://127.0.0.1:1', clientId: 'c', timeoutS: 5 }), {
      code: 'ERR_IDP_UNREACHABLE',
    })
    await assert.rejects(discover({ issuer: 'not a url', clientId: 'c' }), { code: 'ERR_IDP_UNREACHABLE' })
  })

  test('plain http is allowed for loopback issuers only', async () => {
    const { fetch } = fakeIdp([])
    await assert.rejects(
      discover({ issuer: 'http://idp.example.test', clientId: 'c', fetch }),
      (err: Error) => /HTTPS/i.test(err.message),
    )
    const config = await discover({ issuer: 'https://idp.example.test', clientId: 'c', fetch })
    assert.equal(config.serverMetadata().issuer, 'https://idp.example.test')
  })
})
