/**
 * Directory query semantics, pure. An entry matches when its exporter matches and, if the query
 * has place-level criteria (place, tags, compatible, text), at least one place matches them all;
 * the entry is then returned with only its matching places. `text` also matches the whole entry
 * when the exporter name contains it.
 */
import type { DirectoryEntry, DirectoryQuery, PlaceInfo } from './types.js'

export function matchEntry(entry: DirectoryEntry, query: DirectoryQuery): DirectoryEntry | undefined {
  if (query.exporter !== undefined && entry.name !== query.exporter) return undefined
  const needle = query.text ? query.text.toLowerCase() : undefined
  const textMatchesExporter = needle !== undefined && entry.name.toLowerCase().includes(needle)
  const placeCriteria =
    query.place !== undefined ||
    (query.tags?.length ?? 0) > 0 ||
    (query.compatible?.length ?? 0) > 0 ||
    (needle !== undefined && !textMatchesExporter)
  if (!placeCriteria) return entry
  const places = entry.places.filter((place) =>
    matchPlace(place, query, textMatchesExporter ? undefined : needle),
  )
  if (places.length === 0) return undefined
  if (places.length === entry.places.length) return entry
  return Object.freeze({ ...entry, places: Object.freeze(places) })
}

export function matchPlace(place: PlaceInfo, query: DirectoryQuery, needle?: string): boolean {
  if (query.place !== undefined && place.name !== query.place) return false
  if (query.tags && !query.tags.every((tag) => place.tags.includes(tag))) return false
  const compatible = query.compatible
  if (compatible && compatible.length > 0) {
    if (!place.parts.some((part) => compatible.every((c) => part.compatible.includes(c)))) return false
  }
  if (needle !== undefined) {
    const names = [place.name, ...place.tags, ...place.parts.map((p) => p.name)]
    if (!names.some((n) => n.toLowerCase().includes(needle))) return false
  }
  return true
}

/** Entries in a stable order: by exporter name, then PeerId. */
export function compareEntries(a: DirectoryEntry, b: DirectoryEntry): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0
}
