/**
 * Spec matching, pure: a place fits a spec when it has every required tag and its parts can be
 * assigned one-to-one to the part requirements. The assignment is a maximum bipartite matching
 * (Hopcroft–Karp), so a part that fits several requirements never starves another requirement
 * the way a greedy first-fit would.
 */
import type { PartInfo } from '@tether/directory'
import type { EnginePlace, PartRequirement, PlaceSpec } from './types.js'

/** Whether `part` has every required compatible and an interface of every required kind. */
export function partSatisfies(part: PartInfo, requirement: PartRequirement): boolean {
  for (const c of requirement.compatible ?? []) if (!part.compatible.includes(c)) return false
  for (const kind of requirement.interfaces ?? []) {
    if (!part.interfaces.some((i) => i.kind === kind)) return false
  }
  return true
}

/**
 * A maximum matching of a bipartite graph: `adjacency[l]` lists the right vertices (0..right-1)
 * left vertex `l` may take. Returns, per left vertex, its right vertex or -1. O(E·√V).
 */
export function hopcroftKarp(adjacency: readonly (readonly number[])[], right: number): Int32Array {
  const left = adjacency.length
  const matchLeft = new Int32Array(left).fill(-1)
  const matchRight = new Int32Array(right).fill(-1)
  const dist = new Int32Array(left)
  const INF = 0x7fffffff

  const bfs = (): boolean => {
    const queue: number[] = []
    for (let l = 0; l < left; l++) {
      if (matchLeft[l] === -1) {
        dist[l] = 0
        queue.push(l)
      } else {
        dist[l] = INF
      }
    }
    let found = false
    for (let head = 0; head < queue.length; head++) {
      const l = queue[head]!
      for (const r of adjacency[l]!) {
        const next = matchRight[r]!
        if (next === -1) found = true
        else if (dist[next] === INF) {
          dist[next] = dist[l]! + 1
          queue.push(next)
        }
      }
    }
    return found
  }

  const dfs = (l: number): boolean => {
    for (const r of adjacency[l]!) {
      const next = matchRight[r]!
      if (next === -1 || (dist[next] === dist[l]! + 1 && dfs(next))) {
        matchLeft[l] = r
        matchRight[r] = l
        return true
      }
    }
    dist[l] = INF
    return false
  }

  while (bfs()) {
    for (let l = 0; l < left; l++) if (matchLeft[l] === -1) dfs(l)
  }
  return matchLeft
}

/**
 * The part names assigned to `spec.parts`, in order, when `place` fits `spec`; undefined when it
 * does not. A spec without part requirements fits any place with its tags (assignment []).
 */
export function matchPlace(place: EnginePlace, spec: PlaceSpec): string[] | undefined {
  for (const tag of spec.tags ?? []) if (!place.tags.includes(tag)) return undefined
  const requirements = spec.parts ?? []
  if (requirements.length === 0) return []
  if (requirements.length > place.parts.length) return undefined
  const adjacency = requirements.map((req) => {
    const fits: number[] = []
    place.parts.forEach((part, i) => {
      if (partSatisfies(part, req)) fits.push(i)
    })
    return fits
  })
  if (adjacency.some((fits) => fits.length === 0)) return undefined
  const matched = hopcroftKarp(adjacency, place.parts.length)
  const names: string[] = []
  for (const r of matched) {
    if (r === -1) return undefined
    names.push(place.parts[r]!.name)
  }
  return names
}

/**
 * A canonical key of a spec: equal for specs that match the same places (tags, compatibles,
 * interface kinds and requirements in any order, duplicates within a list ignored).
 */
export function specKey(spec: PlaceSpec): string {
  const sorted = (values: readonly string[] | undefined) => [...new Set(values ?? [])].sort()
  const parts = (spec.parts ?? [])
    .map((p) => JSON.stringify([sorted(p.compatible), sorted(p.interfaces)]))
    .sort()
  return JSON.stringify([sorted(spec.tags), parts])
}
