/**
 * The reservation engine, sans I/O: places (fed from the directory), leases, a wait queue,
 * admin grants and maintenance flags. No timers, no clock: every operation takes `now`, and
 * first processes whatever fell due by then (as tick(now) does). Every state change appends an
 * EngineEvent to an outbox the host drains with takeEvents() and persists in one transaction.
 *
 * Policy is the caller's: requests arrive authorized, with their priority and lease limits.
 *
 * Semantics:
 * - Invariant after each call: no free place that some waiting entry may take and fits (the
 *   queue is served whenever a place frees, appears, leaves maintenance, or a grant changes).
 *   So a new request that finds a fitting free place takes it at once without jumping anyone.
 * - A freed place goes to the first entry in queue order (priority, then FIFO) that it fits and
 *   whose user may hold it; entries it does not fit are skipped, not blocking.
 * - Grants: during a window, the covered places are reservable only by the subjects of grants
 *   active on them. Waiting entries of others stay queued (keeping their order) and are served
 *   elsewhere or after the window. A lease of a non-subject is cut to end when the window starts
 *   (at reserve and renew); one still running at the start (the grant came later) ends then,
 *   reason "revoked". A lease of a subject outlives its window until its own expiry, unless
 *   another grant's window excludes it then.
 * - Maintenance: no new leases on the place; a lease on it runs until returned/expired/kicked.
 * - A place that goes offline (exporter unregistered) keeps its lease and its waiting entries.
 */
import { ReservationError, type ReservationErrorCode } from './errors.js'
import { GrantTable, type Holder, isActive } from './grants.js'
import { matchPlace } from './matching.js'
import { PlaceIndex } from './places.js'
import { WaitQueue } from './queue.js'
import { DeadlineHeap } from './sorted.js'
import type {
  EngineEvent,
  EnginePlace,
  EngineSnapshot,
  Grant,
  GrantRequest,
  Lease,
  LeaseEndReason,
  MaintenanceFlag,
  Operation,
  PlaceSpec,
  PlaceStatus,
  QueueEntry,
  QueuePosition,
  RenewRequest,
  ReservationTarget,
  ReserveRequest,
  ReserveResult,
  ShowResult,
} from './types.js'
import { checkGrant, checkRenew, checkReserve, checkSpec } from './validate.js'

/** Waiting entries held at most, by default. */
export const DEFAULT_MAX_QUEUE = 10_000

export interface ReservationEngineInit {
  /** Waiting entries held at most (default DEFAULT_MAX_QUEUE); more: ERR_QUEUE_FULL. */
  readonly maxQueue?: number
  /** State to start from (the store's), without events. */
  readonly snapshot?: EngineSnapshot
}

export interface ActorOptions {
  /** Who did it (an admin), for the audit log. */
  readonly by?: string
  readonly note?: string
}

type DeadlineKind = 'lease' | 'queue' | 'grant-start' | 'grant-end'
type EventInit = EngineEvent extends infer E ? (E extends EngineEvent ? Omit<E, 'seq' | 'at'> : never) : never

export class ReservationEngine {
  readonly maxQueue: number
  private seq = 1
  private readonly places = new PlaceIndex()
  private readonly leases = new Map<string, Lease>()
  private readonly leaseOnPlace = new Map<string, string>()
  private readonly leasesOfUser = new Map<string, Set<string>>()
  /** Known, not leased, not in maintenance. */
  private readonly free = new Set<string>()
  private readonly maintenance = new Map<string, MaintenanceFlag>()
  private readonly queue = new WaitQueue()
  private readonly grants = new GrantTable()
  private readonly deadlines = new DeadlineHeap<DeadlineKind>()
  private outbox: EngineEvent[] = []

  constructor(init: ReservationEngineInit = {}) {
    this.maxQueue = init.maxQueue ?? DEFAULT_MAX_QUEUE
    if (!Number.isSafeInteger(this.maxQueue) || this.maxQueue < 0) {
      throw new TypeError(`maxQueue must be a non-negative integer (got ${init.maxQueue})`)
    }
    const s = init.snapshot
    if (!s) return
    this.seq = s.nextSeq
    for (const flag of s.maintenance) this.maintenance.set(flag.place, flag)
    for (const lease of s.leases) {
      if (this.leaseOnPlace.has(lease.place)) continue
      this.indexLease(lease)
    }
    for (const entry of s.queue) this.enqueue(entry)
    for (const grant of s.grants) this.addGrant(grant)
    // Ids already handed out stay unique even if nextSeq lags behind them.
    for (const id of [...this.leases.keys(), ...s.queue.map((e) => e.id), ...s.grants.map((g) => g.id)]) {
      const n = Number(id.slice(1))
      if (Number.isSafeInteger(n) && n >= this.seq) this.seq = n + 1
    }
  }

