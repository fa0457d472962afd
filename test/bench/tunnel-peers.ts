/**
 * The far ends of `pnpm bench:tunnel`, each run as its own process (own event loop, own core
 * share), started by tunnel-bench.ts:
 *
 *   node tunnel-peers.js relay            a circuit-relay-v2 relay without default limits
 *   node tunnel-peers.js exporter [RELAY] Gadget Zero behind a UsbipServer, served over raw TCP
 *                                         and over USBIP_TUNNEL_PROTOCOL (direct, and through
 *                                         RELAY when given)
 *
 * Each prints one JSON line with its addresses once ready, and stops cleanly on SIGTERM (so
 * --cpu-prof profiles get written).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createTetherNode,
  loadOrCreateIdentity,
  receiveTunnelOpen,
  type TetherNode,
  USBIP_TUNNEL_PROTOCOL,
} from '@tether/net'
import { UsbipServer } from '@tether/usbip'
import { createVirtualDevice } from '@tether/virtual'

/** A node on loopback TCP only, with a throwaway identity. */
export async function benchNode(
  options: { relayClient?: boolean; relayServer?: boolean; listen?: string[] } = {},
): Promise<{ node: TetherNode; dispose: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tether-bench-'))
  const { privateKey } = await loadOrCreateIdentity(join(dir, 'identity.key'))
  const node = await createTetherNode({
    privateKey,
    listen: options.listen ?? ['/ip4/127.0.0.1/tcp/0'],
    webSockets: false,
    ...(options.relayClient ? { relayClient: true } : {}),
    ...(options.relayServer
      ? { relayServer: { reservations: { applyDefaultLimit: false, maxReservations: 64 } } }
      : {}),
  })
  return {
    node,
    dispose: async () => {
      await node.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function relay(): Promise<() => Promise<void>> {
  const { node, dispose } = await benchNode({ relayServer: true })
  process.stdout.write(`${JSON.stringify({ addresses: node.getMultiaddrs().map((a) => a.toString()) })}\n`)
  return dispose
}

async function exporter(relayAddress: string | undefined): Promise<() => Promise<void>> {
  const device = createVirtualDevice('gadget-zero')
  const server = new UsbipServer({ devices: [device] })
  const tcp = await server.listen(0, '127.0.0.1')
  const listen = ['/ip4/127.0.0.1/tcp/0', ...(relayAddress ? [`${relayAddress}/p2p-circuit`] : [])]
  const { node, dispose } = await benchNode({ relayClient: relayAddress !== undefined, listen })
  await node.handle(
    USBIP_TUNNEL_PROTOCOL,
    async (stream, connection) => {
      try {
        const request = await receiveTunnelOpen(stream, connection)
        server.serveStream(await request.accept())
      } catch (err) {
        process.stderr.write(`exporter: tunnel failed: ${(err as Error).message}\n`)
      }
    },
    { runOnLimitedConnection: true },
  )
  if (relayAddress) {
    await waitFor(
      () => node.getMultiaddrs().some((a) => a.toString().includes('/p2p-circuit')),
      'relay reservation',
    )
  }
  const addresses = node.getMultiaddrs().map((a) => a.toString())
  process.stdout.write(
    `${JSON.stringify({ usbipPort: tcp.port, peerId: node.peerId.toString(), addresses })}\n`,
  )
  return async () => {
    await server.close()
    await dispose()
  }
}

async function main(): Promise<void> {
  const [role, argument] = process.argv.slice(2)
  let stop: () => Promise<void>
  if (role === 'relay') stop = await relay()
  else if (role === 'exporter') stop = await exporter(argument)
  else throw new Error(`usage: tunnel-peers.js relay | exporter [RELAY_MULTIADDR] (got ${role})`)
  const onSignal = () => {
    const force = setTimeout(() => process.exit(1), 5000)
    force.unref()
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  // The parent going away (stdin closes) stops us too.
  process.stdin.on('end', onSignal)
  process.stdin.resume()
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
