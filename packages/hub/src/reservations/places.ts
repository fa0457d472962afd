/**
 * The places the engine knows, fed from the directory, indexed by tag and by part compatible so
 * that a spec's candidates are found without a scan of every place.
 */
import type { DirectoryEntry } from '@tether/directory'
import type { EnginePlace, PlaceSpec } from './types.js'

/** "<exporter>/<place>". */
export function placeId(exporter: string, place: string): string {
  return `${exporter}/${place}`
}

/** The places of a directory entry, as the engine knows them. */
export function placesOf(entry: Pick<DirectoryEntry, 'name' | 'places'>): EnginePlace[] {
  return entry.places.map((p) => ({
    id: placeId(entry.name, p.name),
    exporter: entry.name,
    name: p.name,
    tags: p.tags,
    parts: p.parts,
  }))
}

export class PlaceIndex {
  private readonly byId = new Map<string, EnginePlace>()
  private readonly byExporter = new Map<string, Set<string>>()
  private readonly byTag = new Map<string, Set<string>>()
  private readonly byCompatible = new Map<string, Set<string>>()
  /** Canonical JSON per place, to ignore unchanged re-announcements. */
  private readonly shapes = new Map<string, string>()

  get size(): number {
    return this.byId.size
  }

  get(id: string): EnginePlace | undefined {
    return this.byId.get(id)
  }

  has(id: string): boolean {
    return this.byId.has(id)
  }

  ids(): IterableIterator<string> {
    return this.byId.keys()
  }

  ofExporter(exporter: string): readonly string[] {
    return [...(this.byExporter.get(exporter) ?? [])]
  }

  /** Add or replace; false when the place is already known exactly so. */
  set(place: EnginePlace): boolean {
    const shape = JSON.stringify([place.exporter, place.name, place.tags, place.parts])
    if (this.shapes.get(place.id) === shape) return false
    this.delete(place.id)
    const frozen: EnginePlace = Object.freeze({ ...place })
    this.byId.set(place.id, frozen)
    this.shapes.set(place.id, shape)
    add(this.byExporter, place.exporter, place.id)
    for (const tag of place.tags) add(this.byTag, tag, place.id)
    for (const part of place.parts) for (const c of part.compatible) add(this.byCompatible, c, place.id)
    return true
  }

  delete(id: string): boolean {
    const place = this.byId.get(id)
    if (!place) return false
    this.byId.delete(id)
    this.shapes.delete(id)
    drop(this.byExporter, place.exporter, id)
    for (const tag of place.tags) drop(this.byTag, tag, id)
    for (const part of place.parts) for (const c of part.compatible) drop(this.byCompatible, c, id)
    return true
  }

  /** Places having `tag`. */
  withTag(tag: string): ReadonlySet<string> {
    return this.byTag.get(tag) ?? EMPTY
  }

  /**
   * A superset of the places that can fit `spec`: the smallest of the sets of its tags and of its
   * compatibles (each required compatible must be on some part), or every place.
   */
  candidates(spec: PlaceSpec): ReadonlySet<string> | IterableIterator<string> {
    let best: ReadonlySet<string> | undefined
    const consider = (set: ReadonlySet<string>) => {
      if (best === undefined || set.size < best.size) best = set
    }
    for (const tag of spec.tags ?? []) consider(this.byTag.get(tag) ?? EMPTY)
    for (const part of spec.parts ?? []) {
      for (const c of part.compatible ?? []) consider(this.byCompatible.get(c) ?? EMPTY)
    }
    return best ?? this.byId.keys()
  }
}

const EMPTY: ReadonlySet<string> = new Set()

function add(index: Map<string, Set<string>>, key: string, id: string): void {
  let set = index.get(key)
  if (!set) {
    set = new Set()
    index.set(key, set)
  }
  set.add(id)
}

function drop(index: Map<string, Set<string>>, key: string, id: string): void {
  const set = index.get(key)
  if (!set) return
  set.delete(id)
  if (set.size === 0) index.delete(key)
}
