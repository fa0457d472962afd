/**
 * The engine's host half: run an operation on the engine, then persist the events it produced
 * (refusals too) through a ReservationStore, one commit per operation, in order. The reply to a
 * client should wait for run()'s promise: then what it was told is on disk.
 */
import { StoreError } from '../store/errors.js'
import type { ReservationStore } from '../store/types.js'
import type { ReservationEngine } from './engine.js'
import type { EngineEvent } from './types.js'

export class ReservationService<S extends ReservationStore = ReservationStore> {
  private chain: Promise<void> = Promise.resolve()
  private failure: StoreError | undefined
  private readonly listeners = new Set<(events: readonly EngineEvent[]) => void>()

  constructor(
    readonly engine: ReservationEngine,
    readonly store: S,
  ) {}

  /**
   * Run `op` and commit its events; resolves with its result or rejects with its error once the
   * events are committed. After a failed commit every call rejects with StoreError
   * ERR_STORE_FAILED (the engine is ahead of the store: restart from the store).
   */
  async run<T>(op: (engine: ReservationEngine) => T): Promise<T> {
    if (this.failure) throw this.failure
    let result: T | undefined
    let error: unknown
    let failed = false
    try {
      result = op(this.engine)
    } catch (err) {
      failed = true
      error = err
    }
    const events = this.engine.takeEvents()
    if (events.length > 0) await this.commit(events)
    if (failed) throw error
    return result as T
  }

  /** tick(now), persisted. */
  tick(now: number): Promise<void> {
    return this.run((engine) => engine.tick(now))
  }

  /** Be told of events once committed (e.g. to push lease ends to exporters). */
  subscribe(listener: (events: readonly EngineEvent[]) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private commit(events: readonly EngineEvent[]): Promise<void> {
    const done = this.chain.then(async () => {
      if (this.failure) throw this.failure
      try {
        await this.store.commit(events)
      } catch (cause) {
        this.failure =
          cause instanceof StoreError
            ? cause
            : new StoreError('ERR_STORE_FAILED', 'committing reservation events failed', { cause })
        throw this.failure
      }
      for (const listener of this.listeners) {
        try {
          listener(events)
        } catch {
          // A listener's failure is its own.
        }
      }
    })
    this.chain = done.catch(() => undefined)
    return done
  }
}
