/**
 * The hub's directory, pure: registrations keyed by PeerId, a clock injected, no timers. Expired
 * entries are invisible at once and dropped by expire(), which the hub calls periodically.
 */
import { DEFAULT_MAX_ENTRIES, DEFAULT_TTL_MS } from './constants.js'
import { DirectoryError } from './errors.js'
import { compareEntries, matchEntry } from './query.js'
import type { DirectoryEntry, DirectoryQuery, ExporterRegistration } from './types.js'
import { checkQuery, checkRegistration } from './validate.js'

/** A PeerId or its string form. */
export type PeerIdLike = string | { toString(): string }

export interface DirectoryRegistryInit {
  /** Milliseconds since the epoch (default Date.now). */
  readonly now?: () => number
  /** Lifetime of a registration without refresh (default DEFAULT_TTL_MS). */
  readonly ttlMs?: number
  /** Distinct exporters held at most (default DEFAULT_MAX_ENTRIES). */
  readonly maxEntries?: number
}

export interface RegistryChange {
  readonly type: 'registered' | 'refreshed' | 'unregistered' | 'expired'
  readonly entry: DirectoryEntry
}

export class DirectoryRegistry {
  readonly ttlMs: number
  readonly maxEntries: number
  private readonly now: () => number
  private readonly byPeer = new Map<string, DirectoryEntry>()
  private readonly byName = new Map<string, string>()
  /** Place name → peers whose registration lists it. */
  private readonly byPlace = new Map<string, Set<string>>()
  private readonly listeners = new Set<(change: RegistryChange) => void>()

  constructor(init: DirectoryRegistryInit = {}) {
    this.now = init.now ?? Date.now
    this.ttlMs = init.ttlMs ?? DEFAULT_TTL_MS
    this.maxEntries = init.maxEntries ?? DEFAULT_MAX_ENTRIES
    if (!Number.isInteger(this.ttlMs) || this.ttlMs <= 0 || this.ttlMs > 0xffffffff) {
      throw new TypeError(`ttlMs must be a positive integer of milliseconds (got ${init.ttlMs})`)
    }
    if (!Number.isInteger(this.maxEntries) || this.maxEntries <= 0) {
      throw new TypeError(`maxEntries must be a positive integer (got ${init.maxEntries})`)
    }
  }

  /**
   * Register or re-register `peerId`. A re-registration by the same peer replaces its
   * registration (the name may change) and keeps registeredAt. Throws DirectoryError
   * ERR_NAME_TAKEN when another live peer holds the name, ERR_DIRECTORY_FULL, or
   * ERR_BAD_REGISTRATION for a registration out of bounds.
   */
  register(peerId: PeerIdLike, registration: ExporterRegistration, observedAddress?: string): DirectoryEntry {
    const peer = peerId.toString()
    const checked = checkRegistration(registration, (field, why) =>
      local('ERR_BAD_REGISTRATION', `registration ${field} ${why}`, { field }),
    )
    const now = this.now()
    const holder = this.byName.get(checked.name)
    if (holder !== undefined && holder !== peer) {
      const held = this.byPeer.get(holder)
      if (held && this.live(held, now)) {
        const inSeconds = Math.ceil((held.expiresAt.getTime() - now) / 1000)
        throw local(
          'ERR_NAME_TAKEN',
          `exporter name "${checked.name}" is held by peer ${holder} (until it unregisters, disconnects or ` +
            `its registration expires in ${inSeconds} s); choose another exporter name`,
          { name: checked.name, holder },
        )
      }
      if (held) this.remove(holder, 'expired')
    }
    const previous = this.byPeer.get(peer)
    const current = previous && this.live(previous, now) ? previous : undefined
    if (previous && !current) this.remove(peer, 'expired')
    if (!current && this.byPeer.size >= this.maxEntries) {
      this.expire()
      if (this.byPeer.size >= this.maxEntries) {
        throw local('ERR_DIRECTORY_FULL', `the hub holds ${this.maxEntries} registrations, its limit`, {
          maxEntries: this.maxEntries,
        })
      }
    }
    if (current && current.name !== checked.name) this.byName.delete(current.name)
    if (current) this.unindexPlaces(current)
    const entry: DirectoryEntry = Object.freeze({
      ...checked,
      peerId: peer,
      ...(observedAddress !== undefined ? { observedAddress } : {}),
      registeredAt: current?.registeredAt ?? new Date(now),
      expiresAt: new Date(now + this.ttlMs),
    })
    this.byPeer.set(peer, entry)
    this.byName.set(entry.name, peer)
    for (const place of entry.places) {
      const peers = this.byPlace.get(place.name) ?? new Set<string>()
      peers.add(peer)
      this.byPlace.set(place.name, peers)
    }
    this.emit({ type: 'registered', entry })
    return entry
  }

