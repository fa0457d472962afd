/**
 * The engine's host half: run an operation on the engine, then persist the events it produced
 * (refusals too) through a ReservationStore. Operations that run while a commit is pending or in
 * progress share the next commit (group commit): under load one fsync serves many clients instead
 * of one each. Commits happen one at a time, in event order. The reply to a client should wait for
 * run()'s promise: then what it was told is on disk.
 */
import { StoreError } from '../store/errors.js'
import type { ReservationStore } from '../store/types.js'
import type { ReservationEngine } from './engine.js'
import type { EngineEvent } from './types.js'

/** Events waiting for one commit, and the promise their operations wait on. */
interface Batch {
  readonly events: EngineEvent[]
  readonly committed: Promise<void>
}

export class ReservationService<S extends ReservationStore = ReservationStore> {
  /** The batch still taking events, if any. */
  private open: Batch | undefined
  /** Settles when the last scheduled batch has been committed (or has failed). */
  private tail: Promise<void> = Promise.resolve()
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
    if (events.length > 0) await this.enqueue(events)
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

  private enqueue(events: readonly EngineEvent[]): Promise<void> {
    if (!this.open) this.open = this.schedule()
    this.open.events.push(...events)
    return this.open.committed
  }

  /**
   * A new batch, committed after the previous one and after the operations already in this turn
   * of the event loop (setImmediate) have added their events.
   */
  private schedule(): Batch {
    const events: EngineEvent[] = []
    const previous = this.tail
    const committed = previous
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => {
        if (this.open?.events === events) this.open = undefined
        return this.commit(events)
      })
    this.tail = committed.catch(() => undefined)
    return { events, committed }
  }

  private async commit(events: readonly EngineEvent[]): Promise<void> {
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
  }
}
