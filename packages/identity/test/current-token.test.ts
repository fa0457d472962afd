import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Credentials } from '../src/credentials.js'
import { currentToken } from '../src/current-token.js'
import { IdentityError } from '../src/errors.js'
import { credentialsExpiringAt, fakeClock, memoryStore } from './helpers.js'

const T0 = 1_800_000_000

describe('currentToken', () => {
  test('returns the stored token while it is outside the skew, renews inside it', async () => {
    const clock = fakeClock(T0 * 1000)
    const store = memoryStore()
    await store.set('hub', await credentialsExpiringAt(T0 + 300))
    const renewed: Credentials[] = []
    const renew = async (c: Credentials): Promise<Credentials> => {
      renewed.push(c)
      return credentialsExpiringAt(T0 + 3600, { refreshToken: 'rt-2' })
    }
    const first = await currentToken(store, 'hub', { clock, refreshSkewS: 60, renew })
    assert.equal(first, (await store.get('hub'))?.idToken)
    assert.equal(renewed.length, 0)

    clock.advance(239_000) // 61 s left
    assert.equal(await currentToken(store, 'hub', { clock, refreshSkewS: 60, renew }), first)
    assert.equal(renewed.length, 0)

    clock.advance(2_000) // 59 s left: inside the skew
    const second = await currentToken(store, 'hub', { clock, refreshSkewS: 60, renew })
    assert.equal(renewed.length, 1)
    assert.notEqual(second, first)
    assert.equal((await store.get('hub'))?.expiresAt, T0 + 3600)
    assert.equal((await store.get('hub'))?.refreshToken, 'rt-2')
  })

  test('not logged in, or expired with nothing to renew with: ERR_NOT_LOGGED_IN naming tether login', async () => {
    const clock = fakeClock(T0 * 1000)
    const store = memoryStore()
    await assert.rejects(currentToken(store, 'https://hub.x', { clock }), (err: unknown) => {
      assert.ok(err instanceof IdentityError)
      assert.equal(err.code, 'ERR_NOT_LOGGED_IN')
      assert.match(err.message, /tether login https:\/\/hub\.x/)
      return true
    })
    const { refreshToken: _, ...noRefresh } = await credentialsExpiringAt(T0 - 10)
    await store.set('https://hub.x', noRefresh)
    await assert.rejects(currentToken(store, 'https://hub.x', { clock }), { code: 'ERR_NOT_LOGGED_IN' })
  })

  test('an unreachable IdP does not break a token that is still valid; a failed refresh of an expired one does', async () => {
    const clock = fakeClock(T0 * 1000)
    const store = memoryStore()
    const unreachable = async (): Promise<Credentials> => {
      throw new IdentityError('ERR_IDP_UNREACHABLE', 'down')
    }
    const valid = await credentialsExpiringAt(T0 + 30)
    await store.set('hub', valid)
    assert.equal(
      await currentToken(store, 'hub', { clock, refreshSkewS: 60, renew: unreachable }),
      valid.idToken,
    )
    clock.advance(31_000)
    await assert.rejects(currentToken(store, 'hub', { clock, renew: unreachable }), {
      code: 'ERR_IDP_UNREACHABLE',
    })
    const refused = async (): Promise<Credentials> => {
      throw new IdentityError('ERR_REFRESH_FAILED', 'invalid_grant')
    }
    await assert.rejects(currentToken(store, 'hub', { clock, renew: refused }), {
      code: 'ERR_REFRESH_FAILED',
    })
  })
})
