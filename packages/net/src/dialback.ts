/**
 * Connection upgrade by dial-back: over a relayed connection the importer asks the exporter to
 * dial it directly. This is the path to a direct connection when only the importer is reachable
 * (e.g. the exporter sits behind NAT): TCP hole punching is not available from Node.
 *
 * The answerer dials only the requester's PeerId, at most MAX_DIALBACK_ADDRESSES plain TCP/WS
 * addresses, one request at a time per peer, so it cannot be used to connect to third parties.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { connectionPath, directConnection, isCircuitAddress, isLoopbackAddress } from './connection-path.js'
import { DIALBACK_PROTOCOL } from './constants.js'
import { NetError } from './errors.js'
import { type Logger, silentLogger } from './logger.js'
import { badField, defineMessage, type MessageCodec } from './messages.js'
import type { TetherNode } from './node.js'
import { MessageReader, writeMessage } from './stream-messages.js'

export const MAX_DIALBACK_ADDRESSES = 8
export const DEFAULT_DIALBACK_TIMEOUT_MS = 5_000

export interface DialBackRequest {
  readonly addresses: readonly string[]
}

export interface DialBackResult {
  readonly connected: boolean
  readonly address: string
  readonly message: string
}

export const DialBackRequest: MessageCodec<DialBackRequest> = defineMessage(
  'tether.v1.DialBackRequest',
  (o) => {
    const addresses = o.addresses
    if (!Array.isArray(addresses) || addresses.length > MAX_DIALBACK_ADDRESSES) {
      throw badField('DialBackRequest', 'addresses', `must list at most ${MAX_DIALBACK_ADDRESSES} addresses`)
    }
    for (const address of addresses) {
      if (typeof address !== 'string' || address.length > 256) {
        throw badField('DialBackRequest', 'addresses', 'must be multiaddr strings of at most 256 chars')
      }
    }
    return { addresses: addresses as string[] }
  },
)

export const DialBackResult: MessageCodec<DialBackResult> = defineMessage('tether.v1.DialBackResult', (o) => {
  const { connected, address, message } = o
  if (typeof connected !== 'boolean') throw badField('DialBackResult', 'connected', 'must be a bool')
  if (typeof address !== 'string' || address.length > 256) {
    throw badField('DialBackResult', 'address', 'must be a string of at most 256 chars')
  }
  if (typeof message !== 'string' || message.length > 1024) {
    throw badField('DialBackResult', 'message', 'must be a string of at most 1024 chars')
  }
  return { connected, address, message }
})

/** Only direct transports we can dial: TCP or WebSockets over IP/DNS, no relays, no /p2p of others. */
export function dialBackTargets(addresses: readonly string[], peer: PeerId): string[] {
  const targets: string[] = []
  for (const text of addresses.slice(0, MAX_DIALBACK_ADDRESSES)) {
    let address: ReturnType<typeof multiaddr>
    try {
      address = multiaddr(text)
    } catch {
      continue
    }
    if (isCircuitAddress(address)) continue
    const names = address.getComponents().map((c) => c.name)
    if (!['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(names[0] ?? '') || names[1] !== 'tcp') continue
    const p2p = address.getComponents().find((c) => c.name === 'p2p')
    if (p2p && p2p.value !== peer.toString()) continue
    targets.push(p2p ? text : `${text}/p2p/${peer.toString()}`)
  }
  return targets
}

/** Answer dial-back requests (exporters). Returns a function that unregisters the handler. */
export async function handleDialBack(
  node: TetherNode,
  options: { logger?: Logger; timeoutMs?: number } = {},
): Promise<() => Promise<void>> {
  const log = (options.logger ?? silentLogger).child('net:dialback')
  const busy = new Set<string>()
  await node.handle(
    DIALBACK_PROTOCOL,
    async (stream: Stream, connection: Connection) => {
      const peer = connection.remotePeer
      const reader = new MessageReader(stream)
      const timeoutMs = options.timeoutMs ?? DEFAULT_DIALBACK_TIMEOUT_MS
      let result: DialBackResult
      try {
        const request = await reader.read(DialBackRequest, { signal: AbortSignal.timeout(timeoutMs) })
        result = await dialBack(node, peer, request, busy, timeoutMs, log)
        await writeMessage(stream, DialBackResult, result)
        await stream.close()
      } catch (err) {
        log.debug('dial-back stream failed', { peer: peer.toString(), error: (err as Error).message })
        stream.abort(err as Error)
      }
    },
    { runOnLimitedConnection: true },
  )
  return () => node.unhandle(DIALBACK_PROTOCOL)
}

async function dialBack(
  node: TetherNode,
  peer: PeerId,
  request: DialBackRequest,
  busy: Set<string>,
  timeoutMs: number,
  log: Logger,
): Promise<DialBackResult> {
  const key = peer.toString()
  const existing = directConnection(node.getConnections(peer))
  if (existing) return { connected: true, address: existing.remoteAddr.toString(), message: 'already direct' }
  if (busy.has(key))
    return { connected: false, address: '', message: 'a dial-back to you is already running' }
  const targets = dialBackTargets(request.addresses, peer)
  if (targets.length === 0) return { connected: false, address: '', message: 'no dialable address given' }
  busy.add(key)
  try {
    const connection = await node.dial(
      targets.map((t) => multiaddr(t)),
      { signal: AbortSignal.timeout(timeoutMs), force: true },
    )
    if (connectionPath(connection) !== 'direct') {
      return { connected: false, address: '', message: 'only a relayed connection came up' }
    }
    log.info('dialled back', { peer: key, address: connection.remoteAddr.toString() })
    return { connected: true, address: connection.remoteAddr.toString(), message: '' }
  } catch (err) {
    log.debug('dial-back failed', { peer: key, error: (err as Error).message })
    return {
      connected: false,
      address: '',
      message: `cannot reach you: ${(err as Error).message}`.slice(0, 1024),
    }
  } finally {
    busy.delete(key)
  }
}

/**
 * Ask the peer behind `relayed` to dial us at our own addresses. Resolves with the direct
 * connection when one exists afterwards, or undefined (with the reason logged).
 */
export async function requestDialBack(
  node: TetherNode,
  relayed: Connection,
  options: { logger?: Logger; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Connection | undefined> {
  const log = (options.logger ?? silentLogger).child('net:dialback')
  const timeout = AbortSignal.timeout((options.timeoutMs ?? DEFAULT_DIALBACK_TIMEOUT_MS) + 2_000)
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
  // Loopback addresses mean something to the peer only when it runs on this host.
  const local = isLoopbackAddress(relayed.remoteAddr)
  const addresses = node
    .getMultiaddrs()
    .filter((a) => !isCircuitAddress(a) && (local || !isLoopbackAddress(a)))
    .map((a) => a.toString())
    .slice(0, MAX_DIALBACK_ADDRESSES)
  if (addresses.length === 0) return undefined
  const stream = await relayed.newStream(DIALBACK_PROTOCOL, { signal, runOnLimitedConnection: true })
  try {
    await writeMessage(stream, DialBackRequest, { addresses }, { signal })
    const result = await new MessageReader(stream).read(DialBackResult, { signal })
    await stream.close().catch(() => {})
    if (!result.connected) {
      log.debug('no dial-back', { peer: relayed.remotePeer.toString(), reason: result.message })
      return undefined
    }
  } catch (err) {
    stream.abort(err as Error)
    if (err instanceof NetError) throw err
    throw new NetError('ERR_CLOSED', `dial-back request failed: ${(err as Error).message}`, { cause: err })
  }
  return directConnection(node.getConnections(relayed.remotePeer))
}
