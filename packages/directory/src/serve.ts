/**
 * Hub side: answer directory streams from a DirectoryRegistry. The registering exporter is the
 * connection's noise-authenticated peer. Registrations vanish when the exporter's last connection
 * to the hub closes, and expired ones are swept periodically.
 */
import type { Connection, Stream } from '@libp2p/interface'
import {
  isNetError,
  type Logger,
  MessageReader,
  silentLogger,
  type TetherNode,
  writeMessage,
} from '@tether/net'
import {
  DEFAULT_EXPIRE_INTERVAL_MS,
  DEFAULT_MAX_INBOUND_STREAMS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DIRECTORY_PROTOCOL,
  MAX_REQUEST_BYTES,
  MAX_RESPONSE_BYTES,
} from './constants.js'
import { DirectoryError } from './errors.js'
import {
  type DirectoryRequest,
  DirectoryRequestCodec,
  type DirectoryResponse,
  DirectoryResponseCodec,
  encodedEntrySize,
} from './messages.js'
import type { DirectoryRegistry } from './registry.js'
import type { DirectoryEntry, ExporterRegistration } from './types.js'

export interface ServeDirectoryOptions {
  readonly logger?: Logger
  /** How often expired registrations are swept (default DEFAULT_EXPIRE_INTERVAL_MS). */
  readonly expireIntervalMs?: number
  /** Time a client has to send its request (default DEFAULT_REQUEST_TIMEOUT_MS). */
  readonly requestTimeoutMs?: number
  /** Concurrent directory streams per connection (default DEFAULT_MAX_INBOUND_STREAMS). */
  readonly maxInboundStreams?: number
  /**
   * Whether `peer` may register `registration` (e.g. the name is enrolled to it); throw a
   * DirectoryError ERR_NOT_ADMITTED saying why not. Default: everyone may.
   */
  readonly admit?: (peer: string, registration: ExporterRegistration) => void
}

export interface DirectoryService {
  /** Resolves once the protocol handler is registered (rejects if it cannot be). */
  readonly ready: Promise<void>
  stop(): Promise<void>
}

export function serveDirectory(
  node: TetherNode,
  registry: DirectoryRegistry,
  options: ServeDirectoryOptions = {},
): DirectoryService {
  const log = (options.logger ?? silentLogger).child('directory:hub')
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS

  const openConnections = (peer: Connection['remotePeer'], except?: string) =>
    node.getConnections(peer).filter((c) => c.id !== except && c.status === 'open')

  const handle = async (stream: Stream, connection: Connection) => {
    const peer = connection.remotePeer.toString()
    const reader = new MessageReader(stream, { maxFrameSize: MAX_REQUEST_BYTES })
    let request: DirectoryRequest
    try {
      request = await reader.read(DirectoryRequestCodec, { signal: AbortSignal.timeout(requestTimeoutMs) })
    } catch (err) {
      log.warn('bad directory request', {
        peer,
        error: (err as Error).message,
        code: (err as { code?: string }).code,
      })
      stream.abort(err as Error)
      return
    }
    reader.release()
    const response = answer(request, connection)
    try {
      await writeMessage(stream, DirectoryResponseCodec, response, {
        maxFrameSize: MAX_RESPONSE_BYTES,
        signal: AbortSignal.timeout(requestTimeoutMs),
      })
      await stream.close({ signal: AbortSignal.timeout(requestTimeoutMs) })
    } catch (err) {
      log.debug('could not answer a directory request', { peer, error: (err as Error).message })
      stream.abort(err as Error)
    }
  }

  const answer = (request: DirectoryRequest, connection: Connection): DirectoryResponse => {
    const peer = connection.remotePeer.toString()
    try {
      switch (request.type) {
        case 'register': {
          options.admit?.(peer, request.registration)
          const before = registry.lookup(peer)
          const entry = registry.register(peer, request.registration, connection.remoteAddr.toString())
          if (openConnections(connection.remotePeer).length === 0) {
            // The connection closed while we handled the request: nothing keeps this entry.
            registry.unregister(peer)
          } else if (
            !before ||
            JSON.stringify(before.places) !== JSON.stringify(entry.places) ||
            before.name !== entry.name ||
            before.addresses.join() !== entry.addresses.join()
          ) {
            log.info(before ? 'exporter updated' : 'exporter registered', {
              peer,
              name: entry.name,
              places: entry.places.map((p) => p.name),
              addresses: entry.addresses,
              observed: entry.observedAddress,
            })
          }
          return { type: 'registered', ttlMs: registry.ttlMs, entry }
        }
        case 'refresh':
          return { type: 'registered', ttlMs: registry.ttlMs, entry: registry.refresh(peer) }
        case 'unregister': {
          const entry = registry.lookup(peer)
          const removed = registry.unregister(peer)
          if (entry) log.info('exporter unregistered', { peer, name: entry.name })
          return { type: 'unregistered', removed }
        }
        case 'query': {
          const { entries, truncated } = fit(registry.query(request.query))
          log.debug('directory query', { peer, query: request.query, matches: entries.length, truncated })
          return { type: 'result', entries, truncated }
        }
      }
    } catch (err) {
      if (err instanceof DirectoryError || (isNetError(err) && err.code === 'ERR_BAD_FIELD')) {
        const code = err instanceof DirectoryError ? err.code : 'ERR_BAD_REGISTRATION'
        log.info('directory request refused', { peer, type: request.type, code, reason: err.message })
        return { type: 'failure', code, message: err.message }
      }
      log.error('directory request failed', { peer, type: request.type, error: (err as Error).message })
      return { type: 'failure', code: 'ERR_HUB_ERROR', message: 'internal hub error; see the hub log' }
    }
  }

  const onConnectionClose = (event: CustomEvent<Connection>) => {
    const connection = event.detail
    const entry = registry.lookup(connection.remotePeer)
    if (!entry) return
    if (openConnections(connection.remotePeer, connection.id).length > 0) return
    registry.unregister(connection.remotePeer)
    log.info('exporter disconnected; registration dropped', { peer: entry.peerId, name: entry.name })
  }

  const sweep = setInterval(() => {
    for (const entry of registry.expire()) {
      log.info('registration expired', { peer: entry.peerId, name: entry.name })
    }
  }, options.expireIntervalMs ?? DEFAULT_EXPIRE_INTERVAL_MS)
  sweep.unref()

  node.addEventListener('connection:close', onConnectionClose)
  const ready = node
    .handle(DIRECTORY_PROTOCOL, (stream, connection) => handle(stream, connection), {
      maxInboundStreams: options.maxInboundStreams ?? DEFAULT_MAX_INBOUND_STREAMS,
    })
    .then(() => log.debug('directory service started', { protocol: DIRECTORY_PROTOCOL }))
  ready.catch(() => {}) // reported through `ready`; don't crash a caller who only stops

  let stopped: Promise<void> | undefined
  return {
    ready,
    stop() {
      stopped ??= (async () => {
        clearInterval(sweep)
        node.removeEventListener('connection:close', onConnectionClose)
        await ready.catch(() => {})
        await node.unhandle(DIRECTORY_PROTOCOL).catch(() => {})
      })()
      return stopped
    },
  }
}

/** Keep the leading entries that fit in one response frame. */
function fit(entries: DirectoryEntry[]): { entries: DirectoryEntry[]; truncated: boolean } {
  let budget = MAX_RESPONSE_BYTES - 64
  const kept: DirectoryEntry[] = []
  for (const entry of entries) {
    budget -= encodedEntrySize(entry)
    if (budget < 0) return { entries: kept, truncated: true }
    kept.push(entry)
  }
  return { entries: kept, truncated: false }
}
