/**
 * Asking the hub: one request per stream, progress messages (queue position) passed to
 * `onProgress`, the final answer returned, a failure thrown as HubRequestError with the hub's code.
 * Aborting `signal` closes the stream, which gives up a place in the queue.
 */

import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import { isNetError, MessageReader, NetError, type TetherNode, writeMessage } from '@tether/net'
import { HUB_PROTOCOL } from './constants.js'
import { HubRequestCodec } from './requests.js'
import { HubResponseCodec } from './responses.js'
import { type HubRequest, type HubResponse, MAX_JWKS_JSON, type QueueEntryInfo } from './types.js'

/** The hub refused: `code` is the hub's (ERR_PERMISSION_DENIED, ERR_PRIORITY_CAP, ...). */
export class HubRequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'HubRequestError'
  }
}

export interface CallHubOptions {
  readonly signal?: AbortSignal
  readonly onProgress?: (entry: QueueEntryInfo) => void
  /**
   * A standing request (watch): every response goes here, and callHub resolves with `done` when
   * the hub ends the stream.
   */
  readonly onResponse?: (response: Exclude<HubResponse, { type: 'failure' }>) => void | Promise<void>
}

export async function callHub(
  node: TetherNode,
  hub: Multiaddr,
  request: HubRequest,
  options: CallHubOptions = {},
): Promise<Exclude<HubResponse, { type: 'failure' } | { type: 'progress' }>> {
  const first = { answered: false }
  try {
    return await callOnce(node, hub, request, options, first)
  } catch (err) {
    if (err instanceof HubRequestError || options.signal?.aborted) throw err
    // A connection left from before a hub restart fails on first use: drop it and dial anew. Not
    // once the hub has answered (a reserve waiting in the queue): the hub has the request, and
    // sending it again would queue it twice.
    if (first.answered) throw err
    const peer = hub.getComponents().findLast((c) => c.name === 'p2p')?.value
    if (peer === undefined) throw err
    await node.hangUp(peerIdFromString(peer)).catch(() => {})
    return callOnce(node, hub, request, options, { answered: false })
  }
}

async function callOnce(
  node: TetherNode,
  hub: Multiaddr,
  request: HubRequest,
  options: CallHubOptions,
  state: { answered: boolean },
): Promise<Exclude<HubResponse, { type: 'failure' } | { type: 'progress' }>> {
  const stream = await node.dialProtocol(hub, HUB_PROTOCOL, {
    ...(options.signal ? { signal: options.signal } : {}),
    runOnLimitedConnection: true,
  })
  const reader = new MessageReader(stream, { maxFrameSize: MAX_JWKS_JSON + 4096 })
  const onAbort = () => stream.abort(new Error('cancelled'))
  options.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    await writeMessage(stream, HubRequestCodec, request, options.signal ? { signal: options.signal } : {})
    for (;;) {
      let response: HubResponse
      try {
        response = await reader.read(HubResponseCodec, options.signal ? { signal: options.signal } : {})
      } catch (err) {
        if (options.onResponse && isNetError(err) && err.code === 'ERR_CLOSED') return { type: 'done' }
        throw err
      }
      state.answered = true
      if (options.onResponse && response.type !== 'failure') {
        await options.onResponse(response)
        continue
      }
      if (response.type === 'progress') {
        options.onProgress?.(response.entry)
        continue
      }
      if (response.type === 'failure') throw new HubRequestError(response.code, response.message)
      return response
    }
  } catch (err) {
    // libp2p rejects some writes with the stream's close event itself: make it an Error.
    if (err instanceof Error) throw err
    throw new NetError('ERR_CLOSED', 'the stream to the hub closed', { cause: err })
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    await stream.close().catch(() => stream.abort(new Error('closing')))
  }
}
