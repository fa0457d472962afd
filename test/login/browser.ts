/**
 * Headless chromium (Debian's, installed by scripts/vm/install-deps) through playwright-core, kept on
 * loopback: DNS for anything but 127.0.0.1 fails inside the browser, and every request to another
 * host is aborted and recorded, so a page that tries to reach out shows up in `blocked`.
 */
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'

export const CHROMIUM = process.env.TETHER_CHROMIUM ?? '/usr/bin/chromium'

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: [
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      '--no-proxy-server',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--no-default-browser-check',
    ],
  })
}

export interface LoopbackPage {
  page: Page
  context: BrowserContext
  /** URLs the browser tried to reach off loopback (should stay empty). */
  blocked: string[]
  close(): Promise<void>
}

export async function loopbackPage(browser: Browser): Promise<LoopbackPage> {
  const context = await browser.newContext()
  context.setDefaultTimeout(15_000)
  context.setDefaultNavigationTimeout(15_000)
  const blocked: string[] = []
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url())
    if (url.hostname === '127.0.0.1') return route.continue()
    blocked.push(url.href)
    return route.abort('blockedbyclient')
  })
  const page = await context.newPage()
  return { page, context, blocked, close: () => context.close() }
}

/** Fills the test IdP's login form and, when asked, its consent page. */
export async function signInAndConsent(page: Page, login: string, password: string): Promise<void> {
  await page.locator('#login').fill(login)
  await page.locator('#password').fill(password)
  await page.locator('#sign-in').click()
  await page.locator('#allow').click()
}
