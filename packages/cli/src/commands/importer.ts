/**
 * The importer's commands: `tether agent` (the daemon holding tunnels and attachments), and the
 * clients that talk to it over its local socket — attach, detach, status, forward. (`tether
 * places` asks the hub directly: places.ts.)
 */
import { spawn } from 'node:child_process'
import { mkdirSync, openSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { AgentStatus, AttachmentInfo, ForwardInfo } from '@tether/agent'
// Only the control client at start-up: the clients must start fast (libp2p is loaded on demand).
import {
  AgentError,
  type ControlRequest,
  callAgent,
  defaultSocketPath,
  isAgentError,
} from '@tether/agent/client'
import type { Logger } from '@tether/net'
import type { Argv } from 'yargs'
import { untilStopSignal } from '../stop-signal.js'
import { hubKey, hubOption } from './hub-session.js'

const AGENT_START_TIMEOUT_MS = 30_000

export function defaultAgentIdentityPath(
  env: NodeJS.ProcessEnv = process.env,
  uid = process.getuid?.() ?? 0,
): string {
  if (uid === 0 && !env.XDG_STATE_HOME) return '/var/lib/tether/agent.key'
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'tether', 'agent.key')
}

interface CommonArgs {
  socket: string
  json: boolean
}

const socketOption = {
  type: 'string' as const,
  default: defaultSocketPath(),
  describe:
    "The agent's control socket (default: $TETHER_AGENT_SOCKET; /run/tether/agent.sock as root or when a root agent there lets your group in)",
}

