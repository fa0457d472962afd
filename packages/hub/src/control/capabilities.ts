/**
 * Capability tokens: signed for a lease its holder asks about, bound (cnf) to the asking peer.
 * The peer a lease's capability went to may ask again without a login (an agent's attachments
 * outlive its user's login token); that memory is lost on a hub restart.
 */
import type { PeerId } from '@libp2p/interface'
import {
  AuthError,
  authorize,
  cnfForPeer,
  newestSigningKey,
  type Principal,
  type Right,
  type SigningKey,
  signCapability,
} from '@tether/auth'
import { CAPABILITY_LIFETIME_MS, type HubResponse } from '@tether/control'
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
   * an agent keeps its attachments past its user's login token. Lost on a hub restart (then the
   * agent asks with a login again).
   */
  renew(leaseId: string, peer: PeerId): Promise<HubResponse> {
    const holder = this.holders.get(leaseId)
    const lease = this.init.engine.listLeases().find((l) => l.id === leaseId)
    if (!lease || !holder || holder.peer !== peer.toString() || holder.user !== lease.user) {
      throw new AuthError(
        'ERR_TOKEN_MISSING',
        `no capability for lease ${leaseId} was given to this peer; ask with a login (tether attach after tether login)`,
      )
    }
    return this.signFor(lease, holder, peer)
  }

  private async signFor(lease: Lease, holder: CapabilityHolder, peer: PeerId): Promise<HubResponse> {
    const [exporterName, placeName] = splitPlaceId(lease.place)
    const exporter = this.init.view.exporterEntry(exporterName)
    if (!exporter) {
      throw new ReservationError(
        'ERR_NOT_FOUND',
        `exporter ${exporterName} is not registered now; try again when it is back`,
      )
    }
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
}