  /** Extend a live registration by the TTL; throws DirectoryError ERR_NOT_REGISTERED otherwise. */
  refresh(peerId: PeerIdLike): DirectoryEntry {
    const peer = peerId.toString()
    const current = this.lookup(peer)
    if (!current) {
      throw local('ERR_NOT_REGISTERED', `peer ${peer} has no registration on this hub; register again`, {
        peerId: peer,
      })
    }
    const entry: DirectoryEntry = Object.freeze({ ...current, expiresAt: new Date(this.now() + this.ttlMs) })
    this.byPeer.set(peer, entry)
    this.emit({ type: 'refreshed', entry })
    return entry
  }

  /** Drop the registration of `peerId`; false when there was none (or it had expired). */
  unregister(peerId: PeerIdLike): boolean {
    const peer = peerId.toString()
    const entry = this.byPeer.get(peer)
    if (!entry) return false
    const live = this.live(entry, this.now())
    this.remove(peer, live ? 'unregistered' : 'expired')
    return live
  }

  /** Drop every expired registration and return them. */
  expire(): DirectoryEntry[] {
    const now = this.now()
    const expired = [...this.byPeer.values()].filter((entry) => !this.live(entry, now))
    for (const entry of expired) this.remove(entry.peerId, 'expired')
    return expired
  }

  /** The live registration of `peerId`. */
  lookup(peerId: PeerIdLike): DirectoryEntry | undefined {
    const entry = this.byPeer.get(peerId.toString())
    return entry && this.live(entry, this.now()) ? entry : undefined
  }

  /** The live registration under exporter name `name` (O(1), unlike a query). */
  lookupName(name: string): DirectoryEntry | undefined {
    const peer = this.byName.get(name)
    return peer === undefined ? undefined : this.lookup(peer)
  }

  /** The live registrations listing a place named `place`, by exporter name (O(holders)). */
  lookupPlace(place: string): DirectoryEntry[] {
    const peers = this.byPlace.get(place)
    if (!peers) return []
    const entries: DirectoryEntry[] = []
    for (const peer of peers) {
      const entry = this.lookup(peer)
      if (entry) entries.push(entry)
    }
    return entries.sort(compareEntries)
  }

  isRegistered(peerId: PeerIdLike): boolean {
    return this.lookup(peerId) !== undefined
  }

  /** Live entries matching `query` (see query.ts), by exporter name. Throws ERR_BAD_QUERY. */
  query(query: DirectoryQuery = {}): DirectoryEntry[] {
    const q = checkQuery(query, (field, why) => local('ERR_BAD_QUERY', `query ${field} ${why}`, { field }))
    const now = this.now()
    const matches: DirectoryEntry[] = []
    for (const entry of this.byPeer.values()) {
      if (!this.live(entry, now)) continue
      const match = matchEntry(entry, q)
      if (match) matches.push(match)
    }
    return matches.sort(compareEntries)
  }

  /** Every live entry, by exporter name. */
  entries(): DirectoryEntry[] {
    const now = this.now()
    return [...this.byPeer.values()].filter((e) => this.live(e, now)).sort(compareEntries)
  }

  /** Number of live entries. */
  get size(): number {
    const now = this.now()
    let n = 0
    for (const entry of this.byPeer.values()) if (this.live(entry, now)) n++
    return n
  }

  /** Be told of every change (synchronously); returns the unsubscribe function. */
  subscribe(listener: (change: RegistryChange) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private live(entry: DirectoryEntry, now: number): boolean {
    return entry.expiresAt.getTime() > now
  }

  private remove(peer: string, type: 'unregistered' | 'expired'): void {
    const entry = this.byPeer.get(peer)
    if (!entry) return
    this.byPeer.delete(peer)
    if (this.byName.get(entry.name) === peer) this.byName.delete(entry.name)
    this.unindexPlaces(entry)
    this.emit({ type, entry })
  }

  private unindexPlaces(entry: DirectoryEntry): void {
    for (const place of entry.places) {
      const peers = this.byPlace.get(place.name)
      peers?.delete(entry.peerId)
      if (peers?.size === 0) this.byPlace.delete(place.name)
    }
  }

  private emit(change: RegistryChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change)
      } catch {
        // A listener's failure is its own; the registry stays consistent.
      }
    }
  }
}

function local(
  code:
    | 'ERR_NAME_TAKEN'
    | 'ERR_NOT_REGISTERED'
    | 'ERR_DIRECTORY_FULL'
    | 'ERR_BAD_REGISTRATION'
    | 'ERR_BAD_QUERY',
  message: string,
  details: Record<string, unknown>,
): DirectoryError {
  return new DirectoryError(code, message, { origin: 'local', details })
}
