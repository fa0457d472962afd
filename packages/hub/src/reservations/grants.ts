/**
 * Admin grants, indexed by the place or tag they cover. A grant is active during [start, end).
 * While any grant covering a place is active, only the subjects of those active grants may hold
 * or take the place; with none active, everyone may.
 */
import type { Grant } from './types.js'

export interface Holder {
  readonly user: string
  readonly groups: readonly string[]
}

export class GrantTable {
  private readonly byId = new Map<string, Grant>()
  private readonly byPlace = new Map<string, Set<string>>()
  private readonly byTag = new Map<string, Set<string>>()

  get size(): number {
    return this.byId.size
  }

  get(id: string): Grant | undefined {
    return this.byId.get(id)
  }

  all(): IterableIterator<Grant> {
    return this.byId.values()
  }

  add(grant: Grant): void {
    this.byId.set(grant.id, grant)
    const [index, key] = this.slot(grant)
    let set = index.get(key)
    if (!set) {
      set = new Set()
      index.set(key, set)
    }
    set.add(grant.id)
  }

  remove(id: string): Grant | undefined {
    const grant = this.byId.get(id)
    if (!grant) return undefined
    this.byId.delete(id)
    const [index, key] = this.slot(grant)
    const set = index.get(key)
    set?.delete(id)
    if (set?.size === 0) index.delete(key)
    return grant
  }

  /** Grants naming place `id` or one of `tags` (the place's tags; [] when it is offline). */
  covering(id: string, tags: readonly string[]): Grant[] {
    if (this.byId.size === 0) return []
    const ids = new Set(this.byPlace.get(id) ?? [])
    for (const tag of tags) for (const g of this.byTag.get(tag) ?? []) ids.add(g)
    return [...ids].map((g) => this.byId.get(g)!)
  }

  /** Whether `holder` may hold a place covered by `grants` at time `t`. */
  static allows(grants: readonly Grant[], holder: Holder, t: number): boolean {
    let restricted = false
    for (const grant of grants) {
      if (!isActive(grant, t)) continue
      if (isSubject(grant, holder)) return true
      restricted = true
    }
    return !restricted
  }

  /**
   * The first time after `now` at which `holder` may no longer hold a place covered by `grants`
   * (a window of others starting, or the holder's own window ending under another's), or
   * undefined when never. Permission only changes at a window's start or end.
   */
  static firstDenial(grants: readonly Grant[], holder: Holder, now: number): number | undefined {
    const times = new Set<number>()
    for (const g of grants) {
      if (g.start > now) times.add(g.start)
      if (g.end !== undefined && g.end > now) times.add(g.end)
    }
    for (const t of [...times].sort((a, b) => a - b)) {
      if (!GrantTable.allows(grants, holder, t)) return t
    }
    return undefined
  }

  private slot(grant: Grant): [Map<string, Set<string>>, string] {
    return 'place' in grant.target ? [this.byPlace, grant.target.place] : [this.byTag, grant.target.tag]
  }
}

export function isActive(grant: Grant, t: number): boolean {
  return grant.start <= t && (grant.end === undefined || t < grant.end)
}

export function isSubject(grant: Grant, holder: Holder): boolean {
  return 'user' in grant.subject
    ? grant.subject.user === holder.user
    : holder.groups.includes(grant.subject.group)
}
