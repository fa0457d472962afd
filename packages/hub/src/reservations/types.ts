/**
 * Data of the reservation engine. Times are milliseconds since the epoch, passed in by the caller.
 * Everything here is plain JSON (the store persists it as such).
 */
import type { InterfaceKind, PartInfo } from '@tether/directory'
import type { ReservationErrorCode } from './errors.js'

/** A place as the engine knows it; `id` is "<exporter>/<place>". */
export interface EnginePlace {
  readonly id: string
  readonly exporter: string
  readonly name: string
  readonly tags: readonly string[]
  readonly parts: readonly PartInfo[]
}

/** One part wanted: every listed `compatible` on the part, and an interface of every listed kind. */
export interface PartRequirement {
  readonly compatible?: readonly string[]
  readonly interfaces?: readonly InterfaceKind[]
}

/** Any place with all `tags` whose parts can be assigned one-to-one to `parts`. */
export interface PlaceSpec {
  readonly tags?: readonly string[]
  readonly parts?: readonly PartRequirement[]
}

/** What a reservation asks for: one named place, or any place fitting a spec. */
export type ReservationTarget = { readonly place: string } | { readonly spec: PlaceSpec }

/** A lease's part for each requirement of its spec, in order (every part for a named place). */
export type PartAssignment = readonly string[]

export interface Lease {
  readonly id: string
  readonly user: string
  /** The user's groups when it reserved (grants to a group are checked against them). */
  readonly groups: readonly string[]
  readonly place: string
  readonly parts: PartAssignment
  readonly target: ReservationTarget
  readonly priority: number
  readonly startedAt: number
  readonly expiresAt: number
  readonly renewals: number
  /** The queue entry it was served from, if it waited. */
  readonly queueId?: string
}

export interface QueueEntry {
  readonly id: string
  /** Enqueue order: FIFO within a priority. */
  readonly seq: number
  readonly user: string
  readonly groups: readonly string[]
  readonly target: ReservationTarget
  readonly priority: number
  readonly enqueuedAt: number
  /** Lease length granted when served. */
  readonly leaseMs: number
  /** Dropped (reason "timeout") when still waiting at this time. */
  readonly deadline?: number
}

export type GrantSubject = { readonly user: string } | { readonly group: string }
export type GrantTarget = { readonly place: string } | { readonly tag: string }

/**
 * During [start, end) the covered places are reservable only by the subjects of the grants
 * active on them. `end` undefined: until revoked.
 */
export interface Grant {
  readonly id: string
  readonly subject: GrantSubject
  readonly target: GrantTarget
  readonly start: number
  readonly end?: number
  readonly by?: string
  readonly note?: string
}

export interface MaintenanceFlag {
  readonly place: string
  readonly since: number
  readonly by?: string
  readonly note?: string
}

export type LeaseEndReason = 'returned' | 'expired' | 'kicked' | 'revoked'
export type DequeueReason = 'served' | 'cancelled' | 'timeout'
export type Operation =
  | 'reserve'
  | 'renew'
  | 'return'
  | 'cancel'
  | 'kick'
  | 'grant'
  | 'revoke'
  | 'maintenance'
  /** Refused by the hub's login or policy check before the engine saw it. */
  | 'access'

interface EventBase {
  /** Engine-wide sequence number, also the audit log's key. */
  readonly seq: number
  readonly at: number
}

