/**
 * The wait queue: one total order (priority, higher first, then enqueue sequence) plus a bucket
 * per distinct target (a named place, or a canonical spec) in the same order. A freed place is
 * offered by looking at the named bucket of that place and at each spec bucket whose spec fits
 * it (cached per bucket and place), never by walking the whole queue.
 */
import { matchPlace, specKey } from './matching.js'
import { SortedList } from './sorted.js'
import type { EnginePlace, PlaceSpec, QueueEntry, QueuePosition, ReservationTarget } from './types.js'

/** Queue order: priority descending, then sequence ascending. */
export function compareQueued(a: QueueEntry, b: QueueEntry): number {
  return b.priority - a.priority || a.seq - b.seq
}

export function targetKey(target: ReservationTarget): string {
  return 'place' in target ? `p:${target.place}` : `s:${specKey(target.spec)}`
}

interface Bucket {
  readonly key: string
  readonly spec?: PlaceSpec
  readonly entries: SortedList<QueueEntry>
  /** Whether the spec fits a place, by place id (spec buckets only). */
  readonly fits: Map<string, boolean>
}

export class WaitQueue {
  private readonly byId = new Map<string, { entry: QueueEntry; bucket: Bucket }>()
  private readonly order = new SortedList<QueueEntry>(compareQueued)
  private readonly named = new Map<string, Bucket>()
  private readonly specs = new Map<string, Bucket>()
  private readonly byUser = new Map<string, Set<string>>()

  get length(): number {
    return this.order.length
  }

  get(id: string): QueueEntry | undefined {
    return this.byId.get(id)?.entry
  }

  /** Every entry in queue order. */
  entries(): QueueEntry[] {
    return this.order.toArray()
  }

  /** Ids of the entries of `user`. */
  idsOf(user: string): readonly string[] {
    return [...(this.byUser.get(user) ?? [])]
  }

  /** Entries naming place `id`, in queue order. */
  waitingFor(id: string): QueueEntry[] {
    return this.named.get(`p:${id}`)?.entries.toArray() ?? []
  }

  add(entry: QueueEntry): void {
    const key = targetKey(entry.target)
    const map = 'place' in entry.target ? this.named : this.specs
    let bucket = map.get(key)
    if (!bucket) {
      bucket = {
        key,
        ...('spec' in entry.target ? { spec: entry.target.spec } : {}),
        entries: new SortedList(compareQueued),
        fits: new Map(),
      }
      map.set(key, bucket)
    }
    bucket.entries.insert(entry)
    this.order.insert(entry)
    this.byId.set(entry.id, { entry, bucket })
    let mine = this.byUser.get(entry.user)
    if (!mine) {
      mine = new Set()
      this.byUser.set(entry.user, mine)
    }
    mine.add(entry.id)
  }

  remove(id: string): QueueEntry | undefined {
    const slot = this.byId.get(id)
    if (!slot) return undefined
    const { entry, bucket } = slot
    this.byId.delete(id)
    this.order.remove(entry)
    bucket.entries.remove(entry)
    if (bucket.entries.length === 0) (bucket.spec ? this.specs : this.named).delete(bucket.key)
    const mine = this.byUser.get(entry.user)
    mine?.delete(id)
    if (mine?.size === 0) this.byUser.delete(entry.user)
    return entry
  }

  position(id: string): QueuePosition | undefined {
    const slot = this.byId.get(id)
    if (!slot) return undefined
    return {
      position: slot.bucket.entries.indexOf(slot.entry) + 1,
      overall: this.order.indexOf(slot.entry) + 1,
      length: this.order.length,
    }
  }

  /** Forget cached fits of place `id` (it changed or went away). O(spec buckets). */
  invalidate(id: string): void {
    for (const bucket of this.specs.values()) bucket.fits.delete(id)
  }

  /**
   * The first entry in queue order that `place` can serve and `eligible` accepts. Each bucket is
   * walked only while its entries still come before the best found so far.
   */
  best(place: EnginePlace, eligible: (entry: QueueEntry) => boolean): QueueEntry | undefined {
    let best: QueueEntry | undefined
    const consider = (bucket: Bucket) => {
      for (const entry of bucket.entries) {
        if (best && compareQueued(best, entry) < 0) return
        if (eligible(entry)) {
          best = entry
          return
        }
      }
    }
    const named = this.named.get(`p:${place.id}`)
    if (named) consider(named)
    for (const bucket of this.specs.values()) {
      const head = bucket.entries.at(0)
      if (best && head && compareQueued(best, head) < 0) continue
      let fits = bucket.fits.get(place.id)
      if (fits === undefined) {
        fits = matchPlace(place, bucket.spec!) !== undefined
        bucket.fits.set(place.id, fits)
      }
      if (fits) consider(bucket)
    }
    return best
  }
}
