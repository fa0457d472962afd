/**
 * The one way tether builds a libp2p node: TCP (+ WebSockets) transports, noise encryption,
 * yamux muxing with tether's stream window, identify. No mDNS, DHT or bootstrap: peers are found
 * through the hub and dialled by multiaddr.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { type Identify, identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
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
}

export type TetherNode = Libp2p<{ identify: Identify }>

/** Create and start a node. Throws NetError ERR_BAD_CONFIG for an unparsable listen address. */
export async function createTetherNode(options: TetherNodeOptions): Promise<TetherNode> {
  const log = (options.logger ?? silentLogger).child('net:node')
  for (const address of options.listen) {
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
  const node = await createLibp2p({
    privateKey: options.privateKey,
    addresses: { listen: [...options.listen] },
    transports: options.webSockets === false ? [tcp()] : [tcp(), webSockets()],
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
    services: { identify: identify() },
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