  // --- Places, from the directory ---------------------------------------------------------

  /** Add or update a place; serves the queue if it is free. No-op when unchanged. */
  setPlace(place: EnginePlace, now: number): void {
    this.advance(now)
    if (!this.places.set(place)) return
    this.queue.invalidate(place.id)
    this.refreshFree(place.id)
    this.serve(place.id, now)
  }

  /** The place went away: its lease and waiting entries stay. */
  removePlace(id: string, now: number): void {
    this.advance(now)
    if (!this.places.delete(id)) return
    this.queue.invalidate(id)
    this.free.delete(id)
  }

  /** Make `places` the exact set of places of `exporter` (a directory registration). */
  syncExporter(exporter: string, places: readonly EnginePlace[], now: number): void {
    const keep = new Set(places.map((p) => p.id))
    for (const id of this.places.ofExporter(exporter)) if (!keep.has(id)) this.removePlace(id, now)
    for (const place of places) this.setPlace(place, now)
  }

  /** The exporter's registration ended. */
  removeExporter(exporter: string, now: number): void {
    for (const id of this.places.ofExporter(exporter)) this.removePlace(id, now)
  }

  // --- Operations --------------------------------------------------------------------------

  /**
   * A lease on a free place that fits (at once), else a queue entry and its position. Throws
   * ReservationError ERR_BAD_REQUEST, ERR_NOT_FOUND (unknown place), ERR_NO_MATCH (no known
   * place fits the spec), ERR_MAINTENANCE (every fitting place is), ERR_BUSY (wait: false),
   * ERR_QUEUE_FULL.
   */
  reserve(req: ReserveRequest, now: number): ReserveResult {
    this.advance(now)
    const bad = checkReserve(req)
    const user = typeof req.user === 'string' ? req.user : undefined
    if (bad) throw this.refuse(now, 'reserve', 'ERR_BAD_REQUEST', bad, { user })
    const holder: Holder = { user: req.user, groups: [...(req.groups ?? [])] }
    const priority = req.priority ?? 0
    const target = req.target
    if ('place' in target) {
      const place = this.places.get(target.place)
      const details = { user: req.user, place: target.place }
      if (!place)
        throw this.refuse(now, 'reserve', 'ERR_NOT_FOUND', `no place ${target.place} is registered`, details)
      if (this.maintenance.has(place.id)) {
        throw this.refuse(now, 'reserve', 'ERR_MAINTENANCE', `place ${place.id} is in maintenance`, details)
      }
      if (this.free.has(place.id) && this.allowedOn(place.id, holder, now)) {
        const parts = place.parts.map((p) => p.name)
        return {
          kind: 'lease',
          lease: this.startLease(holder, place.id, parts, target, priority, req.leaseMs, now),
        }
      }
    } else {
      const found = this.findFree(target.spec, holder, now)
      if (found) {
        const lease = this.startLease(holder, found.id, found.parts, target, priority, req.leaseMs, now)
        return { kind: 'lease', lease }
      }
      const fit = this.anyFit(target.spec)
      if (fit === 'none') {
        throw this.refuse(now, 'reserve', 'ERR_NO_MATCH', 'no registered place fits the spec', {
          user: req.user,
        })
      }
      if (fit === 'maintenance') {
        throw this.refuse(
          now,
          'reserve',
          'ERR_MAINTENANCE',
          'every place that fits the spec is in maintenance',
          {
            user: req.user,
          },
        )
      }
    }
    const place = 'place' in target ? target.place : undefined
    if (req.wait === false) {
      throw this.refuse(now, 'reserve', 'ERR_BUSY', 'no fitting place is free now', { user: req.user, place })
    }
    if (this.queue.length >= this.maxQueue) {
      throw this.refuse(
        now,
        'reserve',
        'ERR_QUEUE_FULL',
        `the queue holds ${this.maxQueue} entries, its limit`,
        {
          user: req.user,
          place,
        },
      )
    }
    const seq = this.seq++
    const entry: QueueEntry = Object.freeze({
      id: `Q${seq}`,
      seq,
      user: req.user,
      groups: holder.groups,
      target,
      priority,
      enqueuedAt: now,
      leaseMs: req.leaseMs,
      ...(req.waitMs !== undefined ? { deadline: now + req.waitMs } : {}),
    })
    this.enqueue(entry)
    const position = this.queue.position(entry.id)!
    this.emit(now, { type: 'queued', entry, position: position.overall })
    return { kind: 'queued', entry, position }
  }

