/**
 * The seam between the reservation engine's host and its persistence. The SQLite store
 * implements it synchronously; a PostgreSQL store can implement it with promises.
 */
import type { EngineEvent, EngineEventType, EngineSnapshot } from '../reservations/types.js'

export interface AuditQuery {
  /** Records with seq greater than this. */
  readonly after?: number
  /** Records at or after this time (ms). */
  readonly since?: number
  readonly user?: string
  /** A place id ("exporter/place"), or a bare place name: that place at any exporter. */
  readonly place?: string
  readonly types?: readonly EngineEventType[]
  /** Default 1000. */
  readonly limit?: number
}

export interface AuditRecord {
  readonly seq: number
  readonly at: number
  readonly type: EngineEventType
  readonly event: EngineEvent
}

export interface ReservationStore {
  /** The persisted engine state. */
  load(): EngineSnapshot | Promise<EngineSnapshot>
  /**
   * Apply `events` (in order) to the stored state and append them to the audit log, all or
   * nothing. Calls are made one at a time, in event order.
   */
  commit(events: readonly EngineEvent[]): void | Promise<void>
  /** Audit log records by seq. */
  audit(query?: AuditQuery): AuditRecord[] | Promise<AuditRecord[]>
  close(): void | Promise<void>
}
