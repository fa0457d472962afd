/**
 * @tether/identity against a real OpenID Provider (test/lib/idp.ts, oidc-provider on loopback) and a
 * real browser (headless chromium via playwright-core): PKCE with a loopback redirect, the device
 * grant, refresh after expiry, and the refusals (state mismatch, access_denied, timeout).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  type Credentials,
  currentToken,
  decodeClaims,
  fileStore,
  IdentityError,
  loginWithBrowser,
  loginWithDeviceCode,
  whoami,
} from '@tether/identity'
import type { Browser } from 'playwright-core'
import { type Idp, startIdp } from '../lib/idp.js'
import { launchChromium, loopbackPage, signInAndConsent } from './browser.js'

const TEST_TIMEOUT = 60_000

function isCode(code: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof IdentityError, `expected an IdentityError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    return true
  }
}

/** Runs a browser login where `drive` plays the user on the authorization URL. */
async function browserLogin(
  idp: Idp,
  browser: Browser,
  drive: (page: import('playwright-core').Page, url: string) => Promise<void>,
  extra: { timeoutMs?: number; beforeDrive?: (url: string) => Promise<void> } = {},
): Promise<{ credentials: Credentials; blocked: string[]; pageText: string; ms: number }> {
  const tab = await loopbackPage(browser)
  const started = Date.now()
  let driving: Promise<void> | undefined
  try {
    const credentials = await loginWithBrowser({
      issuer: idp.issuer,
      clientId: idp.cliClientId,
      timeoutMs: extra.timeoutMs ?? 30_000,
      openUrl: (url) => {
        driving = (async () => {
          await extra.beforeDrive?.(url)
          await drive(tab.page, url)
        })()
        driving.catch(() => {}) // surfaced below
      },
    })
    await driving
    await tab.page.waitForLoadState()
    const pageText = (await tab.page.locator('body').textContent()) ?? ''
    return { credentials, blocked: tab.blocked, pageText, ms: Date.now() - started }
  } finally {
    await tab.close()
  }
}

describe('login against a real OpenID Provider', { timeout: 5 * TEST_TIMEOUT }, () => {
  let idp: Idp
  let browser: Browser

  before(async () => {
    idp = await startIdp()
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await idp?.close()
  })

  test('PKCE login through chromium: loopback redirect, tokens carry the claims and the groups list', {
    timeout: TEST_TIMEOUT,
  }, async (t) => {
    const { credentials, blocked, pageText, ms } = await browserLogin(idp, browser, async (page, url) => {
      const authUrl = new URL(url)
      assert.equal(authUrl.searchParams.get('code_challenge_method'), 'S256')
      assert.match(authUrl.searchParams.get('redirect_uri') ?? '', /^http:\/\/127\.0\.0\.1:\d+\/callback$/)
      assert.ok(authUrl.searchParams.get('state'))
      assert.ok(authUrl.searchParams.get('nonce'))
      await page.goto(url)
      await signInAndConsent(page, 'alice', 'alice-password')
      await page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/)
    })
    t.diagnostic(`PKCE browser login took ${ms} ms`)
    assert.equal(credentials.method, 'browser')
    assert.equal(credentials.issuer, idp.issuer)
    assert.ok(credentials.refreshToken, 'offline_access granted a refresh token')
    const claims = decodeClaims(credentials.idToken)
    assert.equal(claims.sub, 'alice')
    assert.equal(claims.aud, idp.cliClientId)
    assert.equal(claims.email, 'alice@example.test')
    assert.equal(claims.name, 'Alice Example')
    assert.deepEqual(claims.groups, ['lab-a', 'board-admins'])
    assert.match(pageText, /You are logged in to tether/)
    assert.deepEqual(blocked, [], 'nothing left loopback')
  })

  test('the device grant, approved in chromium with the user code', { timeout: TEST_TIMEOUT }, async (t) => {
    const tab = await loopbackPage(browser)
    const started = Date.now()
    let approving: Promise<void> | undefined
    try {
      const credentials = await loginWithDeviceCode({
        issuer: idp.issuer,
        clientId: idp.cliClientId,
        timeoutMs: 45_000,
        onPrompt: (verificationUri, userCode) => {
          approving = (async () => {
            await tab.page.goto(verificationUri)
            await tab.page.locator('input[name="user_code"]').fill(userCode)
            await tab.page.locator('#continue').click()
            await tab.page.locator('#confirm').click()
            await signInAndConsent(tab.page, 'alice', 'alice-password')
            await tab.page.locator('#success').waitFor()
          })()
          approving.catch(() => {})
        },
      })
      await approving
      t.diagnostic(`device grant login took ${Date.now() - started} ms`)
      assert.equal(credentials.method, 'device')
      assert.ok(credentials.refreshToken)
      const claims = decodeClaims(credentials.idToken)
      assert.equal(claims.sub, 'alice')
      assert.deepEqual(claims.groups, ['lab-a', 'board-admins'])
      assert.deepEqual(tab.blocked, [])
    } finally {
      await tab.close()
    }
  })

  test('a redirect with another state is refused and the login goes on', {
    timeout: TEST_TIMEOUT,
  }, async () => {
    const tokenHitsBefore = idp.hits.get('/token') ?? 0
    const { credentials } = await browserLogin(
      idp,
      browser,
      async (page, url) => {
        await page.goto(url)
        await signInAndConsent(page, 'bob', 'bob-password')
        await page.waitForURL(/\/callback\?/)
      },
      {
        beforeDrive: async (url) => {
          const redirect = new URL(new URL(url).searchParams.get('redirect_uri') ?? '')
          redirect.searchParams.set('code', 'forged-code')
          redirect.searchParams.set('state', 'not-the-state')
          const res = await fetch(redirect)
          assert.equal(res.status, 400)
          assert.match(await res.text(), /state mismatch/)
          assert.equal(idp.hits.get('/token') ?? 0, tokenHitsBefore, 'a forged code is never exchanged')
        },
      },
    )
    assert.equal(decodeClaims(credentials.idToken).sub, 'bob')
    assert.deepEqual(decodeClaims(credentials.idToken).groups, [])
  })

  test('Cancel at the IdP (access_denied) fails with ERR_LOGIN_DENIED', {
    timeout: TEST_TIMEOUT,
  }, async () => {
    const tab = await loopbackPage(browser)
    try {
      await assert.rejects(
        loginWithBrowser({
          issuer: idp.issuer,
          clientId: idp.cliClientId,
          timeoutMs: 30_000,
          openUrl: async (url) => {
            await tab.page.goto(url)
            await tab.page.locator('#cancel').click()
          },
        }),
        isCode('ERR_LOGIN_DENIED'),
      )
      await tab.page.waitForURL(/\/callback\?/)
      assert.match((await tab.page.locator('body').textContent()) ?? '', /Login failed[\s\S]*access_denied/)
    } finally {
      await tab.close()
    }
  })

  test('nobody completes the login: ERR_LOGIN_TIMEOUT, and cancelling gives ERR_LOGIN_CANCELLED', {
    timeout: TEST_TIMEOUT,
  }, async () => {
    await assert.rejects(
      loginWithBrowser({ issuer: idp.issuer, clientId: idp.cliClientId, timeoutMs: 300, openUrl: () => {} }),
      isCode('ERR_LOGIN_TIMEOUT'),
    )
    const ac = new AbortController()
    await assert.rejects(
      loginWithBrowser({
        issuer: idp.issuer,
        clientId: idp.cliClientId,
        signal: ac.signal,
        openUrl: () => {
          setTimeout(() => ac.abort(), 50)
        },
      }),
      isCode('ERR_LOGIN_CANCELLED'),
    )
  })
})

