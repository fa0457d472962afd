/**
 * How the hub's control protocol sees places and leases: the directory (who exports what, where)
 * and the reservation engine joined into the wire's LeaseInfo / QueueEntryInfo, and request
 * targets resolved to the engine's "exporter/place" ids.
 */
import { accessTo, type Principal } from '@tether/auth'
import type { HubRequest, LeaseInfo, PlaceStateInfo, QueueEntryInfo } from '@tether/control'
import type { DirectoryEntry, DirectoryRegistry } from '@tether/directory'
import type { ReservationEngine } from '../reservations/engine.js'
import { ReservationError } from '../reservations/errors.js'
import type { Lease, PlaceStatus, QueueEntry, ReservationTarget } from '../reservations/types.js'

export class HubView {
  constructor(
    private readonly registry: DirectoryRegistry,
    private readonly engine: ReservationEngine,
  ) {}

  resolveTarget(
    body: Extract<HubRequest['body'], { type: 'reserve' }>,
  ):
    | { kind: 'place'; place: { name: string; tags: readonly string[] }; engineTarget: ReservationTarget }
    | { kind: 'spec'; engineTarget: ReservationTarget } {
    if (body.place !== undefined) {
      const id = this.placeId(body.place)
      const [exporterName, name] = splitPlaceId(id)
      const tags = this.exporterEntry(exporterName)?.places.find((p) => p.name === name)?.tags ?? []
      return { kind: 'place', place: { name, tags }, engineTarget: { place: id } }
    }
    return {
      kind: 'spec',
      engineTarget: {
        spec: {
          tags: [...body.tags],
          parts: body.parts.map((p) => ({
            compatible: [...p.compatible],
            interfaces: p.interfaces.filter((i): i is 'usb' | 'serial' => i === 'usb' || i === 'serial'),
          })),
        },
      },
    }
  }

  /** "exporter/place", from either that or a bare place name only one exporter has. */
  placeId(text: string): string {
    if (text.includes('/')) return text
    const holders = this.registry.lookupPlace(text)
    if (holders.length === 1) return `${(holders[0] as DirectoryEntry).name}/${text}`
    if (holders.length > 1) {
      throw new ReservationError(
        'ERR_BAD_REQUEST',
        `place ${text} exists at ${holders.map((h) => h.name).join(', ')}; name it as EXPORTER/${text}`,
      )
    }
    // Not registered now: leases and grants may still name it; the engine knows.
    const known = this.engine.listLeases().find((l) => splitPlaceId(l.place)[1] === text)
    if (known) return known.place
    throw new ReservationError('ERR_NOT_FOUND', `no exporter has place ${text} now; see tether places`)
  }

  placeAccessArgs(placeId: string): { place: string; placeTags: readonly string[] } {
    const [exporterName, name] = splitPlaceId(placeId)
    const tags = this.exporterEntry(exporterName)?.places.find((p) => p.name === name)?.tags ?? []
    return { place: name, placeTags: tags }
  }

  /** Whether a rule gives `principal` the importer role on the place (what `who` shows them). */
  mayUse(principal: Principal, placeId: string): boolean {
    const { place, placeTags } = this.placeAccessArgs(placeId)
    return accessTo(principal, 'importer', place, placeTags) !== undefined
  }

  /** A place's state for the wire; the holder only when `showHolder` (as `who` decides). */
  placeState(status: PlaceStatus, showHolder: boolean): PlaceStateInfo {
    return {
      place: status.place,
      state: status.state,
      ...(status.lease && showHolder ? { holder: status.lease.user } : {}),
      ...(status.lease ? { untilMs: status.lease.expiresAt } : {}),
      waiting: status.waiting.length,
      ...(status.maintenance?.note ? { note: status.maintenance.note } : {}),
    }
  }

  exporterEntry(name: string): DirectoryEntry | undefined {
    return this.registry.lookupName(name)
  }

  leaseInfo(lease: Lease): LeaseInfo {
    const [exporter, place] = splitPlaceId(lease.place)
    return {
      id: lease.id,
      user: lease.user,
      exporter,
      exporterPeerId: this.exporterEntry(exporter)?.peerId ?? '',
      place,
      parts: [...lease.parts],
      priority: lease.priority,
      startsAtMs: lease.startedAt,
      expiresAtMs: lease.expiresAt,
      renewals: lease.renewals,
    }
  }

  entryInfo(entry: QueueEntry): QueueEntryInfo {
    const position = this.engine.position(entry.id)
    return {
      id: entry.id,
      user: entry.user,
      priority: entry.priority,
      position: position?.overall ?? 0,
      enqueuedAtMs: entry.enqueuedAt,
      wanted: describeTarget(entry.target),
    }
  }
}

export function splitPlaceId(id: string): [string, string] {
  const slash = id.indexOf('/')
  return slash < 0 ? ['', id] : [id.slice(0, slash), id.slice(slash + 1)]
}

/** What a reservation asks for, for display: the place id, or the spec ("tags arm; parts st,stm32"). */
export function describeTarget(target: ReservationTarget): string {
  return 'place' in target ? target.place : describeSpec(target.spec)
}

function describeSpec(spec: {
  tags?: readonly string[]
  parts?: readonly { compatible?: readonly string[] }[]
}): string {
  const tags = spec.tags?.length ? `tags ${spec.tags.join(',')}` : ''
  const parts = spec.parts?.length
    ? `parts ${spec.parts.map((p) => p.compatible?.join('+') ?? '*').join(' ')}`
    : ''
  return [tags, parts].filter(Boolean).join('; ') || 'any place'
}
