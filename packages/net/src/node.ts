/**
 * The one way tether builds a libp2p node: TCP (+ WebSockets) transports, noise encryption,
 * yamux muxing with tether's stream window, identify and ping; optionally the circuit-relay-v2
 * transport (exporters, importers) or relay server (hub). No mDNS, DHT or bootstrap: peers are
 * found through the hub and dialled by multiaddr.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import {
  type CircuitRelayServerInit,
  type CircuitRelayService,
  circuitRelayServer,
  circuitRelayTransport,
} from '@libp2p/circuit-relay-v2'
import { type Identify, identify } from '@libp2p/identify'
import type { ConnectionGater, Libp2p, PrivateKey } from '@libp2p/interface'
import { type Ping, ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { STREAM_MAX_READ_BUFFER, YAMUX_INITIAL_STREAM_WINDOW, YAMUX_MAX_STREAM_WINDOW } from './constants.js'
import { NetError } from './errors.js'
import { type Logger, silentLogger } from './logger.js'

export interface YamuxWindowOptions {
  /** Must equal the peer's value; see YAMUX_INITIAL_STREAM_WINDOW. */
  readonly initialStreamWindowSize?: number
  readonly maxStreamWindowSize?: number
}

export interface TetherNodeOptions {
  readonly privateKey: PrivateKey
  /** Multiaddrs to listen on, e.g. '/ip4/127.0.0.1/tcp/0' or '/ip4/127.0.0.1/tcp/0/ws'. */
  readonly listen: readonly string[]
  readonly logger?: Logger
  /** Defaults come from constants.ts; both ends must use the same initial window. */
  readonly yamux?: YamuxWindowOptions
  /** Add the WebSockets transport (default true). */
  readonly webSockets?: boolean
  /** Dial and listen through circuit-relay-v2 relays (`/p2p-circuit` addresses). */
  readonly relayClient?: boolean
  /** Act as a circuit-relay-v2 relay (the hub); gate it with `connectionGater`. */
  readonly relayServer?: CircuitRelayServerInit
  readonly connectionGater?: ConnectionGater
  /** Addresses to announce instead of the listen addresses (port mappings, NAT). */
  readonly announce?: readonly string[]
  /**
   * New inbound connections accepted per second from one host (libp2p's default is 5). A hub
   * raises it: a lab or CI farm behind one NAT opens many at once.
   */
  readonly inboundConnectionsPerHostPerSecond?: number
}

// A type alias, not an interface: libp2p's ServiceMap needs the implicit index signature.
export type TetherServices = {
  identify: Identify
  ping: Ping
  /** Present when the node was created with `relayServer`. */
  relay?: CircuitRelayService
}

export type TetherNode = Libp2p<TetherServices>

/** Create and start a node. Throws NetError ERR_BAD_CONFIG for an unparsable listen address. */
export async function createTetherNode(options: TetherNodeOptions): Promise<TetherNode> {
  const log = (options.logger ?? silentLogger).child('net:node')
  for (const address of [...options.listen, ...(options.announce ?? [])]) {
    try {
      multiaddr(address)
    } catch (err) {
      throw new NetError('ERR_BAD_CONFIG', `listen address "${address}" is not a multiaddr`, {
        origin: 'local',
        details: { address },
        cause: err,
      })
    }
  }
  const initialStreamWindowSize = options.yamux?.initialStreamWindowSize ?? YAMUX_INITIAL_STREAM_WINDOW
  const maxStreamWindowSize = Math.max(
    options.yamux?.maxStreamWindowSize ?? YAMUX_MAX_STREAM_WINDOW,
    initialStreamWindowSize,
  )
  const transports = options.webSockets === false ? [tcp()] : [tcp(), webSockets()]
  const node = await createLibp2p<TetherServices>({
    privateKey: options.privateKey,
    addresses: {
      listen: [...options.listen],
      ...(options.announce ? { appendAnnounce: [...options.announce] } : {}),
    },
    transports: options.relayClient ? [...transports, circuitRelayTransport()] : transports,
    ...(options.connectionGater ? { connectionGater: options.connectionGater } : {}),
    ...(options.inboundConnectionsPerHostPerSecond !== undefined
      ? { connectionManager: { inboundConnectionThreshold: options.inboundConnectionsPerHostPerSecond } }
      : {}),
    connectionEncrypters: [noise()],
    streamMuxers: [
      yamux({
        streamOptions: {
          initialStreamWindowSize,
          maxStreamWindowSize,
          maxReadBufferLength: Math.max(STREAM_MAX_READ_BUFFER, 2 * maxStreamWindowSize),
        },
      }),
    ],
    services: {
      identify: identify(),
      ping: ping({ runOnLimitedConnection: true }),
      ...(options.relayServer ? { relay: circuitRelayServer(options.relayServer) } : {}),
    } as never,
    start: true,
  })
  node.addEventListener('connection:open', (event) => {
    const connection = event.detail
    log.debug('connection open', {
      peer: connection.remotePeer.toString(),
      remote: connection.remoteAddr.toString(),
      direction: connection.direction,
    })
  })
  node.addEventListener('connection:close', (event) => {
    log.debug('connection closed', { peer: event.detail.remotePeer.toString() })
  })
  log.info('node started', {
    peerId: node.peerId.toString(),
    addresses: node.getMultiaddrs().map((a) => a.toString()),
  })
  return node
}

/** How long stopNodeWithin waits by default. */
export const NODE_STOP_TIMEOUT_MS = 3_000

/**
 * Stop `node`, waiting at most `timeoutMs`: a libp2p stop can wait forever on a connection whose
 * peer never answers the close, and a command-line tool must still exit (a pending stop with an
 * empty event loop ends Node with "unsettled top-level await", exit 13). True if it stopped in time.
 */
export async function stopNodeWithin(node: TetherNode, timeoutMs = NODE_STOP_TIMEOUT_MS): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs)
  })
  try {
    return await Promise.race([
      Promise.resolve(node.stop()).then(
        () => true,
        () => true,
      ),
      timedOut,
    ])
  } finally {
    clearTimeout(timer)
  }
}
