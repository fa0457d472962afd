/** `tether export`: serve the places of a places.toml through tunnels and register them with a hub. */
import { readFile } from 'node:fs/promises'
import {
  buildDevices,
  defaultIdentityPath,
  disposeDevices,
  type ExportedInterface,
  type ExporterConfig,
  ExporterError,
  isExporterError,
  parseHubAddress,
  parsePlacesToml,
  startExporter,
} from '@tether/exporter'
import { isNetError, type Logger, loadOrCreateIdentity } from '@tether/net'
import type { Argv } from 'yargs'
import { CliUsageError } from '../address.js'

export interface ExportArgs {
  places: string
  hub: string | undefined
  listen: string[] | undefined
  announce: string[] | undefined
  identity: string | undefined
  open: boolean
  json: boolean
  check: boolean
}

const OPEN_REQUIRED =
  'authorization is not implemented yet: pass --open to run an exporter that anyone who can reach it ' +
  'can attach to (use it only on a network you trust)'

export function exportCommand(cli: Argv, makeLogger: () => Logger) {
  return cli.command<ExportArgs>(
    'export <places>',
    'Export the places described in a places.toml: serve their devices over tunnels and register with a hub',
    (y) =>
      y
        .positional('places', { type: 'string', demandOption: true, describe: 'The places.toml file' })
        .option('hub', {
          type: 'string',
          describe: 'Hub multiaddr ending in /p2p/<hub peer id> (overrides [hub] address)',
        })
        .option('listen', {
          type: 'string',
          array: true,
          describe: 'Multiaddr to listen on, repeatable (overrides [network] listen)',
        })
        .option('announce', {
          type: 'string',
          array: true,
          describe: 'Extra multiaddr to announce, repeatable (overrides [network] announce)',
        })
        .option('identity', {
          type: 'string',
          describe:
            'Identity key file (default [network] identity, else $XDG_STATE_HOME/tether/exporter.key)',
        })
        .option('open', {
          type: 'boolean',
          default: false,
          describe: 'Required for now: run without authorization (anyone who can reach it can attach)',
        })
        .option('json', { type: 'boolean', default: false, describe: 'Print events as JSON lines' })
        .option('check', {
          type: 'boolean',
          default: false,
          describe: 'Only validate the file and print its places (no network); exit 0 if valid, 1 if not',
        })
        .example('$0 export --check places.toml', 'validate places.toml')
        .example(
          '$0 export --open --hub /ip4/192.0.2.1/tcp/4001/p2p/12D3KooW... places.toml',
          'run the exporter',
        ),
    async (args) => {
      const out = (human: string, json: Record<string, unknown>) =>
        process.stdout.write(args.json ? `${JSON.stringify(json)}\n` : `${human}\n`)
      try {
        const config = await loadConfig(args.places)
        if (args.check) {
          const interfaces = buildDevices(config)
          await disposeDevices(interfaces)
          printPlaces(config, interfaces, out)
          out(`${config.file}: OK`, { event: 'checked', file: config.file, ok: true })
          return
        }
        await run(args, config, makeLogger(), out)
      } catch (err) {
        if (err instanceof CliUsageError) throw err
        if (isExporterError(err) || isNetError(err)) {
          if (args.json) {
            out('', { event: 'error', code: err.code, message: err.message })
          }
          process.stderr.write(`tether: ${err.message}\n`)
          process.exit(1)
        }
        throw err
      }
    },
  )
}

type Out = (human: string, json: Record<string, unknown>) => void

async function loadConfig(file: string): Promise<ExporterConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new ExporterError(
      'ERR_CONFIG',
      `cannot read ${file} (${code ?? String(err)}); give the path of your places.toml`,
      {
        details: { file },
        cause: err,
      },
    )
  }
  return parsePlacesToml(text, file)
}

