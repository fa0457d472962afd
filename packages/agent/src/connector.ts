/**
 * Reaching an exporter: its announced addresses first, then the hub's relay; a relayed
 * connection is upgraded by asking the exporter to dial us back (works whenever we are
 * reachable). TCP hole punching is not available from Node, so two NAT'd peers stay relayed.
 */
import type { Connection } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import {
  type ConnectionPath,
  connectionPath,
  directConnection,
  isCircuitAddress,
  isLoopbackAddress,
  requestDialBack,
  type TetherNode,
} from '@tether/net'
import { type Logger, silentLogger } from '@tether/usbip'
import { DIRECT_DIAL_TIMEOUT_MS, RELAY_DIAL_TIMEOUT_MS } from './constants.js'
import { AgentError } from './errors.js'

export interface ExporterTarget {
  /** The exporter's PeerId (from the directory: noise-authenticated by the hub). */
  readonly peerId: string
  /** Its announced addresses: direct ones and relay circuits. */
  readonly addresses: readonly string[]
}

export interface ConnectOptions {
  /** The hub, with /p2p/<id>: its relay is the fallback. */
  readonly hub?: Multiaddr
  readonly logger?: Logger
  readonly signal?: AbortSignal
  readonly directTimeoutMs?: number
  readonly relayTimeoutMs?: number
}

export interface ExporterConnection {
  readonly connection: Connection
  readonly path: ConnectionPath
}

/** Split announced addresses into direct ones and relay circuits, each ending in /p2p/<peer>. */
export function planDial(
  target: ExporterTarget,
  hub?: Multiaddr,
): { direct: Multiaddr[]; relayed: Multiaddr[] } {
  const suffix = `/p2p/${target.peerId}`
  // The exporter's loopback addresses lead to it only when the hub is on loopback too.
  const sameHost = hub !== undefined && isLoopbackAddress(hub)
  const direct: Multiaddr[] = []
  const relayed: Multiaddr[] = []
  for (const text of target.addresses) {
    let address: Multiaddr
    try {
      address = multiaddr(text.endsWith(suffix) ? text : `${text}${suffix}`)
    } catch {
      continue
    }
    if (isCircuitAddress(address)) relayed.push(address)
    else if (sameHost || !isLoopbackAddress(address)) direct.push(address)
  }
  if (hub) {
    const viaHub = multiaddr(`${hub.toString()}/p2p-circuit${suffix}`)
    if (!relayed.some((a) => a.equals(viaHub))) relayed.push(viaHub)
  }
  return { direct, relayed }
}

/** Connect to an exporter, direct first. Throws AgentError ERR_UNREACHABLE naming what was tried. */
export async function connectExporter(
  node: TetherNode,
  target: ExporterTarget,
  options: ConnectOptions = {},
): Promise<ExporterConnection> {
  const log = (options.logger ?? silentLogger).child('agent:connect')
  const peer = peerIdFromString(target.peerId)
  const existing = directConnection(node.getConnections(peer))
  if (existing) return { connection: existing, path: 'direct' }
  const { direct, relayed } = planDial(target, options.hub)
  const failures: string[] = []

  const first = await dialDirect(node, target.peerId, direct, options, log, failures)
  if (first) return first

  if (relayed.length > 0) {
    try {
      const connection = await node.dial(relayed, {
        signal: withTimeout(options.signal, options.relayTimeoutMs ?? RELAY_DIAL_TIMEOUT_MS),
      })
      log.info('relayed connection', { peer: target.peerId, address: connection.remoteAddr.toString() })
      const upgraded = await upgrade(node, connection, log, options.signal)
      return upgraded ?? { connection, path: connectionPath(connection) }
    } catch (err) {
      options.signal?.throwIfAborted()
      failures.push(`relay: ${(err as Error).message}`)
    }
  }

  throw new AgentError(
    'ERR_UNREACHABLE',
    `cannot reach exporter ${target.peerId}: ${failures.join('; ') || 'it announced no address and no hub relay was given'}`,
    { details: { peer: target.peerId, failures } },
  )
}

/** Dial the exporter's own addresses; the connection if it is direct, else undefined. */
async function dialDirect(
  node: TetherNode,
  peerId: string,
  direct: readonly Multiaddr[],
  options: ConnectOptions,
  log: Logger,
  failures: string[],
): Promise<ExporterConnection | undefined> {
  if (direct.length === 0) return undefined
  try {
    const connection = await node.dial([...direct], {
      signal: withTimeout(options.signal, options.directTimeoutMs ?? DIRECT_DIAL_TIMEOUT_MS),
    })
    if (connectionPath(connection) === 'direct') {
      log.info('direct connection', { peer: peerId, address: connection.remoteAddr.toString() })
      return { connection, path: 'direct' }
    }
  } catch (err) {
    options.signal?.throwIfAborted()
    failures.push(
      `direct (${direct.length} address${direct.length === 1 ? '' : 'es'}): ${(err as Error).message}`,
    )
    log.debug('direct dial failed', { peer: peerId, error: (err as Error).message })
  }
  return undefined
}

/**
 * While an exporter is reachable only through the relay, try for a direct path again: its own
 * addresses, then a dial-back. The agent calls this periodically, so that new tunnels go direct
 * as soon as either side becomes reachable. Undefined when nothing changed.
 */
export async function tryDirect(
  node: TetherNode,
  target: ExporterTarget,
  options: ConnectOptions = {},
): Promise<ExporterConnection | undefined> {
  const log = (options.logger ?? silentLogger).child('agent:connect')
  const connections = node.getConnections(peerIdFromString(target.peerId)).filter((c) => c.status === 'open')
  const relayed = connections.at(-1)
  if (relayed === undefined || directConnection(connections)) return undefined
  const viaOwn = await dialDirect(node, target.peerId, planDial(target, options.hub).direct, options, log, [])
  return viaOwn ?? (await upgrade(node, relayed, log, options.signal))
}

/** Ask the exporter on a relayed connection to dial us; the direct connection if it worked. */
export async function upgrade(
  node: TetherNode,
  relayed: Connection,
  log: Logger,
  signal?: AbortSignal,
): Promise<ExporterConnection | undefined> {
  try {
    const direct = await requestDialBack(node, relayed, { logger: log, signal })
    if (direct) {
      log.info('upgraded to a direct connection', {
        peer: relayed.remotePeer.toString(),
        address: direct.remoteAddr.toString(),
      })
      return { connection: direct, path: 'direct' }
    }
  } catch (err) {
    log.debug('dial-back failed', { peer: relayed.remotePeer.toString(), error: (err as Error).message })
  }
  return undefined
}

/** The best open connection to a peer: direct if any, else any open one. */
export function bestConnection(node: TetherNode, peerId: string): ExporterConnection | undefined {
  const connections = node.getConnections(peerIdFromString(peerId)).filter((c) => c.status === 'open')
  const direct = directConnection(connections)
  if (direct) return { connection: direct, path: 'direct' }
  const any = connections.at(-1)
  return any ? { connection: any, path: connectionPath(any) } : undefined
}

function withTimeout(signal: AbortSignal | undefined, ms: number): AbortSignal {
  const timeout = AbortSignal.timeout(ms)
  return signal ? AbortSignal.any([signal, timeout]) : timeout
}