describe('refresh against a real OpenID Provider', { timeout: 2 * TEST_TIMEOUT }, () => {
  let idp: Idp
  let browser: Browser
  let dir: string

  before(async () => {
    idp = await startIdp({ idTokenTtlS: 2, accessTokenTtlS: 2 })
    browser = await launchChromium()
    dir = await mkdtemp(join(tmpdir(), 'tether-login-'))
  })
  after(async () => {
    await browser?.close()
    await idp?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('an expired ID token is renewed with the refresh token and stored', {
    timeout: TEST_TIMEOUT,
  }, async () => {
    const { credentials } = await browserLogin(idp, browser, async (page, url) => {
      await page.goto(url)
      await signInAndConsent(page, 'alice', 'alice-password')
      await page.waitForURL(/\/callback\?/)
    })
    const store = fileStore(join(dir, 'credentials.json'))
    const hub = 'https://hub.example.test'
    await store.set(hub, credentials)
    assert.equal(
      await currentToken(store, hub, { refreshSkewS: 0 }),
      credentials.idToken,
      'still valid: no refresh',
    )

    await new Promise((r) => setTimeout(r, (credentials.expiresAt + 1) * 1000 - Date.now()))
    assert.equal((await whoami(store, hub)).expired, true)
    const tokenHits = idp.hits.get('/token') ?? 0
    const fresh = await currentToken(store, hub, { refreshSkewS: 0 })
    assert.equal(idp.hits.get('/token'), tokenHits + 1, 'one refresh grant')
    assert.notEqual(fresh, credentials.idToken)
    const claims = decodeClaims(fresh)
    assert.equal(claims.sub, 'alice')
    assert.deepEqual(claims.groups, ['lab-a', 'board-admins'])
    assert.ok((claims.exp ?? 0) > credentials.expiresAt)
    const stored = await store.get(hub)
    assert.equal(stored?.idToken, fresh)
    assert.ok(stored?.refreshToken)
    assert.notEqual(
      stored?.refreshToken,
      credentials.refreshToken,
      'the public client’s refresh token rotated',
    )
    assert.equal((await whoami(store, hub)).expired, false)
  })
})