async function run(args: ExportArgs, config: ExporterConfig, log: Logger, out: Out): Promise<void> {
  if (!args.open) throw new CliUsageError(OPEN_REQUIRED)
  const hubText = args.hub ?? config.hub?.address
  if (hubText === undefined) {
    throw new CliUsageError(
      `no hub to register with: pass --hub MULTIADDR (ending in /p2p/<hub peer id>) or set address under [hub] in ${config.file}`,
    )
  }
  const hub = parseHubAddress(hubText, args.hub !== undefined ? '--hub' : `${config.file}: hub.address`)
  const hubPeer = hub.getComponents().findLast((c) => c.name === 'p2p')?.value ?? ''
  const identityPath = args.identity ?? config.network.identity ?? defaultIdentityPath()
  const identity = await loadOrCreateIdentity(identityPath, { logger: log })

  // Registration events can arrive before the start lines are out: hold them until then.
  let started = false
  const held: (() => void)[] = []
  const whenStarted = (print: () => void) => (started ? print() : held.push(print))

  const exporter = await startExporter({
    config,
    privateKey: identity.privateKey,
    hub,
    ...(args.listen?.length ? { listen: args.listen } : {}),
    ...(args.announce?.length ? { announce: args.announce } : {}),
    logger: log,
    openMode: true,
    onRegistration: (state, detail) =>
      whenStarted(() => {
        if (state === 'registered') {
          out(`registered with hub ${hubPeer}`, { event: 'registered', hub: hubPeer })
        } else if (args.json) {
          out('', {
            event: 'retrying',
            hub: hubPeer,
            error: detail?.error?.message,
            retryInMs: detail?.retryInMs,
          })
        }
      }),
    onRelay: (reserved) =>
      whenStarted(() => {
        if (args.json) out('', { event: reserved ? 'relay-reserved' : 'relay-lost', hub: hubPeer })
      }),
  })
  out(`exporter ${exporter.name} peer ${exporter.node.peerId.toString()}`, {
    event: 'started',
    name: exporter.name,
    peerId: exporter.node.peerId.toString(),
    identity: identityPath,
    hub: hub.toString(),
    addresses: exporter.addresses(),
  })
  printPlaces(config, exporter.interfaces, out)
  started = true
  for (const print of held.splice(0)) print()

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info('stopping', { signal })
      resolve()
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
  await exporter.stop()
  out(`exporter ${exporter.name} stopped`, { event: 'stopped', name: exporter.name })
}

/** One line per place, part and interface (usb interfaces with their busid and VID:PID). */
function printPlaces(config: ExporterConfig, interfaces: readonly ExportedInterface[], out: Out): void {
  const byPath = new Map(interfaces.map((i) => [i.path, i]))
  config.places.forEach((place, p) => {
    const tags = place.tags.length > 0 ? `  tags: ${place.tags.join(', ')}` : ''
    out(`place ${place.name}${tags}`, { event: 'place', name: place.name, tags: place.tags })
    place.parts.forEach((part, q) => {
      const compatible = part.compatible.length > 0 ? `  compatible: ${part.compatible.join(', ')}` : ''
      out(`  part ${part.name}${compatible}`, {
        event: 'part',
        place: place.name,
        name: part.name,
        compatible: part.compatible,
      })
      part.interfaces.forEach((iface, i) => {
        const device = byPath.get(`place[${p}].part[${q}].interface[${i}]`)
        const json = {
          event: 'interface',
          place: place.name,
          part: part.name,
          name: iface.name,
          kind: iface.kind,
        }
        if (!device) {
          out(`    ${iface.kind} ${iface.name}`, json)
          return
        }
        const id = `${hex(device.vendorId)}:${hex(device.productId)}`
        out(`    ${iface.kind} ${iface.name}  busid ${device.busid}  ${id}  ${device.description}`, {
          ...json,
          busid: device.busid,
          vendorId: device.vendorId,
          productId: device.productId,
          description: device.description,
        })
      })
    })
  })
}

function hex(value: number): string {
  return value.toString(16).padStart(4, '0')
}
