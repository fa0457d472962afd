/**
 * Exporter side: keep a registration on the hub. Registers, refreshes before the granted TTL
 * runs out, re-registers (re-dialling the hub) after the connection drops or the hub restarts,
 * with jittered exponential backoff, and unregisters on stop.
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import { type Logger, silentLogger, type TetherNode } from '@tether/net'
import {
  DEFAULT_REFRESH_MS,
  MIN_REFRESH_MS,
  RETRY_MAX_MS,
  RETRY_MIN_MS,
  UNREGISTER_TIMEOUT_MS,
} from './constants.js'
import { DirectoryError } from './errors.js'
import { exchange, hubPeerIdOf, unexpected } from './exchange.js'
import type { DirectoryResponse } from './messages.js'
import type { ExporterRegistration } from './types.js'

export interface RegistrationHandle {
  /** Resolves on the first accepted registration; rejects (ERR_ABORTED) if stopped before. */
  readonly firstRegistered: Promise<void>
  /** True while the hub holds a fresh registration. */
  readonly registered: boolean
  /** Re-register now, e.g. because the node's addresses changed (a relay reservation arrived). */
  refreshNow(): void
  /** Best-effort Unregister, then stop timers. Never throws. */
  stop(): Promise<void>
}

export type RegistrationState = 'registered' | 'retrying'

export interface KeepRegisteredInit {
  /** The hub, including /p2p/<hubPeerId>. */
  readonly hub: Multiaddr
  /** Called for every (re)registration: addresses change. */
  readonly registration: () => ExporterRegistration
  /** Default DEFAULT_REFRESH_MS; refreshes happen at min(refreshMs, ttl / 3). */
  readonly refreshMs?: number
  readonly logger?: Logger
  /** Aborting = stop(). */
  readonly signal?: AbortSignal
  readonly onChange?: (state: RegistrationState, detail?: { error?: Error; retryInMs?: number }) => void
  /** Randomness for the backoff jitter, in [0, 1) (default Math.random). */
  readonly random?: () => number
}

/** Delay before retry number `failures` (0-based): exponential, capped, jittered to 50-100 %. */
export function retryDelay(failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(failures, 16))
  return Math.round(ceiling * (0.5 + random() / 2))
}

export function keepRegistered(node: TetherNode, init: KeepRegisteredInit): RegistrationHandle {
  const hubPeer = hubPeerIdOf(init.hub)
  const log = (init.logger ?? silentLogger).child('directory:register')
  const refreshMs = init.refreshMs ?? DEFAULT_REFRESH_MS
  const random = init.random ?? Math.random
  const stopping = new AbortController()
  const signal = init.signal ? AbortSignal.any([init.signal, stopping.signal]) : stopping.signal

  let registered = false
  let expiresAt = 0
  /** The registration the hub holds, as sent (to choose Refresh over Register). */
  let held: string | undefined
  let wake: (() => void) | undefined
  /** Skip the next wait (the connection dropped, or refreshNow()). */
  let hurry = false
  let stopped: Promise<void> | undefined

  let resolveFirst!: () => void
  let rejectFirst!: (err: Error) => void
  const firstRegistered = new Promise<void>((resolve, reject) => {
    resolveFirst = resolve
    rejectFirst = reject
  })
  firstRegistered.catch(() => {}) // callers who never await it must not see an unhandled rejection

  const hubConnections = (except?: string) =>
    node
      .getConnections()
      .filter((c) => c.remotePeer.toString() === hubPeer && c.id !== except && c.status === 'open')

  const onConnectionClose = (event: CustomEvent<{ id: string; remotePeer: { toString(): string } }>) => {
    if (event.detail.remotePeer.toString() !== hubPeer) return
    if (hubConnections(event.detail.id).length > 0) return
    if (registered) log.info('connection to the hub closed; registering again', { hub: init.hub.toString() })
    registered = false
    held = undefined
    hurry = true
    wake?.()
  }
  node.addEventListener('connection:close', onConnectionClose as never)

  const send = async (): Promise<DirectoryResponse & { type: 'registered' }> => {
    const registration = init.registration()
    const key = JSON.stringify(registration)
    if (registered && held === key) {
      try {
        const response = await exchange(node, init.hub, { type: 'refresh' }, { signal })
        if (response.type !== 'registered') throw unexpected(response, 'refresh')
        return response
      } catch (err) {
        if (!(err instanceof DirectoryError && err.code === 'ERR_NOT_REGISTERED')) throw err
        log.info('the hub lost our registration; registering again')
      }
    }
    const response = await exchange(node, init.hub, { type: 'register', registration }, { signal })
    if (response.type !== 'registered') throw unexpected(response, 'register')
    held = key
    return response
  }

  const loop = async () => {
    let failures = 0
    while (!signal.aborted) {
      let delay: number
      try {
        const { ttlMs, entry } = await send()
        failures = 0
        expiresAt = Date.now() + ttlMs
        if (!registered) {
          registered = true
          log.info('registered with the hub', {
            hub: init.hub.toString(),
            name: entry.name,
            places: entry.places.length,
            ttlMs,
          })
          init.onChange?.('registered')
          resolveFirst()
        }
        delay = Math.max(MIN_REFRESH_MS, Math.min(refreshMs, Math.floor(ttlMs / 3)))
      } catch (err) {
        if (signal.aborted) break
        registered = false
        held = undefined
        delay = retryDelay(failures++, random)
        const error = err as Error & { code?: string }
        log.warn('registration with the hub failed; retrying', {
          hub: init.hub.toString(),
          error: error.message,
          code: error.code,
          retryInMs: delay,
        })
        init.onChange?.('retrying', { error, retryInMs: delay })
      }
      await sleep(delay)
    }
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (hurry || signal.aborted) {
        hurry = false
        resolve()
        return
      }
      const done = () => {
        hurry = false
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        wake = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done, { once: true })
      wake = done
    })

  const running = loop()

  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      const wasRegistered = registered || held !== undefined
      stopping.abort()
      await running
      node.removeEventListener('connection:close', onConnectionClose as never)
      registered = false
      rejectFirst(
        new DirectoryError('ERR_ABORTED', 'stopped before the first registration', { origin: 'local' }),
      )
      // Without a connection the hub has dropped us already; don't dial just to say goodbye.
      if (wasRegistered && hubConnections().length > 0) {
        try {
          await exchange(node, init.hub, { type: 'unregister' }, { timeoutMs: UNREGISTER_TIMEOUT_MS })
          log.info('unregistered from the hub', { hub: init.hub.toString() })
        } catch (err) {
          log.debug('unregister failed', { error: (err as Error).message })
        }
      }
    })()
    return stopped
  }
  init.signal?.addEventListener('abort', () => void stop(), { once: true })

  return {
    firstRegistered,
    get registered() {
      return registered && Date.now() < expiresAt
    },
    refreshNow() {
      held = undefined
      hurry = true
      wake?.()
    },
    stop,
  }
}
