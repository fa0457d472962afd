/**
 * One request/response exchange with the hub over a plain (non-relayed) connection, and the
 * importer's queryDirectory().
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import { isNetError, MessageReader, type TetherNode, writeMessage } from '@tether/net'
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  DIRECTORY_PROTOCOL,
  MAX_REQUEST_BYTES,
  MAX_RESPONSE_BYTES,
} from './constants.js'
import { DirectoryError, type DirectoryErrorCode, WIRE_ERROR_CODES } from './errors.js'
import {
  type DirectoryRequest,
  DirectoryRequestCodec,
  type DirectoryResponse,
  DirectoryResponseCodec,
} from './messages.js'
import type { DirectoryEntry, DirectoryQuery } from './types.js'
import { checkQuery } from './validate.js'

export interface ExchangeOptions {
  readonly signal?: AbortSignal
  /** Bound on the whole exchange (default DEFAULT_REQUEST_TIMEOUT_MS). */
  readonly timeoutMs?: number
}

/** The PeerId string in a hub multiaddr; throws DirectoryError ERR_BAD_HUB_ADDRESS without one. */
export function hubPeerIdOf(hub: Multiaddr): string {
  const id = hub
    .getComponents()
    .filter((c) => c.name === 'p2p')
    .at(-1)?.value
  if (!id || hub.getComponents().some((c) => c.name === 'p2p-circuit')) {
    throw new DirectoryError(
      'ERR_BAD_HUB_ADDRESS',
      `hub address ${hub.toString()} must be a direct address ending in /p2p/<hub peer id>, ` +
        'as printed by `tether hub`',
      { origin: 'local', details: { hub: hub.toString() } },
    )
  }
  return id
}

/**
 * Send `request`, return the hub's answer. A DirectoryFailure becomes a DirectoryError (origin
 * 'remote'); failing to reach the hub is ERR_HUB_UNREACHABLE; a malformed answer a NetError.
 */
export async function exchange(
  node: TetherNode,
  hub: Multiaddr,
  request: DirectoryRequest,
  options: ExchangeOptions = {},
): Promise<DirectoryResponse> {
  hubPeerIdOf(hub)
  if (options.signal?.aborted) throw aborted(options.signal)
  const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS)
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
  let stream: Awaited<ReturnType<TetherNode['dialProtocol']>>
  try {
    stream = await node.dialProtocol(hub, DIRECTORY_PROTOCOL, { signal })
  } catch (err) {
    if (options.signal?.aborted) throw aborted(options.signal)
    throw new DirectoryError(
      'ERR_HUB_UNREACHABLE',
      `cannot reach the hub at ${hub.toString()}: ${(err as Error).message}`,
      { origin: 'local', details: { hub: hub.toString() }, cause: err },
    )
  }
  const reader = new MessageReader(stream, { maxFrameSize: MAX_RESPONSE_BYTES })
  let response: DirectoryResponse
  try {
    await writeMessage(stream, DirectoryRequestCodec, request, { signal, maxFrameSize: MAX_REQUEST_BYTES })
    response = await reader.read(DirectoryResponseCodec, { signal })
  } catch (err) {
    stream.abort(err as Error)
    if (options.signal?.aborted) throw aborted(options.signal)
    if (isNetError(err) && (err.code === 'ERR_CLOSED' || err.code === 'ERR_TIMEOUT')) {
      throw new DirectoryError(
        'ERR_HUB_UNREACHABLE',
        `the hub at ${hub.toString()} did not answer: ${err.message}`,
        {
          origin: 'local',
          details: { hub: hub.toString() },
          cause: err,
        },
      )
    }
    throw err
  }
  reader.release()
  await stream.close({ signal }).catch((err: Error) => stream.abort(err))
  if (response.type === 'failure') {
    const known = (WIRE_ERROR_CODES as readonly string[]).includes(response.code)
    throw new DirectoryError(
      known ? (response.code as DirectoryErrorCode) : 'ERR_HUB_ERROR',
      `hub refused: ${response.message}`,
      { origin: 'remote', details: { remoteCode: response.code } },
    )
  }
  return response
}

export function unexpected(response: DirectoryResponse, wanted: string): DirectoryError {
  return new DirectoryError('ERR_BAD_RESPONSE', `hub answered "${response.type}" to a ${wanted} request`, {
    origin: 'remote',
    details: { type: response.type },
  })
}

/** Ask the hub for the exporters matching `query` (see DirectoryQuery). */
export async function queryDirectory(
  node: TetherNode,
  hub: Multiaddr,
  query: DirectoryQuery,
  options: ExchangeOptions = {},
): Promise<DirectoryEntry[]> {
  return (await searchDirectory(node, hub, query, options)).entries
}

/** Like queryDirectory, and says whether the hub left matches out to fit its reply. */
export async function searchDirectory(
  node: TetherNode,
  hub: Multiaddr,
  query: DirectoryQuery,
  options: ExchangeOptions = {},
): Promise<{ entries: DirectoryEntry[]; truncated: boolean }> {
  const checked = checkQuery(
    query,
    (field, why) =>
      new DirectoryError('ERR_BAD_QUERY', `query ${field} ${why}`, { origin: 'local', details: { field } }),
  )
  const response = await exchange(node, hub, { type: 'query', query: checked }, options)
  if (response.type !== 'result') throw unexpected(response, 'query')
  return { entries: [...response.entries], truncated: response.truncated }
}

export function aborted(signal: AbortSignal): DirectoryError {
  return new DirectoryError('ERR_ABORTED', 'directory request aborted', {
    origin: 'local',
    cause: signal.reason,
  })
}