  /** Leave the queue; ERR_NOT_FOUND, ERR_NOT_HOLDER (unless `admin`). */
  cancel(
    queueId: string,
    user: string,
    now: number,
    options: ActorOptions & { admin?: boolean } = {},
  ): QueueEntry {
    this.advance(now)
    const entry = this.queue.get(queueId)
    if (!entry)
      throw this.refuse(now, 'cancel', 'ERR_NOT_FOUND', `no queue entry ${queueId}`, { user, id: queueId })
    if (!options.admin && entry.user !== user) {
      throw this.refuse(now, 'cancel', 'ERR_NOT_HOLDER', `queue entry ${queueId} is not ${user}'s`, {
        user,
        id: queueId,
      })
    }
    this.queue.remove(queueId)
    this.emit(now, { type: 'dequeued', entry, reason: 'cancelled', by: options.by ?? user })
    return entry
  }

  /** Give a lease back; ERR_NOT_FOUND, ERR_NOT_HOLDER. The place goes to the queue. */
  returnLease(leaseId: string, user: string, now: number): Lease {
    this.advance(now)
    const lease = this.leases.get(leaseId)
    if (!lease)
      throw this.refuse(now, 'return', 'ERR_NOT_FOUND', `no lease ${leaseId}`, { user, id: leaseId })
    if (lease.user !== user) {
      throw this.refuse(now, 'return', 'ERR_NOT_HOLDER', `lease ${leaseId} is not ${user}'s`, {
        user,
        id: leaseId,
        place: lease.place,
      })
    }
    this.endLease(lease, 'returned', now, { by: user })
    this.serve(lease.place, now)
    return lease
  }

  /**
   * Extend a lease to now + min(extendMs, maxLeaseMs), capped at startedAt + maxTotalMs and at
   * the start of a grant window that excludes the holder. ERR_NOT_FOUND, ERR_NOT_HOLDER,
   * ERR_RENEW_DENIED when that would not extend it, past maxRenewals, or (denyIfWaiting) while
   * a waiting entry could take the place.
   */
  renew(req: RenewRequest, now: number): Lease {
    this.advance(now)
    const bad = checkRenew(req)
    if (bad) throw this.refuse(now, 'renew', 'ERR_BAD_REQUEST', bad, { user: req.user, id: req.leaseId })
    const lease = this.leases.get(req.leaseId)
    const details = { user: req.user, id: req.leaseId, place: lease?.place }
    if (!lease) throw this.refuse(now, 'renew', 'ERR_NOT_FOUND', `no lease ${req.leaseId}`, details)
    if (lease.user !== req.user) {
      throw this.refuse(now, 'renew', 'ERR_NOT_HOLDER', `lease ${lease.id} is not ${req.user}'s`, details)
    }
    if (req.maxRenewals !== undefined && lease.renewals >= req.maxRenewals) {
      throw this.refuse(
        now,
        'renew',
        'ERR_RENEW_DENIED',
        `lease ${lease.id} was renewed ${lease.renewals} times, the limit`,
        details,
      )
    }
    if (req.denyIfWaiting) {
      const place = this.places.get(lease.place)
      const waiting = place && this.queue.best(place, (e) => this.allowedOn(place.id, e, now))
      if (waiting) {
        throw this.refuse(
          now,
          'renew',
          'ERR_RENEW_DENIED',
          `others are waiting for place ${lease.place}`,
          details,
        )
      }
    }
    let expiresAt = now + Math.min(req.extendMs ?? req.maxLeaseMs, req.maxLeaseMs)
    if (req.maxTotalMs !== undefined) expiresAt = Math.min(expiresAt, lease.startedAt + req.maxTotalMs)
    const denial = GrantTable.firstDenial(this.grantsOn(lease.place), lease, now)
    if (denial !== undefined) expiresAt = Math.min(expiresAt, denial)
    if (expiresAt <= lease.expiresAt) {
      const why =
        denial !== undefined && expiresAt === denial
          ? `a grant on place ${lease.place} starts at ${denial}`
          : `lease ${lease.id} is at its maximum`
      throw this.refuse(now, 'renew', 'ERR_RENEW_DENIED', why, details)
    }
    const renewed: Lease = Object.freeze({ ...lease, expiresAt, renewals: lease.renewals + 1 })
    this.leases.set(lease.id, renewed)
    this.deadlines.push({ at: expiresAt, kind: 'lease', id: lease.id })
    this.emit(now, { type: 'lease-renewed', lease: renewed, previousExpiresAt: lease.expiresAt })
    return renewed
  }

