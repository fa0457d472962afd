/** An ID token from the test IdP, through a real browser login (PKCE on a loopback redirect). */
import { loginWithBrowser } from '@tether/identity'
import type { Browser } from 'playwright-core'
import { loopbackPage, signInAndConsent } from '../login/browser.js'
import type { Idp } from './idp.js'

export async function loginAs(idp: Idp, browser: Browser, user: string, password: string): Promise<string> {
  const tab = await loopbackPage(browser)
  try {
    let driving: Promise<void> | undefined
    const credentials = await loginWithBrowser({
      issuer: idp.issuer,
      clientId: idp.cliClientId,
      timeoutMs: 30_000,
      openUrl: (url) => {
        driving = (async () => {
          await tab.page.goto(url)
          await signInAndConsent(tab.page, user, password)
        })()
        driving.catch(() => {})
      },
    })
    await driving
    return credentials.idToken
  } finally {
    await tab.close()
  }
}
