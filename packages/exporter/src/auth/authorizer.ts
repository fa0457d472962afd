/**
 * Whether a tunnel may open: the importer's capability token, verified offline against the hub's
 * keys (cached), bound to the importer's noise-authenticated key, for this exporter, for the
 * place and part that hold the device, with the usb.attach right.
 */
import { type CapabilityClaims, type KeyResolver, requireRight, verifyCapability } from '@tether/auth'

export interface TunnelGrant {
  /** The lease (rid); revoking it closes the tunnel. */
  readonly leaseId: string
  readonly user: string
  /** When the token stops being valid (ms since the epoch): the tunnel closes then. */
  readonly expiresAt: number
  /** The busids of the token's place: all a device list shows. */
  readonly visible: readonly string[]
}

export interface TunnelAuthorizer {
  /**
   * Check `token` for a tunnel to `busid` ("" = device list) from the peer with public key
   * `remotePublicKey`; throws AuthError with the reason.
   */
  authorize(token: string, busid: string, remotePublicKey: Uint8Array): Promise<TunnelGrant>
}

export interface CapabilityAuthorizerInit {
  readonly keys: KeyResolver
  /** `iss` the hub signs with: tether:hub:<hub peer id>. */
  readonly issuer: string
  /** This exporter's PeerId: the audience. */
  readonly self: string
  /** Where a busid lives (undefined: not exported here). */
  readonly locate: (busid: string) => { readonly place: string; readonly part: string } | undefined
  /** The busids of a place. */
  readonly busidsOf: (place: string) => readonly string[]
  readonly isRevoked: (leaseId: string) => boolean
  readonly now?: () => number
}

export function capabilityAuthorizer(init: CapabilityAuthorizerInit): TunnelAuthorizer {
  return {
    async authorize(token, busid, remotePublicKey) {
      const where = busid === '' ? undefined : init.locate(busid)
      const claims: CapabilityClaims = await verifyCapability(token, {
        keys: init.keys,
        issuer: init.issuer,
        audience: init.self,
        remotePublicKey,
        ...(where ? { place: where.place } : {}),
        ...(init.now ? { now: () => new Date((init.now as () => number)()) } : {}),
        isRevoked: (_jti, rid) => init.isRevoked(rid),
      })
      // A device list shows what the token's place holds; an import needs usb.attach on its part.
      if (where) requireRight(claims, 'usb.attach', where.part)
      return {
        leaseId: claims.rid,
        user: claims.sub,
        expiresAt: claims.exp * 1000,
        visible: init.busidsOf(claims.place),
      }
    },
  }
}
