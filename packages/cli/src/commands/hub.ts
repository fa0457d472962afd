/** `tether hub`: run the rendezvous hub (directory + gated relay). Open mode only for now. */
import { mkdir, readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import type { Logger } from '@tether/net'
import type { Argv } from 'yargs'
import { CliUsageError } from '../address.js'
import { untilStopSignal } from '../stop-signal.js'

export interface HubArgs {
  listen: string[]
  identity: string
  announce: string[]
  config: string | undefined
  state: string
  insecureOpen: boolean
  json: boolean
}

export const DEFAULT_HUB_LISTEN = ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002/ws']

/** $XDG_STATE_HOME/tether/hub.key, or ~/.local/state/tether/hub.key. */
export function defaultHubIdentityPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(defaultHubStateDir(env), '..', 'hub.key')
}

/** Where the hub keeps its database and token signing key: $XDG_STATE_HOME/tether/hub/. */
export function defaultHubStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME || join(homedir(), '.local', 'state')
  return join(state, 'tether', 'hub')
}

const NO_AUTH =
  'tether hub: give the hub a hub.toml with an [auth] section (--config FILE), or pass --insecure-open to run an open hub that anyone who can reach it may use'

export function hubCommand(cli: Argv, makeLogger: () => Logger) {
  return cli.command<HubArgs>(
    'hub',
    'Run a hub: the directory exporters register with and the relay importers reach them through',
    (y) =>
      y
        .option('listen', {
          alias: 'l',
          type: 'string',
          array: true,
          default: DEFAULT_HUB_LISTEN,
          describe: 'Multiaddr to listen on, repeatable',
        })
        .option('identity', {
          type: 'string',
          default: defaultHubIdentityPath(),
          describe: "The hub's private key (created 0600 if missing; its peer id is part of the hub address)",
        })
        .option('announce', {
          type: 'string',
          array: true,
          default: [] as string[],
          describe: 'Extra multiaddr to announce (a public address or port mapping), repeatable',
        })
        .option('config', {
          type: 'string',
          default: process.env.TETHER_HUB_CONFIG,
          describe: 'hub.toml: trusted OIDC issuers and the access rules (default $TETHER_HUB_CONFIG)',
        })
        .option('state', {
          type: 'string',
          default: defaultHubStateDir(),
          describe: 'Directory of the reservation database and the token signing key',
        })
        .option('insecure-open', {
          type: 'boolean',
          default: false,
          describe:
            'Without [auth]: an insecure hub that anyone who can reach may register with and relay through',
        })
        .option('json', {
          type: 'boolean',
          default: false,
          describe: 'Print the peer id and addresses as one JSON line',
        })
        .example('$0 hub --config /etc/tether/hub.toml', 'a hub on TCP 4001 and WebSockets 4002')
        .example('$0 hub --insecure-open', 'an open hub for a demo on a trusted network'),
    async (args) => {
      if (!args.config && !args.insecureOpen) {
        process.stderr.write(`${NO_AUTH}\n`)
        process.exitCode = 2
        return
      }
      // Loaded here, not at the top: libp2p is slow to load and most commands never need it.
      const [{ startHub }, { isNetError, loadOrCreateIdentity }, auth] = await Promise.all([
        import('@tether/hub'),
        import('@tether/net'),
        import('@tether/auth'),
      ])
      const log = makeLogger()
      const policy = args.config
        ? auth.parseHubToml(await readConfig(args.config), args.config, { insecure: args.insecureOpen })
        : undefined
      await mkdir(dirname(args.identity), { recursive: true, mode: 0o700 })
      let identity: Awaited<ReturnType<typeof loadOrCreateIdentity>>
      try {
        identity = await loadOrCreateIdentity(args.identity, { logger: log })
      } catch (err) {
        if (!isNetError(err)) throw err
        process.stderr.write(`tether hub: ${err.message} (${err.code})\n`)
        process.exitCode = 1
        return
      }
      let authInit: Parameters<typeof startHub>[0]['auth']
      if (policy?.mode === 'auth') {
        await mkdir(args.state, { recursive: true, mode: 0o700 })
        const { key, created } = await auth.loadOrCreateSigningKey(join(args.state, 'signing-key.jwk'))
        if (created) log.info('created the capability signing key', { kid: key.kid, state: args.state })
        authInit = { policy, database: join(args.state, 'hub.db'), signingKeys: [key] }
      }
      const hub = await startHub({
        privateKey: identity.privateKey,
        listen: args.listen,
        ...(args.announce.length > 0 ? { announce: args.announce } : {}),
        logger: log,
        ...(authInit ? { auth: authInit } : { openMode: true }),
      })
      const addresses = hub.addresses().map((a) => a.toString())
      if (args.json) {
        process.stdout.write(`${JSON.stringify({ peerId: hub.node.peerId.toString(), addresses })}\n`)
      } else {
        if (!authInit) {
          process.stdout.write(
            '*** INSECURE OPEN MODE: no authorization; anyone who can reach this hub may register exporters and relay through it ***\n',
          )
        }
        for (const address of addresses) process.stdout.write(`hub listening on ${address}\n`)
      }
      await untilStopSignal(log)
      await hub.stop()
    },
  )
}

async function readConfig(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    throw new CliUsageError(
      `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? err}); give the path of your hub.toml`,
    )
  }
}
