/**
 * `tether login`, `logout`, `whoami`: the user's login at a hub. The hub names the OpenID providers
 * it trusts (auth-info); the tokens are kept in the OS keyring or a 0600 file under the hub's peer id.
 */
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import type { Argv } from 'yargs'
import { CliUsageError } from '../address.js'
import { hubKey, hubOption, openHubSession, printJson, requireHub } from './hub-session.js'

interface LoginArgs {
  hub?: string
  device: boolean
  tokenCmd?: string
  browser: boolean
  issuer?: string
}

/** Whether a graphical browser can be opened: xdg-open on PATH and a display to show it on. */
export function canOpenBrowser(env: NodeJS.ProcessEnv = process.env): boolean {
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return false
  return (env.PATH ?? '').split(delimiter).some((dir) => {
    if (!dir) return false
    try {
      accessSync(join(dir, 'xdg-open'), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/** Same issuer URL, ignoring a trailing slash. */
export function sameIssuer(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '')
}

function rolesText(roles: readonly string[]): string {
  return roles.length ? roles.join(', ') : 'none'
}

/** Cancels on the first Ctrl-C (or SIGTERM) while `fn` runs. */
async function cancellable<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController()
  const stop = () => controller.abort(new Error('cancelled'))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    return await fn(controller.signal)
  } finally {
    process.removeListener('SIGINT', stop)
    process.removeListener('SIGTERM', stop)
  }
}

export function accountCommands(cli: Argv): Argv {
  return cli
    .command<LoginArgs>(
      'login [hub]',
      'Log in to a hub with its OpenID provider (browser, --device code, or --token-cmd for CI)',
      (y) =>
        y
          .positional('hub', hubOption)
          .option('device', {
            type: 'boolean',
            default: false,
            describe: 'Device code login: enter a code on another device (no browser here)',
          })
          .option('token-cmd', {
            type: 'string',
            describe: 'A command printing an ID token (CI); stored and run again when the token expires',
          })
          .option('browser', {
            type: 'boolean',
            default: true,
            describe: 'Open the login page with xdg-open (--no-browser: only print its URL)',
          })
          .option('issuer', {
            type: 'string',
            describe: "Which of the hub's OpenID providers (default: its first)",
          })
          .example('$0 login /ip4/10.0.0.5/tcp/4001/p2p/12D3Koo...', 'log in through the browser')
          .example('$0 login --token-cmd "ci-oidc-token --audience tether"', 'log a CI job in'),
      async (args) => {
        const hub = requireHub(args.hub)
        if (args.device && args.tokenCmd)
          throw new CliUsageError('--device and --token-cmd are two ways; pick one')
        const [identity, { HubRequestError }] = await Promise.all([
          import('@tether/identity'),
          import('@tether/control'),
        ])
        const session = await openHubSession(hub)
        try {
          if (session.notice) process.stderr.write(`${session.notice}\n`)
          const credentials = await cancellable(async (signal) => {
            if (args.tokenCmd) return identity.loginWithTokenCommand(args.tokenCmd)
            const info = await session.call({ type: 'auth-info' }, { login: false, signal })
            const issuers = info.type === 'auth-info' ? info.issuers : []
            if (issuers.length === 0) {
              throw new CliUsageError(
                `the hub at ${hub} trusts no OpenID provider; there is nothing to log in to`,
              )
            }
            const issuer = args.issuer
              ? issuers.find((i) => sameIssuer(i.url, args.issuer as string))
              : issuers[0]
            if (!issuer) {
              throw new CliUsageError(
                `the hub does not trust ${args.issuer}; it trusts ${issuers.map((i) => i.url).join(', ')}`,
              )
            }
            if (args.device) {
              return identity.loginWithDeviceCode({
                issuer: issuer.url,
                clientId: issuer.deviceClientId ?? issuer.clientId,
                signal,
                onPrompt: (uri, code, prompt) => {
                  process.stderr.write(`To log in, open ${uri} on any device and enter the code ${code}\n`)
                  if (prompt.verificationUriComplete) {
                    process.stderr.write(`  (or open ${prompt.verificationUriComplete})\n`)
                  }
                  process.stderr.write('waiting for the approval…\n')
                },
              })
            }
            const open = args.browser && canOpenBrowser()
            return identity.loginWithBrowser({
              issuer: issuer.url,
              clientId: issuer.clientId,
              signal,
              openUrl: async (url) => {
                process.stderr.write(
                  `${open ? 'Opening your browser to log in; if it does not open, visit' : 'To log in, open'} this URL:\n  ${url}\n`,
                )
                if (!open) return
                const { spawn } = await import('node:child_process')
                const child = spawn('xdg-open', [url], { detached: true, stdio: 'ignore' })
                child.on('error', () => {})
                child.unref()
              },
            })
          })
          await session.store.set(session.key, credentials)
          let me: Awaited<ReturnType<typeof session.call>>
          try {
            me = await session.call({ type: 'whoami' })
          } catch (err) {
            if (!(err instanceof HubRequestError) || err.code === 'ERR_HUB_UNREACHABLE') throw err
            // The hub does not take this token (wrong issuer or audience...): keep nothing.
            await session.store.delete(session.key)
            throw new HubRequestError(err.code, `the hub does not accept this login: ${err.message}`)
          }
          if (me.type !== 'identity') throw new Error(`unexpected answer to whoami: ${me.type}`)
          process.stdout.write(`logged in to ${hub} as ${me.user} (roles: ${rolesText(me.roles)})\n`)
        } finally {
          await session.close()
        }
      },
    )
    .command<{ hub?: string }>(
      'logout [hub]',
      'Forget the login for a hub (HUB: its multiaddr or peer id)',
      (y) => y.positional('hub', hubOption),
      async (args) => {
        if (!args.hub) throw new CliUsageError('name the hub to log out of (or set TETHER_HUB)')
        const key = hubKey(args.hub)
        const identity = await import('@tether/identity')
        const { store } = await identity.openCredentialStore()
        const had = await identity.logout(store, key)
        process.stdout.write(had ? `logged out of ${args.hub}\n` : `you were not logged in to ${args.hub}\n`)
      },
    )
    .command<{ hub?: string; json: boolean }>(
      'whoami [hub]',
      'Who the hub says you are, and your roles there',
      (y) =>
        y
          .positional('hub', hubOption)
          .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object' }),
      async (args) => {
        const hub = requireHub(args.hub)
        const [identity, { HubRequestError }] = await Promise.all([
          import('@tether/identity'),
          import('@tether/control'),
        ])
        const session = await openHubSession(hub)
        try {
          await session.token()
          try {
            const me = await session.call({ type: 'whoami' }, { timeoutMs: 15_000 })
            if (me.type !== 'identity') throw new Error(`unexpected answer to whoami: ${me.type}`)
            if (args.json) {
              printJson({
                hub,
                user: me.user,
                roles: me.roles,
                issuer: me.issuer,
                expiresAtMs: me.expiresAtMs,
                verified: true,
              })
            } else {
              process.stdout.write(
                `${me.user} at ${hub} (roles: ${rolesText(me.roles)}), issuer ${me.issuer}, ` +
                  `login valid until ${new Date(me.expiresAtMs).toLocaleString()}\n`,
              )
            }
            return
          } catch (err) {
            if (!(err instanceof HubRequestError) || err.code !== 'ERR_HUB_UNREACHABLE') throw err
            process.stderr.write(`tether: ${err.message}\n`)
            process.stderr.write(
              'tether: showing what your stored login says instead (unverified; roles come from the hub)\n',
            )
          }
          const local = await identity.whoami(session.store, session.key)
          const claims = local.claims as Record<string, unknown>
          const user = String(claims.preferred_username ?? claims.email ?? local.subject ?? '?')
          if (args.json) {
            printJson({
              hub,
              user,
              subject: local.subject,
              issuer: local.issuer,
              expiresAtMs: local.expiresAt.getTime(),
              method: local.method,
              verified: false,
            })
          } else {
            process.stdout.write(
              `${user} (unverified) for ${hub}, issuer ${local.issuer}, logged in by ${local.method}, ` +
                `token ${local.expired ? 'expired' : 'valid until'} ${local.expiresAt.toLocaleString()}` +
                `${local.renewable ? ' (renewable)' : ''}\n`,
            )
          }
        } finally {
          await session.close()
        }
      },
    )
}