export function importerCommands(cli: Argv, makeLogger: () => Logger): Argv {
  return cli
    .command<
      CommonArgs & { identity: string; listen: string[]; announce: string[]; hub?: string; group?: string }
    >(
      'agent',
      'Run the importer agent: keeps tunnels to exporters and remote devices attached (root for attach)',
      (y) =>
        y
          .option('socket', socketOption)
          .option('identity', {
            type: 'string',
            default: defaultAgentIdentityPath(),
            describe: "The agent's private key (created 0600)",
          })
          .option('listen', {
            type: 'string',
            array: true,
            default: ['/ip4/0.0.0.0/tcp/0'],
            describe: 'Multiaddr to listen on (exporters dial back here for a direct path)',
          })
          .option('announce', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: 'Extra multiaddr to announce',
          })
          .option('hub', hubOption)
          .option('group', {
            type: 'string',
            describe:
              "Members of this group (name or gid) may use the agent's socket: as root, they attach without sudo",
          })
          .option('json', { type: 'boolean', default: false, hidden: true }),
      async (args) => {
        const [{ Agent, ControlServer, resolveGroup }, { loadOrCreateIdentity }] = await Promise.all([
          import('@tether/agent'),
          import('@tether/net'),
        ])
        const log = makeLogger()
        const group = args.group === undefined ? undefined : resolveGroup(args.group)
        await mkdir(dirname(args.identity), { recursive: true, mode: 0o700 })
        const identity = await loadOrCreateIdentity(args.identity, { logger: log })
        const agent = await Agent.start({
          privateKey: identity.privateKey,
          listen: args.listen,
          ...(args.announce.length > 0 ? { announce: args.announce } : {}),
          ...(args.hub ? { hub: args.hub } : {}),
          logger: log,
        })
        let stopping: (() => void) | undefined
        const stopped = new Promise<void>((resolve) => {
          stopping = resolve
        })
        const control = new ControlServer(agent, () => stopping?.(), { logger: log })
        try {
          await control.listen(args.socket, group === undefined ? {} : { group })
        } catch (err) {
          await agent.stop()
          throw err
        }
        const shared = group === undefined ? '' : ` (group ${args.group} may use it)`
        process.stdout.write(`agent ${agent.node.peerId.toString()} ready on ${args.socket}${shared}\n`)
        await Promise.race([stopped, untilStopSignal(log)])
        log.info('stopping: detaching everything')
        await control.close()
        await agent.stop()
      },
    )
    .command<CommonArgs & { target: string; hub?: string; start: boolean }>(
      'attach <target>',
      'Attach a remote place, part or interface to this machine (starts the agent if needed)',
      (y) =>
        y
          .positional('target', {
            type: 'string',
            demandOption: true,
            describe: 'PLACE, PLACE/PART, PLACE/PART/INTERFACE, optionally EXPORTER:PLACE',
          })
          .option('hub', hubOption)
          .option('socket', socketOption)
          .option('start', {
            type: 'boolean',
            default: true,
            describe: 'Start an agent in the background when none runs (--no-start to refuse)',
          })
          .option('json', { type: 'boolean', default: false, describe: 'Print the attachments as JSON' })
          .example(
            '$0 attach rpi-1 --hub /ip4/10.0.0.5/tcp/4001/p2p/12D3Koo...',
            'attach every USB interface of place rpi-1',
          ),
      async (args) => {
        await ensureAgent(args.socket, args.start, args.hub)
        const result = (await callAgent(
          args.socket,
          {
            op: 'attach',
            target: args.target,
            ...(args.hub ? { hub: args.hub } : {}),
            ...(await loginFor(args.hub)),
          },
          (m) => process.stderr.write(`… ${m}\n`),
        )) as AttachmentInfo[]
        if (args.json) process.stdout.write(`${JSON.stringify(result)}\n`)
        else for (const a of result) process.stdout.write(`${describeAttachment(a)}\n`)
      },
    )
    .command<CommonArgs & { selector?: string; all: boolean }>(
      'detach [selector]',
      'Detach remote devices: by target (place, place/part...), local busid, vhci port or --all',
      (y) =>
        y
          .positional('selector', { type: 'string' })
          .option('all', { type: 'boolean', default: false })
          .option('socket', socketOption)
          .option('json', { type: 'boolean', default: false }),
      async (args) => {
        if (!args.all && !args.selector)
          throw new AgentError('ERR_BAD_REQUEST', 'name what to detach (see tether status) or pass --all')
        const request: ControlRequest = args.all
          ? { op: 'detach', all: true }
          : { op: 'detach', selector: args.selector as string }
        const result = (await callAgent(args.socket, request)) as AttachmentInfo[]
        if (args.json) process.stdout.write(`${JSON.stringify(result)}\n`)
        else
          for (const a of result) {
            const where = a.localBusid ?? (a.port !== undefined ? `port ${a.port}` : a.state)
            process.stdout.write(`detached ${a.target} (${where})\n`)
          }
      },
    )
    .command<CommonArgs>(
      'status',
      "Show the agent's tunnels: direct or relayed, remote peer, round trip, bytes",
      (y) => y.option('socket', socketOption).option('json', { type: 'boolean', default: false }),
      async (args) => {
        const status = (await callAgent(args.socket, { op: 'status' })) as AgentStatus
        if (args.json) process.stdout.write(`${JSON.stringify(status)}\n`)
        else process.stdout.write(formatStatus(status))
      },
    )
    .command<CommonArgs & { target: string; hub?: string; listen: string; start: boolean }>(
      'forward <target>',
      'Serve a local USB/IP endpoint with the devices of a place (or part, or interface), for stock `usbip`',
      (y) =>
        y
          .positional('target', {
            type: 'string',
            demandOption: true,
            describe: 'PLACE, PLACE/PART, PLACE/PART/INTERFACE, optionally EXPORTER:PLACE',
          })
          .option('hub', hubOption)
          .option('listen', {
            type: 'string',
            default: '127.0.0.1:3240',
            describe: 'HOST:PORT of the local endpoint (:0 = any free port)',
          })
          .option('socket', socketOption)
          .option('start', { type: 'boolean', default: true })
          .option('json', { type: 'boolean', default: false }),
      async (args) => {
        await ensureAgent(args.socket, args.start, args.hub)
        const info = (await callAgent(args.socket, {
          op: 'forward',
          target: args.target,
          listen: args.listen,
          ...(args.hub ? { hub: args.hub } : {}),
          ...(await loginFor(args.hub)),
        })) as ForwardInfo
        if (args.json) process.stdout.write(`${JSON.stringify(info)}\n`)
        else {
          const [host, port] = [
            info.address.slice(0, info.address.lastIndexOf(':')),
            info.address.slice(info.address.lastIndexOf(':') + 1),
          ]
          process.stdout.write(`forwarding ${info.exporter}:${info.place} on ${info.address}\n`)
          process.stdout.write(
            `  usbip --tcp-port ${port} list -r ${host}\n  usbip --tcp-port ${port} attach -r ${host} -b BUSID\n`,
          )
        }
      },
    )
}