  /** Admin: end a lease now (reason "kicked"); ERR_NOT_FOUND. */
  kick(leaseId: string, now: number, options: ActorOptions = {}): Lease {
    this.advance(now)
    const lease = this.leases.get(leaseId)
    if (!lease)
      throw this.refuse(now, 'kick', 'ERR_NOT_FOUND', `no lease ${leaseId}`, {
        user: options.by,
        id: leaseId,
      })
    this.endLease(lease, 'kicked', now, options)
    this.serve(lease.place, now)
    return lease
  }

  /** Admin: add a grant (see the module comment); ERR_BAD_REQUEST. */
  grant(req: GrantRequest, now: number): Grant {
    this.advance(now)
    const bad = checkGrant(req, now)
    if (bad) throw this.refuse(now, 'grant', 'ERR_BAD_REQUEST', bad, { user: req.by })
    const grant: Grant = Object.freeze({
      id: `G${this.seq++}`,
      subject: { ...req.subject },
      target: { ...req.target },
      start: req.start,
      ...(req.end !== undefined ? { end: req.end } : {}),
      ...(req.by !== undefined ? { by: req.by } : {}),
      ...(req.note !== undefined ? { note: req.note } : {}),
    })
    this.addGrant(grant)
    this.emit(now, { type: 'grant-added', grant })
    if (grant.start <= now) this.recheck(this.coveredBy(grant), now, now)
    return grant
  }

  /** Admin: remove a grant; ERR_NOT_FOUND. Freed places go to the queue. */
  revoke(grantId: string, now: number, options: ActorOptions = {}): Grant {
    this.advance(now)
    const grant = this.grants.remove(grantId)
    if (!grant)
      throw this.refuse(now, 'revoke', 'ERR_NOT_FOUND', `no grant ${grantId}`, {
        user: options.by,
        id: grantId,
      })
    this.emit(now, { type: 'grant-removed', grant, reason: 'revoked', ...by(options) })
    this.recheck(this.coveredBy(grant), now, now)
    return grant
  }

  /**
   * Admin: maintenance on (no new leases; a running lease may finish) or off (the place goes to
   * the queue). Any place id, known or not. Returns false when the flag was already so.
   */
  setMaintenance(place: string, on: boolean, now: number, options: ActorOptions = {}): boolean {
    this.advance(now)
    if (typeof place !== 'string' || place.length === 0) {
      throw this.refuse(now, 'maintenance', 'ERR_BAD_REQUEST', 'place must be a place id', {
        user: options.by,
      })
    }
    if (on === this.maintenance.has(place)) return false
    if (on) {
      this.maintenance.set(place, Object.freeze({ place, since: now, ...by(options), ...note(options) }))
      this.free.delete(place)
    } else {
      this.maintenance.delete(place)
      this.refreshFree(place)
    }
    this.emit(now, { type: 'maintenance', place, on, ...by(options), ...note(options) })
    if (!on) this.serve(place, now)
    return true
  }

  /** Process everything due by `now`: expiries, queue timeouts, grant windows; serve the queue. */
  tick(now: number): void {
    this.advance(now)
  }

  /** When tick() next has something to do (may be early, never late); undefined: nothing. */
  nextDeadline(): number | undefined {
    return this.deadlines.peek()?.at
  }

  /** The events since the last call, in order. */
  takeEvents(): EngineEvent[] {
    const events = this.outbox
    this.outbox = []
    return events
  }

