/**
 * startHub(): the rendezvous node — a libp2p node running the directory service and a
 * circuit-relay-v2 relay gated by that directory, without the default 128 KiB / 2 min limits on
 * relayed connections (tether tunnels USB over them).
 */
import type { PrivateKey } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { DirectoryRegistry, type RegistryChange, serveDirectory } from '@tether/directory'
import { createTetherNode, type Logger, silentLogger, type TetherNode } from '@tether/net'
import { type Authority, type HubAuthInit, openAuthority } from './authority.js'
import {
  DEFAULT_INBOUND_CONNECTIONS_PER_HOST_PER_SECOND,
  DEFAULT_MAX_RESERVATIONS,
  DEFAULT_RESERVATION_GRACE_MS,
  DEFAULT_RESERVATION_TTL_MS,
} from './constants.js'
import { HubError } from './errors.js'
import { createHubGater } from './gater.js'

export interface HubInit {
  readonly privateKey: PrivateKey
  /** Multiaddrs to listen on, e.g. '/ip4/0.0.0.0/tcp/4001'. */
  readonly listen: readonly string[]
  /** Addresses to announce besides the listen addresses (port mappings, NAT). */
  readonly announce?: readonly string[]
  readonly logger?: Logger
  /** Clock of the directory, milliseconds since the epoch (default Date.now). */
  readonly now?: () => number
  /** Directory registration TTL (default DEFAULT_TTL_MS of @tether/directory). */
  readonly ttlMs?: number
  /** Relay reservations held at once (default DEFAULT_MAX_RESERVATIONS). */
  readonly maxReservations?: number
  /** Relay reservation lifetime (default DEFAULT_RESERVATION_TTL_MS). */
  readonly reservationTtlMs?: number
  /** How long a reservation waits for its peer's registration (default DEFAULT_RESERVATION_GRACE_MS). */
  readonly reservationGraceMs?: number
  /** Registrations held at most. */
  readonly maxEntries?: number
  /** Sweep interval of expired registrations. */
  readonly expireIntervalMs?: number
  /** Authorization (hub.toml [auth]): logins, policy, reservations, capability tokens. */
  readonly auth?: HubAuthInit
  /**
   * Without `auth`, must be true: an insecure hub that anyone who can reach may register
   * exporters with and relay through (it says so loudly).
   */
  readonly openMode?: boolean
}

export interface Hub {
  readonly node: TetherNode
  readonly registry: DirectoryRegistry
  /** Reservations, enrollment and the capability issuer; undefined in open mode. */
  readonly authority: Authority | undefined
  /** Addresses to give exporters and importers, each ending in /p2p/<hub peer id>. */
  addresses(): Multiaddr[]
  stop(): Promise<void>
}

export async function startHub(init: HubInit): Promise<Hub> {
  if (!init.auth && init.openMode !== true) {
    throw new HubError(
      'ERR_OPEN_MODE_REQUIRED',
      'the hub has no [auth] section (hub.toml) to check who may use it; add one, or run an insecure open hub ' +
        'that anyone who can reach may use with `tether hub --insecure-open`',
    )
  }
  const log = (init.logger ?? silentLogger).child('hub')
  const now = init.now ?? Date.now
  const registry = new DirectoryRegistry({
    ...(init.now ? { now: init.now } : {}),
    ...(init.ttlMs !== undefined ? { ttlMs: init.ttlMs } : {}),
    ...(init.maxEntries !== undefined ? { maxEntries: init.maxEntries } : {}),
  })
  const graceMs = init.reservationGraceMs ?? DEFAULT_RESERVATION_GRACE_MS
  const gater = createHubGater({ registry, logger: log.child('hub:gate'), graceMs })
  const authority = init.auth ? openAuthority(init.auth, now, log) : undefined
  if (!authority) {
    log.warn(
      'INSECURE OPEN MODE: no authorization; anyone who can reach this hub may register exporters and relay through it',
    )
  }

  let node: TetherNode
  try {
    node = await createTetherNode({
      privateKey: init.privateKey,
      listen: init.listen,
      ...(init.announce ? { announce: init.announce } : {}),
      ...(init.logger ? { logger: init.logger } : {}),
      relayServer: {
        reservations: {
          applyDefaultLimit: false,
          maxReservations: init.maxReservations ?? DEFAULT_MAX_RESERVATIONS,
          reservationTtl: init.reservationTtlMs ?? DEFAULT_RESERVATION_TTL_MS,
        },
      },
      connectionGater: gater,
      inboundConnectionsPerHostPerSecond: DEFAULT_INBOUND_CONNECTIONS_PER_HOST_PER_SECOND,
    })
  } catch (err) {
    gater.close()
    await authority?.stop()
    throw err
  }

  const relay = node.services.relay
  const onReservation = (event: CustomEvent<{ addr: Multiaddr; expiry: Date }>) => {
    log.info('relay reservation made', {
      addr: event.detail.addr.toString(),
      expiry: event.detail.expiry.toISOString(),
    })
  }
  relay?.addEventListener('relay:reservation', onReservation)

  // A peer that leaves the directory also loses its relay slot.
  const unsubscribe = registry.subscribe((change: RegistryChange) => {
    if (change.type !== 'unregistered' && change.type !== 'expired') return
    if (!relay) return
    for (const peer of [...relay.reservations.keys()]) {
      if (peer.toString() !== change.entry.peerId) continue
      relay.reservations.delete(peer)
      log.info('relay reservation dropped with the registration', { peer: change.entry.peerId })
    }
  })

  const directory = serveDirectory(node, registry, {
    logger: init.logger ?? silentLogger,
    ...(authority ? { admit: authority.admit } : {}),
    ...(init.expireIntervalMs !== undefined ? { expireIntervalMs: init.expireIntervalMs } : {}),
  })
  try {
    await directory.ready
    await authority?.start(node, registry)
  } catch (err) {
    unsubscribe()
    gater.close()
    await authority?.stop()
    await node.stop()
    throw err
  }

  const addresses = () =>
    node
      .getMultiaddrs()
      .filter((a) => !a.getComponents().some((c) => c.name === 'p2p-circuit'))
      .map((a) =>
        a.getComponents().some((c) => c.name === 'p2p')
          ? a
          : a.encapsulate(multiaddr(`/p2p/${node.peerId.toString()}`)),
      )
  log.info('hub started', { peerId: node.peerId.toString(), addresses: addresses().map((a) => a.toString()) })

  let stopped: Promise<void> | undefined
  return {
    node,
    registry,
    authority,
    addresses,
    stop() {
      stopped ??= (async () => {
        unsubscribe()
        relay?.removeEventListener('relay:reservation', onReservation)
        gater.close()
        await directory.stop()
        await authority?.stop()
        await node.stop()
        log.info('hub stopped')
      })()
      return stopped
    },
  }
}
