import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { loginWithDeviceCode } from '../src/device-login.js'
import { IdentityError } from '../src/errors.js'
import { CLIENT_ID, fakeIdp, ISSUER } from './fake-idp.js'
import { fakeClock, makeJwt } from './helpers.js'

const T0 = 1_800_000_000

async function tokens(): Promise<Record<string, unknown>> {
  const now = Math.floor(Date.now() / 1000)
  return {
    access_token: 'at',
    token_type: 'Bearer',
    expires_in: 300,
    refresh_token: 'rt',
    id_token: await makeJwt({
      iss: ISSUER,
      aud: CLIENT_ID,
      sub: 'alice',
      iat: now,
      exp: now + 300,
      groups: ['g'],
    }),
  }
}

describe('device grant polling', () => {
  test('waits the interval between polls, 5 s more after slow_down, and keeps going while pending', async () => {
    const idp = fakeIdp([
      { status: 400, body: { error: 'authorization_pending' } },
      { status: 400, body: { error: 'slow_down' } },
      { status: 400, body: { error: 'authorization_pending' } },
      { status: 200, body: await tokens() },
    ])
    const waits: number[] = []
    const clock = fakeClock(T0 * 1000)
    const prompts: string[] = []
    const creds = await loginWithDeviceCode({
      issuer: ISSUER,
      clientId: CLIENT_ID,
      fetch: idp.fetch,
      clock,
      sleep: async (ms) => {
        waits.push(ms)
        clock.advance(ms)
      },
      onPrompt: (uri, code, p) => prompts.push(uri, code, p.verificationUriComplete ?? ''),
    })
    assert.deepEqual(prompts, [`${ISSUER}/device`, 'ABCD-EFGH', `${ISSUER}/device?user_code=ABCD-EFGH`])
    assert.deepEqual(waits, [5000, 5000, 10000, 10000])
    assert.equal(idp.tokenRequests.length, 4)
    assert.equal(idp.tokenRequests[0]?.get('grant_type'), 'urn:ietf:params:oauth:grant-type:device_code')
    assert.equal(idp.tokenRequests[0]?.get('device_code'), 'dc-1')
    assert.equal(creds.method, 'device')
    assert.equal(creds.refreshToken, 'rt')
  })

  test('access_denied → ERR_LOGIN_DENIED, expired_token → ERR_LOGIN_TIMEOUT', async () => {
    for (const [error, code] of [
      ['access_denied', 'ERR_LOGIN_DENIED'],
      ['expired_token', 'ERR_LOGIN_TIMEOUT'],
    ] as const) {
      const idp = fakeIdp([{ status: 400, body: { error } }])
      await assert.rejects(
        loginWithDeviceCode({
          issuer: ISSUER,
          clientId: CLIENT_ID,
          fetch: idp.fetch,
          sleep: async () => {},
          onPrompt: () => {},
        }),
        (err: unknown) => err instanceof IdentityError && err.code === code,
      )
    }
  })

  test('gives up when the device code expires, and on cancel', async () => {
    const pending = Array.from({ length: 200 }, () => ({
      status: 400,
      body: { error: 'authorization_pending' },
    }))
    const clock = fakeClock(T0 * 1000)
    await assert.rejects(
      loginWithDeviceCode({
        issuer: ISSUER,
        clientId: CLIENT_ID,
        fetch: fakeIdp(pending).fetch,
        clock,
        sleep: async (ms) => clock.advance(ms),
        onPrompt: () => {},
      }),
      { code: 'ERR_LOGIN_TIMEOUT' },
    )
    const ac = new AbortController()
    await assert.rejects(
      loginWithDeviceCode({
        issuer: ISSUER,
        clientId: CLIENT_ID,
        fetch: fakeIdp(pending).fetch,
        signal: ac.signal,
        onPrompt: () => setTimeout(() => ac.abort(), 20),
      }),
      { code: 'ERR_LOGIN_CANCELLED' },
    )
  })
})