  // --- Queries (pure reads; they do not advance time) --------------------------------------

  listLeases(filter: { user?: string; place?: string } = {}): Lease[] {
    let ids: Iterable<string>
    if (filter.place !== undefined) {
      const id = this.leaseOnPlace.get(filter.place)
      ids = id ? [id] : []
    } else if (filter.user !== undefined) {
      ids = this.leasesOfUser.get(filter.user) ?? []
    } else {
      ids = this.leases.keys()
    }
    const out: Lease[] = []
    for (const id of ids) {
      const lease = this.leases.get(id)!
      if (filter.user !== undefined && lease.user !== filter.user) continue
      out.push(lease)
    }
    return out.sort((a, b) => a.startedAt - b.startedAt || idOrder(a.id, b.id))
  }

  /** Waiting entries in queue order. */
  listQueue(filter: { user?: string; place?: string } = {}): QueueEntry[] {
    if (filter.place !== undefined) {
      return this.queue
        .waitingFor(filter.place)
        .filter((e) => filter.user === undefined || e.user === filter.user)
    }
    if (filter.user !== undefined) {
      const mine = new Set(this.queue.idsOf(filter.user))
      return this.queue.entries().filter((e) => mine.has(e.id))
    }
    return this.queue.entries()
  }

  listGrants(filter: { place?: string; user?: string } = {}): Grant[] {
    let grants = [...this.grants.all()]
    if (filter.place !== undefined) grants = this.grantsOn(filter.place)
    if (filter.user !== undefined)
      grants = grants.filter((g) => 'user' in g.subject && g.subject.user === filter.user)
    return grants.sort((a, b) => a.start - b.start || idOrder(a.id, b.id))
  }

  /** Known places that fit `spec`, with their state, by id (at most `limit`). */
  search(spec: PlaceSpec, now: number, limit = 1000): PlaceStatus[] {
    const bad = checkSpec(spec)
    if (bad) throw new ReservationError('ERR_BAD_REQUEST', bad)
    const out: PlaceStatus[] = []
    const ids = [...this.places.candidates(spec)].sort()
    for (const id of ids) {
      if (out.length >= limit) break
      const place = this.places.get(id)!
      if (matchPlace(place, spec)) out.push(this.who(id, now))
    }
    return out
  }

  show(id: string): ShowResult | undefined {
    const lease = this.leases.get(id)
    if (lease) return { kind: 'lease', lease }
    const entry = this.queue.get(id)
    if (entry) return { kind: 'queued', entry, position: this.queue.position(id)! }
    const grant = this.grants.get(id)
    if (grant) return { kind: 'grant', grant }
    return undefined
  }

  /** Who holds place `id`, who waits for it by name, its grants and flags. */
  who(id: string, now: number): PlaceStatus {
    const info = this.places.get(id)
    const leaseId = this.leaseOnPlace.get(id)
    const lease = leaseId ? this.leases.get(leaseId) : undefined
    const maintenance = this.maintenance.get(id)
    const grants = this.grantsOn(id).filter((g) => g.end === undefined || g.end > now)
    const restricted = grants.some((g) => isActive(g, now))
    const state = lease
      ? 'leased'
      : maintenance
        ? 'maintenance'
        : !info
          ? 'offline'
          : restricted
            ? 'restricted'
            : 'free'
    return {
      place: id,
      ...(info ? { info } : {}),
      state,
      ...(lease ? { lease } : {}),
      ...(maintenance ? { maintenance } : {}),
      grants,
      waiting: this.queue.waitingFor(id),
    }
  }

  position(queueId: string): QueuePosition | undefined {
    return this.queue.position(queueId)
  }

  /** Whether `holder` may take or hold place `id` at `t` (grants only). */
  mayHold(id: string, holder: Holder, t: number): boolean {
    return this.allowedOn(id, holder, t)
  }

  snapshot(): EngineSnapshot {
    return {
      nextSeq: this.seq,
      leases: this.listLeases(),
      queue: this.queue.entries(),
      grants: this.listGrants(),
      maintenance: [...this.maintenance.values()].sort((a, b) => (a.place < b.place ? -1 : 1)),
    }
  }

  // --- Internals ---------------------------------------------------------------------------