/**
 * The user's login for the hub, when they ran `tether login`: the agent then asks the hub for
 * capability tokens. None for an open hub (or without a login: an [auth] exporter then refuses).
 */
async function loginFor(hub: string | undefined): Promise<{ login?: string }> {
  if (!hub) return {}
  const identity = await import('@tether/identity')
  const { store } = await identity.openCredentialStore()
  try {
    return { login: await identity.currentToken(store, hubKey(hub)) }
  } catch (err) {
    if (identity.isIdentityError(err, 'ERR_NOT_LOGGED_IN')) return {}
    throw err
  }
}

/** Connect to the agent, starting one in the background when allowed and none answers. */
async function ensureAgent(socket: string, start: boolean, hub: string | undefined): Promise<void> {
  try {
    await callAgent(socket, { op: 'status' }, undefined, { timeoutMs: 5_000 })
    return
  } catch (err) {
    if (!isAgentError(err) || err.code !== 'ERR_AGENT_UNAVAILABLE' || !start) throw err
  }
  const logPath = join(dirname(socket), 'agent.log')
  mkdirSync(dirname(socket), { recursive: true, mode: 0o700 })
  const log = openSync(logPath, 'a', 0o600)
  const main = fileURLToPath(new URL('../main.js', import.meta.url))
  const child = spawn(process.execPath, [main, 'agent', '--socket', socket, ...(hub ? ['--hub', hub] : [])], {
    detached: true,
    stdio: ['ignore', log, log],
  })
  child.unref()
  process.stderr.write(`… started a tether agent (pid ${child.pid}, log ${logPath})\n`)
  const deadline = Date.now() + AGENT_START_TIMEOUT_MS
  while (Date.now() < deadline) {
    await sleep(200)
    if (child.exitCode !== null) break
    try {
      await callAgent(socket, { op: 'status' }, undefined, { timeoutMs: 5_000 })
      return
    } catch {}
  }
  throw new AgentError(
    'ERR_AGENT_UNAVAILABLE',
    `the agent did not come up within ${AGENT_START_TIMEOUT_MS / 1000} s; see ${logPath}`,
  )
}

export function describeAttachment(a: AttachmentInfo): string {
  const where = a.localBusid ? `as ${a.localBusid}` : `on vhci port ${a.port ?? '?'}`
  const devices = a.devices.length ? `: ${a.devices.join(' ')}` : ''
  return `attached ${a.exporter}:${a.target} (${a.remoteBusid}) ${where}, ${a.path ?? a.state}${devices}`
}

export function formatStatus(status: AgentStatus): string {
  const lines = [`agent ${status.peerId}${status.hub ? `  hub ${status.hub}` : ''}`]
  if (status.attachments.length === 0 && status.forwards.length === 0) lines.push('no tunnels')
  for (const a of status.attachments) {
    lines.push(
      `${a.exporter}:${a.target}  ${a.state}${a.path ? ` ${a.path}` : ''}  peer ${a.peerId}` +
        `${a.rttMs !== undefined ? `  rtt ${a.rttMs.toFixed(1)} ms` : ''}  in ${bytes(a.bytesIn)} out ${bytes(a.bytesOut)}` +
        `${a.localBusid ? `  ${a.localBusid}` : ''}${a.devices.length ? ` ${a.devices.join(' ')}` : ''}` +
        `${a.reconnects ? `  reconnects ${a.reconnects}` : ''}${a.lastError && a.state !== 'attached' ? `  last error: ${a.lastError}` : ''}`,
    )
    if (a.remoteAddress) lines.push(`    via ${a.remoteAddress}`)
  }
  for (const f of status.forwards) {
    // ended: its lease is over; it refuses usbip until `tether forward` runs again.
    const state = f.state === 'ended' ? 'ended' : (f.path ?? 'not connected')
    lines.push(
      `forward ${f.exporter}:${f.place} on ${f.address}  ${state}  peer ${f.peerId}  ` +
        `${f.rttMs !== undefined ? `rtt ${f.rttMs.toFixed(1)} ms  ` : ''}` +
        `${f.active} active / ${f.connections} connections  in ${bytes(f.bytesIn)} out ${bytes(f.bytesOut)}` +
        `${f.lastError ? `  last error: ${f.lastError}` : ''}`,
    )
  }
  return `${lines.join('\n')}\n`
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}