/** Every state change of the engine, in order; the store applies them and appends the audit log. */
export type EngineEvent =
  | (EventBase & { readonly type: 'lease-started'; readonly lease: Lease })
  | (EventBase & {
      readonly type: 'lease-renewed'
      readonly lease: Lease
      readonly previousExpiresAt: number
    })
  | (EventBase & {
      readonly type: 'lease-ended'
      readonly lease: Lease
      readonly reason: LeaseEndReason
      readonly by?: string
      readonly note?: string
    })
  | (EventBase & { readonly type: 'queued'; readonly entry: QueueEntry; readonly position: number })
  | (EventBase & {
      readonly type: 'dequeued'
      readonly entry: QueueEntry
      readonly reason: DequeueReason
      readonly leaseId?: string
      readonly by?: string
    })
  | (EventBase & {
      readonly type: 'refused'
      readonly op: Operation
      /** A ReservationErrorCode, or the policy's (ERR_PERMISSION_DENIED, ERR_PRIORITY_CAP...). */
      readonly code: ReservationErrorCode | (string & {})
      readonly message: string
      readonly user?: string
      readonly place?: string
      /** The lease, queue entry or grant concerned. */
      readonly id?: string
      /** The libp2p peer that asked (login and policy refusals). */
      readonly peer?: string
    })
  | (EventBase & { readonly type: 'grant-added'; readonly grant: Grant })
  | (EventBase & {
      readonly type: 'grant-removed'
      readonly grant: Grant
      readonly reason: 'revoked' | 'expired'
      readonly by?: string
    })
  | (EventBase & {
      readonly type: 'maintenance'
      readonly place: string
      readonly on: boolean
      readonly by?: string
      readonly note?: string
    })

export type EngineEventType = EngineEvent['type']

/** The persistent part of the engine (places come from the directory and are not in it). */
export interface EngineSnapshot {
  readonly nextSeq: number
  readonly leases: readonly Lease[]
  /** In queue order (priority, then seq). */
  readonly queue: readonly QueueEntry[]
  readonly grants: readonly Grant[]
  readonly maintenance: readonly MaintenanceFlag[]
}

/** An already-authorized reserve request: policy picked `priority` and `leaseMs`. */
export interface ReserveRequest {
  readonly user: string
  readonly groups?: readonly string[]
  readonly target: ReservationTarget
  /** Integer; higher is served first. Default 0. */
  readonly priority?: number
  /** Lease length (policy's maximum or less). */
  readonly leaseMs: number
  /** false: refuse with ERR_BUSY instead of queueing. Default true. */
  readonly wait?: boolean
  /** Give up waiting after this long (default: wait until cancelled). */
  readonly waitMs?: number
}

export type ReserveResult =
  | { readonly kind: 'lease'; readonly lease: Lease }
  | { readonly kind: 'queued'; readonly entry: QueueEntry; readonly position: QueuePosition }

export interface QueuePosition {
  /** 1-based among the entries waiting for the same target (same place, or identical spec). */
  readonly position: number
  /** 1-based in the whole queue (priority, then FIFO). */
  readonly overall: number
  readonly length: number
}

/** An already-authorized renewal: policy's maximum lease and total. */
export interface RenewRequest {
  readonly leaseId: string
  readonly user: string
  /** The lease then ends at now + min(extendMs, maxLeaseMs). */
  readonly maxLeaseMs: number
  readonly extendMs?: number
  /** The lease never ends later than startedAt + maxTotalMs. */
  readonly maxTotalMs?: number
  readonly maxRenewals?: number
  /** Refuse while a waiting entry could take the place. */
  readonly denyIfWaiting?: boolean
}

export interface GrantRequest {
  readonly subject: GrantSubject
  readonly target: GrantTarget
  readonly start: number
  readonly end?: number
  readonly by?: string
  readonly note?: string
}

export type PlaceState = 'free' | 'leased' | 'maintenance' | 'restricted' | 'offline'

export interface PlaceStatus {
  readonly place: string
  /** The place as announced; undefined while its exporter is not registered. */
  readonly info?: EnginePlace
  /** 'restricted': free, but a grant active now limits who may reserve it. */
  readonly state: PlaceState
  readonly lease?: Lease
  readonly maintenance?: MaintenanceFlag
  /** Grants covering the place that are active now or later. */
  readonly grants: readonly Grant[]
  /** Entries naming this place, in queue order. */
  readonly waiting: readonly QueueEntry[]
}

export type ShowResult =
  | { readonly kind: 'lease'; readonly lease: Lease }
  | { readonly kind: 'queued'; readonly entry: QueueEntry; readonly position: QueuePosition }
  | { readonly kind: 'grant'; readonly grant: Grant }