  private advance(now: number): void {
    const touched = new Set<string>()
    for (let d = this.deadlines.peek(); d !== undefined && d.at <= now; d = this.deadlines.peek()) {
      this.deadlines.pop()
      switch (d.kind) {
        case 'lease': {
          const lease = this.leases.get(d.id)
          if (lease?.expiresAt !== d.at) break
          this.endLease(lease, 'expired', d.at, {})
          touched.add(lease.place)
          break
        }
        case 'queue': {
          const entry = this.queue.get(d.id)
          if (entry?.deadline !== d.at) break
          this.queue.remove(d.id)
          this.emit(d.at, { type: 'dequeued', entry, reason: 'timeout' })
          break
        }
        case 'grant-start': {
          const grant = this.grants.get(d.id)
          if (grant?.start !== d.at) break
          for (const id of this.revokeDisallowed(this.coveredBy(grant), d.at)) touched.add(id)
          break
        }
        case 'grant-end': {
          const grant = this.grants.get(d.id)
          if (grant?.end !== d.at) break
          this.grants.remove(grant.id)
          this.emit(d.at, { type: 'grant-removed', grant, reason: 'expired' })
          for (const id of this.revokeDisallowed(this.coveredBy(grant), d.at)) touched.add(id)
          break
        }
      }
    }
    for (const id of touched) this.serve(id, now)
  }

  /** End leases on `ids` whose holders may not hold them at `t`; returns every id. */
  private revokeDisallowed(ids: readonly string[], t: number): readonly string[] {
    for (const id of ids) {
      const leaseId = this.leaseOnPlace.get(id)
      const lease = leaseId ? this.leases.get(leaseId) : undefined
      if (lease && !this.allowedOn(id, lease, t)) this.endLease(lease, 'revoked', t, { note: 'grant window' })
    }
    return ids
  }

  private recheck(ids: readonly string[], t: number, now: number): void {
    for (const id of this.revokeDisallowed(ids, t)) this.serve(id, now)
  }

  /** Give free place `id` to the first waiting entry that fits it and may hold it. */
  private serve(id: string, now: number): void {
    const place = this.places.get(id)
    if (!place || !this.free.has(id) || this.queue.length === 0) return
    const entry = this.queue.best(place, (e) => this.allowedOn(id, e, now))
    if (!entry) return
    const parts =
      'spec' in entry.target ? matchPlace(place, entry.target.spec)! : place.parts.map((p) => p.name)
    this.queue.remove(entry.id)
    const leaseId = `L${this.seq++}`
    this.emit(now, { type: 'dequeued', entry, reason: 'served', leaseId })
    this.startLease(entry, id, parts, entry.target, entry.priority, entry.leaseMs, now, entry.id, leaseId)
  }

  private findFree(
    spec: PlaceSpec,
    holder: Holder,
    now: number,
  ): { id: string; parts: string[] } | undefined {
    const candidates = this.places.candidates(spec)
    const ids: Iterable<string> =
      candidates instanceof Set && candidates.size < this.free.size ? candidates : this.free
    for (const id of ids) {
      if (!this.free.has(id) || !this.allowedOn(id, holder, now)) continue
      const parts = matchPlace(this.places.get(id)!, spec)
      if (parts) return { id, parts }
    }
    return undefined
  }

  /** Whether some known place fits (and is out of maintenance). */
  private anyFit(spec: PlaceSpec): 'none' | 'maintenance' | 'usable' {
    let fit: 'none' | 'maintenance' = 'none'
    for (const id of this.places.candidates(spec)) {
      if (!matchPlace(this.places.get(id)!, spec)) continue
      if (!this.maintenance.has(id)) return 'usable'
      fit = 'maintenance'
    }
    return fit
  }

  private startLease(
    holder: Holder,
    place: string,
    parts: readonly string[],
    target: ReservationTarget,
    priority: number,
    leaseMs: number,
    now: number,
    queueId?: string,
    id = `L${this.seq++}`,
  ): Lease {
    let expiresAt = now + leaseMs
    const denial = GrantTable.firstDenial(this.grantsOn(place), holder, now)
    if (denial !== undefined) expiresAt = Math.min(expiresAt, denial)
    const lease: Lease = Object.freeze({
      id,
      user: holder.user,
      groups: [...holder.groups],
      place,
      parts: [...parts],
      target,
      priority,
      startedAt: now,
      expiresAt,
      renewals: 0,
      ...(queueId !== undefined ? { queueId } : {}),
    })
    this.indexLease(lease)
    this.emit(now, { type: 'lease-started', lease })
    return lease
  }

