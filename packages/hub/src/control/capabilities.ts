/**
 * Capability tokens: signed for a lease its holder asks about, bound (cnf) to the asking peer.
 * The peer a lease's capability went to may ask again without a login (an agent's attachments
 * outlive its user's login token): the hub remembers it, and after a restart the capability in the
 * peer's hand (signed by this hub, bound to that peer) proves it.
 */
import type { PeerId } from '@libp2p/interface'
import {
  AuthError,
  authorize,
  cnfForPeer,
  JwksCache,
  newestSigningKey,
  type Principal,
  publicJwks,
  type Right,
  type SigningKey,
  signCapability,
  verifyCapability,
} from '@tether/auth'
import { CAPABILITY_LIFETIME_MS, type HubResponse } from '@tether/control'
import type { DirectoryEntry } from '@tether/directory'
import type { ReservationEngine } from '../reservations/engine.js'
import { ReservationError } from '../reservations/errors.js'
import type { ReservationService } from '../reservations/service.js'
import type { Lease } from '../reservations/types.js'
import { type HubView, splitPlaceId } from './view.js'

interface CapabilityHolder {
  readonly peer: string
  readonly user: string
  readonly rights: readonly Right[]
}

export interface CapabilityDeskInit {
  readonly engine: ReservationEngine
  readonly reservations: ReservationService
  readonly view: HubView
  readonly signingKeys: () => readonly SigningKey[]
  /** `iss` of the tokens. */
  readonly issuer: string
  readonly now: () => number
}

export class CapabilityDesk {
  /** Lease id → the peer its capability was last given to (and for whom, with which rights). */
  private readonly holders = new Map<string, CapabilityHolder>()
  private readonly unsubscribe: () => void

  constructor(private readonly init: CapabilityDeskInit) {
    this.unsubscribe = init.reservations.subscribe((events) => {
      for (const event of events) {
        if (event.type === 'lease-ended') this.holders.delete(event.lease.id)
      }
    })
  }

  close(): void {
    this.unsubscribe()
  }

  /** A capability for the caller's lease, bound to `peer`; remembers who holds it. */
  async issue(principal: Principal, leaseId: string, peer: PeerId): Promise<HubResponse> {
    const engine = this.init.engine
    const lease = engine.listLeases({ user: principal.name }).find((l) => l.id === leaseId)
    if (!lease) throw new ReservationError('ERR_NOT_FOUND', `you hold no lease ${leaseId}; see tether list`)
    const [exporterName, placeName] = splitPlaceId(lease.place)
    const access = authorize(principal, {
      action: 'attach',
      place: placeName,
      placeTags:
        this.init.view.exporterEntry(exporterName)?.places.find((p) => p.name === placeName)?.tags ?? [],
    })
    const holder = { peer: peer.toString(), user: principal.name, rights: [...access.rights] }
    this.holders.set(lease.id, holder)
    return this.signFor(lease, holder, peer)
  }

  /**
   * A fresh capability for the peer that already holds one for this lease, without a login:
   * an agent keeps its attachments past its user's login token. The holder is remembered, or
   * proven by `previous` (a capability this hub signed for this lease and peer, still valid) —
   * what an agent has after a hub restart. Refuses with ERR_LEASE_ENDED when the lease is over.
   */
  async renew(leaseId: string, peer: PeerId, previous?: string): Promise<HubResponse> {
    const lease = this.init.engine.listLeases().find((l) => l.id === leaseId)
    if (!lease) {
      throw new ReservationError(
        'ERR_LEASE_ENDED',
        `lease ${leaseId} is over (returned, kicked, revoked or expired); reserve the place again`,
      )
    }
    const known = this.holders.get(leaseId)
    const holder =
      known && known.peer === peer.toString() && known.user === lease.user
        ? known
        : previous !== undefined
          ? await this.proveHolder(lease, peer, previous)
          : undefined
    if (!holder) {
      throw new AuthError(
        'ERR_TOKEN_MISSING',
        `no capability for lease ${leaseId} was given to this peer; ask with a login (tether attach after tether login)`,
      )
    }
    this.holders.set(lease.id, holder)
    return this.signFor(lease, holder, peer)
  }

  /** The holder `previous` proves: this hub's capability for `lease`, bound to `peer`, valid now. */
  private async proveHolder(lease: Lease, peer: PeerId, previous: string): Promise<CapabilityHolder> {
    const [exporterName, placeName] = splitPlaceId(lease.place)
    const claims = await verifyCapability(previous, {
      keys: await JwksCache.inMemory(publicJwks([...this.init.signingKeys()])),
      issuer: this.init.issuer,
      audience: this.registeredExporter(exporterName).peerId,
      remotePublicKey: peer.publicKey?.raw ?? new Uint8Array(),
      place: placeName,
      now: () => new Date(this.init.now()),
      isRevoked: () => false,
    })
    if (claims.rid !== lease.id || claims.sub !== lease.user) {
      throw new AuthError(
        'ERR_TOKEN_MISSING',
        `the capability presented is for lease ${claims.rid} of ${claims.sub}, not lease ${lease.id}; ask with a login`,
      )
    }
    return { peer: peer.toString(), user: lease.user, rights: [...claims.rights] }
  }

  private async signFor(lease: Lease, holder: CapabilityHolder, peer: PeerId): Promise<HubResponse> {
    const [exporterName, placeName] = splitPlaceId(lease.place)
    const exporter = this.registeredExporter(exporterName)
    const now = this.init.now()
    const expiresAt = Math.min(lease.expiresAt, now + CAPABILITY_LIFETIME_MS)
    const token = await signCapability(
      {
        iss: this.init.issuer,
        sub: holder.user,
        aud: exporter.peerId,
        place: placeName,
        parts: [...lease.parts],
        rights: [...holder.rights],
        nbf: Math.floor(now / 1000),
        exp: Math.floor(expiresAt / 1000),
        rid: lease.id,
        cnf: cnfForPeer(peer),
      },
      newestSigningKey([...this.init.signingKeys()]),
      { now: () => new Date(now) },
    )
    return { type: 'capability', token, expiresAtMs: expiresAt }
  }

  private registeredExporter(name: string): DirectoryEntry {
    const exporter = this.init.view.exporterEntry(name)
    if (!exporter) {
      throw new ReservationError(
        'ERR_NOT_FOUND',
        `exporter ${name} is not registered now; try again when it is back`,
      )
    }
    return exporter
  }
}
