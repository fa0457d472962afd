/**
 * The USB/IP tunnel handshake on a USBIP_TUNNEL_PROTOCOL stream: the importer sends TunnelOpen,
 * the exporter answers TunnelOpenResult; on STATUS_OK both sides switch to raw USB/IP bytes,
 * carried by a Node Duplex (streamToDuplex) so @tether/usbip runs over it unchanged.
 */
import type { Duplex } from 'node:stream'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { USBIP_TUNNEL_PROTOCOL } from './constants.js'
import { streamToDuplex } from './duplex.js'
import { NetError } from './errors.js'
import { type Logger, silentLogger } from './logger.js'
import { TunnelOpen, TunnelOpenResult, type TunnelStatus } from './messages.js'
import type { TetherNode } from './node.js'
import { MessageReader, writeMessage } from './stream-messages.js'

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000

export interface TunnelRequest {
  readonly open: TunnelOpen
  /** The peer, authenticated by noise. */
  readonly remotePeer: PeerId
  /** Answer STATUS_OK and hand over the stream as a Duplex carrying raw USB/IP. */
  accept(message?: string): Promise<Duplex>
  /**
   * Answer with a refusal and close the stream. `code`: the machine-readable reason, if any
   * (ERR_[A-Z0-9_]{1,60}, e.g. ERR_TOKEN_REVOKED); the importer finds it in details.code.
   */
  refuse(status: Exclude<TunnelStatus, 'STATUS_OK'>, message: string, code?: string): Promise<void>
}

/**
 * Exporter side: read the TunnelOpen preamble (bounded by `timeoutMs`). Aborts the stream and
 * rethrows on a malformed or missing preamble.
 */
export async function receiveTunnelOpen(
  stream: Stream,
  connection: Pick<Connection, 'remotePeer'>,
  options: { timeoutMs?: number; logger?: Logger } = {},
): Promise<TunnelRequest> {
  const log = (options.logger ?? silentLogger).child('net:tunnel')
  const reader = new MessageReader(stream)
  let open: TunnelOpen
  try {
    open = await reader.read(TunnelOpen, {
      signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS),
    })
  } catch (err) {
    log.warn('bad tunnel preamble', {
      peer: connection.remotePeer.toString(),
      code: (err as { code?: string }).code,
    })
    stream.abort(err as Error)
    throw err
  }
  let answered = false
  const once = () => {
    if (answered) throw new NetError('ERR_BAD_CONFIG', 'tunnel request already answered', { origin: 'local' })
    answered = true
  }
  return {
    open,
    remotePeer: connection.remotePeer,
    async accept(message = '') {
      once()
      await writeMessage(stream, TunnelOpenResult, { status: 'STATUS_OK', message })
      log.info('tunnel open', { peer: connection.remotePeer.toString(), busid: open.busid })
      return streamToDuplex(stream, { initial: reader.release(), logger: log })
    },
    async refuse(status, message, code) {
      once()
      reader.release()
      log.info('tunnel refused', {
        peer: connection.remotePeer.toString(),
        busid: open.busid,
        status,
        ...(code !== undefined ? { code } : {}),
      })
      await writeMessage(stream, TunnelOpenResult, {
        status,
        message,
        ...(code !== undefined ? { code } : {}),
      })
      await stream.close().catch((err: Error) => stream.abort(err))
    },
  }
}

/**
 * Importer side: open a tunnel stream to `peer` (or on an existing `Connection`, e.g. the direct
 * one), ask for `busid` ("" = device list only), and return the Duplex carrying raw USB/IP once
 * the exporter accepts. Throws NetError ERR_TUNNEL_REFUSED on a refusal: details.status,
 * details.message and, when the exporter gave one, details.code (e.g. ERR_TOKEN_REVOKED).
 */
export async function openTunnel(
  via: TetherNode | Connection,
  peer: PeerId | Multiaddr | Multiaddr[] | undefined,
  request: { busid: string; token?: Uint8Array },
  options: { timeoutMs?: number; logger?: Logger; signal?: AbortSignal } = {},
): Promise<Duplex> {
  const log = (options.logger ?? silentLogger).child('net:tunnel')
  const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS)
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
  const streamOptions = { signal, runOnLimitedConnection: true }
  let stream: Stream
  if ('newStream' in via) {
    stream = await via.newStream(USBIP_TUNNEL_PROTOCOL, streamOptions)
  } else {
    if (peer === undefined)
      throw new NetError('ERR_BAD_CONFIG', 'openTunnel needs a peer', { origin: 'local' })
    stream = await via.dialProtocol(peer, USBIP_TUNNEL_PROTOCOL, streamOptions)
  }
  const reader = new MessageReader(stream)
  try {
    await writeMessage(
      stream,
      TunnelOpen,
      { busid: request.busid, token: request.token ?? new Uint8Array(0) },
      { signal },
    )
    const result = await reader.read(TunnelOpenResult, { signal })
    if (result.status !== 'STATUS_OK') {
      const what = request.busid === '' ? 'device list' : request.busid
      throw new NetError(
        'ERR_TUNNEL_REFUSED',
        `tunnel to ${what} refused: ${result.status}${result.message ? ` (${result.message})` : ''}`,
        {
          details: {
            busid: request.busid,
            status: result.status,
            message: result.message,
            ...(result.code !== undefined ? { code: result.code } : {}),
          },
        },
      )
    }
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
  log.debug('tunnel open', { busid: request.busid })
  return streamToDuplex(stream, { initial: reader.release(), logger: log })
}
