/**
 * The control protocol's standing streams: an importer waiting in the queue (its position as it
 * changes, then the lease), and an exporter watching for lease ends and renewals on its places.
 */
import type { PeerId, Stream } from '@libp2p/interface'
import { publicJwks, type SigningKey } from '@tether/auth'
import { CAPABILITY_LIFETIME_MS, type HubResponse } from '@tether/control'
import type { DirectoryRegistry } from '@tether/directory'
import type { Logger } from '@tether/net'
import { ReservationError } from '../reservations/errors.js'
import type { ReservationService } from '../reservations/service.js'
import type { EngineEvent, QueueEntry } from '../reservations/types.js'
import type { HubView } from './view.js'

export type Send = (response: HubResponse) => Promise<void>

export interface StreamContext {
  readonly registry: DirectoryRegistry
  readonly reservations: ReservationService
  readonly view: HubView
  readonly signingKeys: () => readonly SigningKey[]
  readonly log: Logger
  readonly now: () => number
}

/**
 * Follow the engine's committed events until `finish` is called or the stream closes (the
 * importer went away or the hub stops: a queue entry keeps its place; `return` gives it up).
 */
function follow(
  ctx: StreamContext,
  stream: Stream,
  start: (
    onEvents: (handler: (events: readonly EngineEvent[]) => void) => void,
    finish: (error?: unknown) => void,
  ) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let done = false
    let unsubscribe = () => {}
    const finish = (error?: unknown) => {
      if (done) return
      done = true
      unsubscribe()
      stream.removeEventListener('close', onClose)
      if (error) reject(error)
      else resolve()
    }
    const onClose = () => finish()
    stream.addEventListener('close', onClose)
    start((handler) => {
      unsubscribe = ctx.reservations.subscribe(handler)
    }, finish)
  })
}

/** Wait in the queue: progress on every change of position, then the lease (or a refusal). */
export function waitInQueue(
  ctx: StreamContext,
  entry: QueueEntry,
  send: Send,
  stream: Stream,
): Promise<void> {
  const engine = ctx.reservations.engine
  let lastPosition = 0
  return follow(ctx, stream, (onEvents, finish) => {
    const report = () => {
      const position = engine.position(entry.id)
      if (!position || position.overall === lastPosition) return
      lastPosition = position.overall
      send({ type: 'progress', entry: ctx.view.entryInfo(entry) }).catch(finish)
    }
    onEvents((events) => {
      for (const event of events) {
        if (event.type === 'lease-started' && event.lease.queueId === entry.id) {
          send({ type: 'lease', lease: ctx.view.leaseInfo(event.lease) }).then(() => finish(), finish)
          return
        }
        if (event.type === 'dequeued' && event.entry.id === entry.id && event.reason !== 'served') {
          finish(new ReservationError('ERR_NOT_FOUND', `your place in the queue ended (${event.reason})`))
          return
        }
      }
      report()
    })
    report()
  })
}

/** An enrolled exporter's standing stream: the JWKS, then every lease end on its places. */
export function watchForExporter(
  ctx: StreamContext,
  peer: PeerId,
  send: Send,
  stream: Stream,
): Promise<void> {
  const entry = ctx.registry.lookup(peer.toString())
  if (!entry) {
    throw new ReservationError(
      'ERR_NOT_FOUND',
      'register with the hub before watching for revocations (an enrolled exporter registers first)',
    )
  }
  const prefix = `${entry.name}/`
  return follow(ctx, stream, (onEvents, finish) => {
    onEvents((events) => {
      for (const event of events) {
        if (!('lease' in event) || !event.lease.place.startsWith(prefix)) continue
        if (event.type === 'lease-ended') {
          send({ type: 'revoked', leaseId: event.lease.id, reason: event.reason }).catch(finish)
        } else if (event.type === 'lease-renewed') {
          // Tunnels of a renewed lease live on to its new end.
          send({ type: 'lease', lease: ctx.view.leaseInfo(event.lease) }).catch(finish)
        }
      }
    })
    ctx.log.info('exporter watching', { exporter: entry.name, peer: peer.toString() })
    void (async () => {
      await send({ type: 'jwks', json: JSON.stringify(publicJwks([...ctx.signingKeys()])) })
      // Leases that ended while the exporter was away (restarted, cut off): their tokens may
      // still be unexpired, so it must hear of them too.
      const ended = await ctx.reservations.store.audit({
        types: ['lease-ended'],
        since: ctx.now() - CAPABILITY_LIFETIME_MS,
        limit: 100_000,
      })
      for (const { event } of ended) {
        if (event.type === 'lease-ended' && event.lease.place.startsWith(prefix)) {
          await send({ type: 'revoked', leaseId: event.lease.id, reason: event.reason })
        }
      }
    })().catch(finish)
  })
}