  private indexLease(lease: Lease): void {
    this.leases.set(lease.id, lease)
    this.leaseOnPlace.set(lease.place, lease.id)
    let mine = this.leasesOfUser.get(lease.user)
    if (!mine) {
      mine = new Set()
      this.leasesOfUser.set(lease.user, mine)
    }
    mine.add(lease.id)
    this.free.delete(lease.place)
    this.deadlines.push({ at: lease.expiresAt, kind: 'lease', id: lease.id })
  }

  private endLease(lease: Lease, reason: LeaseEndReason, at: number, options: ActorOptions): void {
    this.leases.delete(lease.id)
    this.leaseOnPlace.delete(lease.place)
    const mine = this.leasesOfUser.get(lease.user)
    mine?.delete(lease.id)
    if (mine?.size === 0) this.leasesOfUser.delete(lease.user)
    this.refreshFree(lease.place)
    this.emit(at, { type: 'lease-ended', lease, reason, ...by(options), ...note(options) })
  }

  private enqueue(entry: QueueEntry): void {
    this.queue.add(entry)
    if (entry.deadline !== undefined) this.deadlines.push({ at: entry.deadline, kind: 'queue', id: entry.id })
  }

  private addGrant(grant: Grant): void {
    this.grants.add(grant)
    this.deadlines.push({ at: grant.start, kind: 'grant-start', id: grant.id })
    if (grant.end !== undefined) this.deadlines.push({ at: grant.end, kind: 'grant-end', id: grant.id })
  }

  private refreshFree(id: string): void {
    if (this.places.has(id) && !this.leaseOnPlace.has(id) && !this.maintenance.has(id)) this.free.add(id)
    else this.free.delete(id)
  }

  private grantsOn(id: string): Grant[] {
    return this.grants.covering(id, this.places.get(id)?.tags ?? [])
  }

  private allowedOn(id: string, holder: Holder, t: number): boolean {
    return GrantTable.allows(this.grantsOn(id), holder, t)
  }

  /** Place ids a grant covers: its place, or the known places with its tag. */
  private coveredBy(grant: Grant): string[] {
    return 'place' in grant.target ? [grant.target.place] : [...this.places.withTag(grant.target.tag)]
  }

  /** Put a refusal decided outside the engine (login, policy) into the audit log. */
  recordRefusal(
    now: number,
    refusal: {
      readonly request: string
      readonly code: string
      readonly message: string
      readonly user?: string
      readonly place?: string
      readonly peer?: string
    },
  ): void {
    this.emit(now, {
      type: 'refused',
      op: 'access',
      code: refusal.code,
      message: `${refusal.request}: ${refusal.message}`,
      ...(refusal.user !== undefined ? { user: refusal.user } : {}),
      ...(refusal.place !== undefined ? { place: refusal.place } : {}),
      ...(refusal.peer !== undefined ? { peer: refusal.peer } : {}),
    })
  }

  private refuse(
    now: number,
    op: Operation,
    code: ReservationErrorCode,
    message: string,
    details: { user?: string | undefined; place?: string | undefined; id?: string | undefined },
  ): ReservationError {
    this.emit(now, {
      type: 'refused',
      op,
      code,
      message,
      ...(details.user !== undefined ? { user: details.user } : {}),
      ...(details.place !== undefined ? { place: details.place } : {}),
      ...(details.id !== undefined ? { id: details.id } : {}),
    })
    return new ReservationError(code, message, { details: { op, ...details } })
  }

  private emit(at: number, event: EventInit): void {
    this.outbox.push(Object.freeze({ ...event, seq: this.seq++, at }) as EngineEvent)
  }
}

function by(options: ActorOptions): { by?: string } {
  return options.by !== undefined ? { by: options.by } : {}
}

function note(options: ActorOptions): { note?: string } {
  return options.note !== undefined ? { note: options.note } : {}
}

/** "L12" before "L100". */
function idOrder(a: string, b: string): number {
  return Number(a.slice(1)) - Number(b.slice(1)) || (a < b ? -1 : a > b ? 1 : 0)
}
