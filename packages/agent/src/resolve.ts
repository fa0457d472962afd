/**
 * What the user names → which USB interfaces on which exporter. Pure: tested without a network.
 *
 * A target is `place`, `place/part` or `place/part/interface`, optionally prefixed with
 * `exporter:` when two exporters have a place of the same name.
 */
import type { DirectoryEntry, InterfaceInfo, PartInfo, PlaceInfo } from '@tether/directory'
import { AgentError } from './errors.js'

export interface TargetSpec {
  readonly exporter?: string
  readonly place: string
  readonly part?: string
  readonly interface?: string
}

export interface ResolvedInterface {
  readonly entry: DirectoryEntry
  readonly place: PlaceInfo
  readonly part: PartInfo
  readonly iface: InterfaceInfo & { readonly busid: string }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/

export function parseTarget(text: string): TargetSpec {
  const colon = text.indexOf(':')
  const exporter = colon >= 0 ? text.slice(0, colon) : undefined
  const path = colon >= 0 ? text.slice(colon + 1) : text
  const [place, part, iface, ...rest] = path.split('/')
  const names = [exporter, place, part, iface].filter((n) => n !== undefined)
  if (rest.length > 0 || !place || names.some((n) => !NAME.test(n))) {
    throw new AgentError(
      'ERR_BAD_TARGET',
      `"${text}" is not a target: use PLACE, PLACE/PART or PLACE/PART/INTERFACE, optionally EXPORTER:PLACE (names: letters, digits, . _ -)`,
    )
  }
  return {
    place,
    ...(exporter !== undefined ? { exporter } : {}),
    ...(part !== undefined ? { part } : {}),
    ...(iface !== undefined ? { interface: iface } : {}),
  }
}

export function formatTarget(r: Pick<ResolvedInterface, 'place' | 'part' | 'iface'>): string {
  return `${r.place.name}/${r.part.name}/${r.iface.name}`
}

/** The USB interfaces a target names. Throws ERR_NOT_FOUND / ERR_AMBIGUOUS with what exists. */
export function resolveTarget(entries: readonly DirectoryEntry[], spec: TargetSpec): ResolvedInterface[] {
  const holders = entries.filter(
    (e) =>
      (spec.exporter === undefined || e.name === spec.exporter) &&
      e.places.some((p) => p.name === spec.place),
  )
  if (holders.length === 0) {
    const known = entries.flatMap((e) => e.places.map((p) => `${e.name}:${p.name}`))
    throw new AgentError(
      'ERR_NOT_FOUND',
      `no exporter has place "${spec.place}"${spec.exporter ? ` on ${spec.exporter}` : ''}; known places: ${known.join(', ') || 'none (is any exporter registered with this hub?)'}`,
    )
  }
  if (holders.length > 1) {
    throw new AgentError(
      'ERR_AMBIGUOUS',
      `place "${spec.place}" exists on ${holders.map((e) => e.name).join(', ')}: name one, e.g. ${holders[0]?.name}:${spec.place}`,
    )
  }
  const entry = holders[0] as DirectoryEntry
  const place = entry.places.find((p) => p.name === spec.place) as PlaceInfo
  const parts = spec.part === undefined ? place.parts : place.parts.filter((p) => p.name === spec.part)
  if (parts.length === 0) {
    throw new AgentError(
      'ERR_NOT_FOUND',
      `place "${place.name}" has no part "${spec.part}"; its parts: ${place.parts.map((p) => p.name).join(', ')}`,
    )
  }
  const found: ResolvedInterface[] = []
  for (const part of parts) {
    for (const iface of part.interfaces) {
      if (spec.interface !== undefined && iface.name !== spec.interface) continue
      if (iface.kind !== 'usb' || iface.busid === undefined) continue
      found.push({ entry, place, part, iface: { ...iface, busid: iface.busid } })
    }
  }
  if (found.length === 0) {
    const where = spec.part === undefined ? `place "${place.name}"` : `part "${place.name}/${spec.part}"`
    const offered = parts.flatMap((p) => p.interfaces.map((i) => `${p.name}/${i.name} (${i.kind})`))
    throw new AgentError(
      'ERR_NOT_FOUND',
      `${where} has no USB interface${spec.interface ? ` "${spec.interface}"` : ''}; it offers: ${offered.join(', ') || 'nothing'}`,
    )
  }
  return found
}
