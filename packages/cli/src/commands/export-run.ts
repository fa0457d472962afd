/** What `tether export` does; loaded only when the command runs, because it pulls in libp2p. */
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
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
import { CliUsageError } from '../address.js'
import { untilStopSignal } from '../stop-signal.js'
import type { ExportArgs } from './export.js'

export async function runExport(args: ExportArgs, makeLogger: () => Logger): Promise<void> {
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
    ...(args.insecureOpen
      ? { openMode: true }
      : {
          auth: {
            // The hub's keys, kept so capability tokens verify while the hub is unreachable.
            jwksCache: join(dirname(identityPath), `${config.name}.hub-jwks.json`),
            revokedLeases: join(dirname(identityPath), `${config.name}.revoked-leases.json`),
            ...(args.joinToken ? { joinToken: args.joinToken } : {}),
          },
        }),
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

  await untilStopSignal(log)
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
