import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { currentToken } from '../src/current-token.js'
import { IdentityError } from '../src/errors.js'
import { loginWithTokenCommand } from '../src/token-command.js'
import { fakeClock, makeJwt, memoryStore } from './helpers.js'

const NOW_S = 1_800_000_000
const clock = fakeClock(NOW_S * 1000)

function rejectsWith(fragment: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof IdentityError, String(err))
    assert.equal(err.code, 'ERR_TOKEN_CMD_FAILED')
    assert.match(err.message, fragment)
    return true
  }
}

describe('--token-cmd', () => {
  test('takes the trimmed stdout as the ID token, with issuer and expiry from its claims', async () => {
    const jwt = await makeJwt({
      iss: 'https://ci.example.test',
      aud: 'tether-hub',
      sub: 'repo:x',
      exp: NOW_S + 300,
    })
    const creds = await loginWithTokenCommand(`printf '  %s\\n' '${jwt}'`, { clock })
    assert.equal(creds.idToken, jwt)
    assert.equal(creds.issuer, 'https://ci.example.test')
    assert.equal(creds.clientId, 'tether-hub')
    assert.equal(creds.expiresAt, NOW_S + 300)
    assert.equal(creds.method, 'token-command')
    assert.equal(creds.refreshToken, undefined)
  })

  test('a failing command reports its exit status and keeps its stderr', async () => {
    await assert.rejects(
      loginWithTokenCommand("echo 'token service said no' >&2; exit 3", { clock }),
      rejectsWith(/status 3.*token service said no/s),
    )
  })

  test('a command that hangs is killed at the timeout, with whatever it started', async () => {
    const started = Date.now()
    await assert.rejects(
      loginWithTokenCommand('echo waiting >&2; sleep 30 & sleep 30; wait', { clock, timeoutMs: 300 }),
      rejectsWith(/did not finish within 300 ms.*waiting/s),
    )
    assert.ok(Date.now() - started < 5000, 'the timeout bounds the wait')
  })

  test('output that is not a JWT, or an expired one, is refused', async () => {
    await assert.rejects(loginWithTokenCommand('echo hello', { clock }), rejectsWith(/not a JWT \("hello"\)/))
    await assert.rejects(loginWithTokenCommand('echo a.b.c', { clock }), rejectsWith(/not a JWT/))
    const expired = await makeJwt({ iss: 'https://ci.example.test', exp: NOW_S - 1 })
    await assert.rejects(loginWithTokenCommand(`echo ${expired}`, { clock }), rejectsWith(/expired/))
    const noIss = await makeJwt({ exp: NOW_S + 60 })
    await assert.rejects(loginWithTokenCommand(`echo ${noIss}`, { clock }), rejectsWith(/"iss"/))
  })

  test('currentToken runs the command again once the token is about to expire', async () => {
    const first = await makeJwt({ iss: 'https://ci.example.test', exp: NOW_S + 30, jti: '1' })
    const second = await makeJwt({ iss: 'https://ci.example.test', exp: NOW_S + 600, jti: '2' })
    const store = memoryStore()
    const creds = await loginWithTokenCommand(`echo ${first}`, { clock })
    await store.set('hub', { ...creds, tokenCommand: `echo ${second}` })
    assert.equal(await currentToken(store, 'hub', { clock, refreshSkewS: 60 }), second)
    assert.equal((await store.get('hub'))?.expiresAt, NOW_S + 600)
  })
})
