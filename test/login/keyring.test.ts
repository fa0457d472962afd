/**
 * Credentials in a real OS keyring: the `tether` CLI inside a D-Bus session with gnome-keyring's
 * Secret Service (the keyring unlocked with a password, as a desktop login does) logs in with
 * `--token-cmd` to a hub with [auth] trusting a real OpenID Provider (service account ci-lab), and `whoami` reads the
 * login back in a later session — stored by @napi-rs/keyring under service "tether", not in the
 * 0600 file. Outside any session (a headless box) the same command finds no keyring and no file:
 * the login really went to the keyring. `logout` removes it from there.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { Hub } from '@tether/hub'
import { serviceAccountHubToml, startAuthHub } from '../lib/auth-hub.js'
import { runTether, type TetherRun } from '../lib/cli-run.js'
import { clientCredentials, type Idp, startIdp } from '../lib/idp.js'
import { CLI_MAIN } from '../lib/tether-server.js'

/** Unlocks (creating on first use) the "login" keyring under $HOME, then runs the command. */
const UNLOCK_THEN_RUN =
  'printf %s "$KEYRING_PASSWORD" | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$@"'

function inKeyringSession(args: readonly string[], env: NodeJS.ProcessEnv): Promise<TetherRun> {
  return new Promise((resolve) => {
    execFile(
      'dbus-run-session',
      ['--', 'sh', '-c', UNLOCK_THEN_RUN, 'sh', process.execPath, CLI_MAIN, ...args],
      { env: { ...process.env, ...env }, timeout: 60_000, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

describe('a login kept in a real keyring (gnome-keyring over D-Bus)', { timeout: 180_000 }, () => {
  let dir = ''
  let idp: Idp
  let hub: Hub
  let hubText = ''
  let env: NodeJS.ProcessEnv = {}

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-keyring-'))
    idp = await startIdp()
    let address: { toString(): string }
    ;({ hub, address } = await startAuthHub({ toml: serviceAccountHubToml(idp), dir }))
    hubText = address.toString()
    const response = await clientCredentials(idp, idp.resources.hub)
    assert.equal(response.status, 200, JSON.stringify(response))
    await writeFile(join(dir, 'ci.jwt'), response.access_token ?? '', { mode: 0o600 })
    env = {
      HOME: join(dir, 'home'),
      XDG_STATE_HOME: join(dir, 'state'),
      XDG_DATA_HOME: join(dir, 'home', '.local', 'share'),
      XDG_RUNTIME_DIR: '',
      DBUS_SESSION_BUS_ADDRESS: '',
      TETHER_CREDENTIALS: '',
      KEYRING_PASSWORD: 'keyring-test-password',
      DISPLAY: '',
      WAYLAND_DISPLAY: '',
    }
  })

  after(async () => {
    await hub?.stop()
    await idp?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  const ok = (r: TetherRun, what: string) =>
    assert.equal(r.code, 0, `${what} failed:\n${r.stderr}${r.stdout}`)

  test('login stores the token in the keyring, with no fallback notice and no file', async () => {
    const login = await inKeyringSession(
      ['login', hubText, '--token-cmd', `cat '${join(dir, 'ci.jwt')}'`],
      env,
    )
    ok(login, 'login')
    assert.equal(login.stdout, `logged in to ${hubText} as ci-lab (roles: importer)\n`)
    assert.doesNotMatch(login.stderr, /keyring|0600 file/i, 'no notice of a fallback')
    await assert.rejects(access(join(dir, 'state', 'tether', 'credentials.json')), { code: 'ENOENT' })
  })

  test('a later session reads it back; without the keyring it is not there', async () => {
    const me = await inKeyringSession(['whoami', hubText], env)
    ok(me, 'whoami')
    assert.match(me.stdout, /^ci-lab at \S+ \(roles: importer\), issuer /)
    const headless = await runTether(['whoami', hubText], env)
    assert.equal(headless.code, 1, headless.stdout)
    assert.match(headless.stderr, /you are not logged in to /)
  })

  test('logout removes it from the keyring', async () => {
    ok(await inKeyringSession(['logout', hubText], env), 'logout')
    const me = await inKeyringSession(['whoami', hubText], env)
    assert.equal(me.code, 1, me.stdout)
    assert.match(me.stderr, /you are not logged in to /)
  })
})
