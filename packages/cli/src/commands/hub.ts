/** `tether hub`: run the rendezvous hub (directory + gated relay). Open mode only for now. */
import { mkdir } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import type { Logger } from '@tether/net'
import type { Argv } from 'yargs'
import { untilStopSignal } from '../stop-signal.js'

export interface HubArgs {
  listen: string[]
  identity: string
  announce: string[]
  open: boolean
  json: boolean
}

export const DEFAULT_HUB_LISTEN = ['/ip4/0.0.0.0/tcp/4001', '/ip4/0.0.0.0/tcp/4002/ws']

/** $XDG_STATE_HOME/tether/hub.key, or ~/.local/state/tether/hub.key. */
export function defaultHubIdentityPath(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME || join(homedir(), '.local', 'state')
  return join(state, 'tether', 'hub.key')
}

const NO_AUTH =
  'tether hub: authorization is not implemented yet; pass --open to run an open hub that anyone who can reach it may use'

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
        .option('open', {
          type: 'boolean',
          default: false,
          describe: 'Run an open hub: anyone who can reach it may register and relay (required for now)',
        })
        .option('json', {
          type: 'boolean',
          default: false,
          describe: 'Print the peer id and addresses as one JSON line',
        })
        .example('$0 hub --open', 'an open hub on TCP 4001 and WebSockets 4002'),
    async (args) => {
      if (!args.open) {
        process.stderr.write(`${NO_AUTH}\n`)
        process.exitCode = 2
        return
      }
      // Loaded here, not at the top: libp2p is slow to load and most commands never need it.
      const [{ startHub }, { isNetError, loadOrCreateIdentity }] = await Promise.all([
        import('@tether/hub'),
        import('@tether/net'),
      ])
      const log = makeLogger()
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
      const hub = await startHub({
        privateKey: identity.privateKey,
        listen: args.listen,
        ...(args.announce.length > 0 ? { announce: args.announce } : {}),
        logger: log,
        openMode: true,
      })
      const addresses = hub.addresses().map((a) => a.toString())
      if (args.json) {
        process.stdout.write(`${JSON.stringify({ peerId: hub.node.peerId.toString(), addresses })}\n`)
      } else {
        process.stdout.write(
          '*** OPEN MODE: no authorization; anyone who can reach this hub may register exporters and relay through it ***\n',
        )
        for (const address of addresses) process.stdout.write(`hub listening on ${address}\n`)
      }
      await untilStopSignal(log)
      await hub.stop()
    },
  )
}
