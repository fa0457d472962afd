/**
 * The exporter runtime: one libp2p node, the configured devices behind one UsbipServer, tunnel
 * streams served per busid, registration with the hub and a relay reservation on it.
 */
import type { PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { JwksCache } from '@tether/auth'
import { capabilityIssuer } from '@tether/control'
import {
  hubPeerIdOf,
  keepRegistered,
  type RegistrationHandle,
  type RegistrationState,
} from '@tether/directory'
import {
  createTetherNode,
  handleDialBack,
  handleRoundTrips,
  type Logger,
  silentLogger,
  type TetherNode,
  USBIP_TUNNEL_PROTOCOL,
} from '@tether/net'
import { UsbipServer } from '@tether/usbip'
import { capabilityAuthorizer, type TunnelAuthorizer } from './auth/authorizer.js'
import { HubLink } from './auth/hub-link.js'
import { RevocationList } from './auth/revocations.js'
import type { ExporterConfig } from './config/schema.js'
import { buildDevices, disposeDevices, type ExportedInterface } from './devices.js'
import { ExporterError } from './errors.js'
import { parseHubAddress } from './hub-address.js'
import { buildRegistration, describePlaces, registrationAddresses } from './registration.js'
import { keepRelayReservation, type RelayKeeper } from './relay.js'
import { type TunnelInfo, TunnelTable } from './tunnels.js'

export interface StartExporterInit {
  readonly config: ExporterConfig
  readonly privateKey: PrivateKey
  /**
   * The hub (with /p2p/<hub peer id>); overrides config.hub. With neither, the exporter serves
   * tunnels on its own addresses and registers nowhere.
   */
  readonly hub?: Multiaddr
  /** Override [network].listen / announce. */
  readonly listen?: readonly string[]
  readonly announce?: readonly string[]
  readonly logger?: Logger
  /**
   * Tunnels need a capability token from the hub (a hub with [auth]); the hub's keys are cached
   * in `jwksCache`, the leases it ended in `revokedLeases`. `joinToken` enrolls this exporter's
   * name once.
   */
  readonly auth?: { readonly jwksCache: string; readonly revokedLeases: string; readonly joinToken?: string }
  /** Without `auth`: must be true, and anyone who can reach the exporter can attach its devices. */
  readonly openMode?: boolean
  /** Registration refresh period (the hub's TTL / 3 caps it). */
  readonly refreshMs?: number
  /** How often the relay reservation is checked. */
  readonly relayCheckMs?: number
  /** Registration state changes: 'registered' each time a registration (re)succeeds after none. */
  readonly onRegistration?: (state: RegistrationState, detail?: { error?: Error; retryInMs?: number }) => void
  /** The relay circuit address through the hub appeared (true) or went away (false). */
  readonly onRelay?: (reserved: boolean) => void
}

export interface Exporter {
  readonly name: string
  readonly node: TetherNode
  readonly server: UsbipServer
  readonly interfaces: readonly ExportedInterface[]
  /** Undefined without a hub. */
  readonly registration: RegistrationHandle | undefined
  readonly hub: Multiaddr | undefined
  /** Full multiaddrs (with /p2p/<self>) the exporter can be dialled at, circuit ones included. */
  addresses(): string[]
  tunnels(): TunnelInfo[]
  /** Unregister, refuse new tunnels, end open ones, stop the node. Idempotent. */
  stop(): Promise<void>
}

export async function startExporter(init: StartExporterInit): Promise<Exporter> {
  if (!init.auth && init.openMode !== true) {
    throw new ExporterError(
      'ERR_OPEN_MODE_REQUIRED',
      'give the exporter a hub with [auth] to check capability tokens against, or run an insecure exporter that anyone who can reach may attach to (openMode: true, tether export --insecure-open)',
    )
  }
  const root = init.logger ?? silentLogger
  const log = root.child('exporter')
  const { config } = init
  const hub =
    init.hub ?? (config.hub ? parseHubAddress(config.hub.address, `${config.file}: hub.address`) : undefined)
  const interfaces = buildDevices(config, { logger: root })
  const server = new UsbipServer({ devices: interfaces.map((i) => i.device), logger: root })
  let node: TetherNode
  try {
    node = await createTetherNode({
      privateKey: init.privateKey,
      listen: init.listen ?? config.network.listen,
      announce: init.announce ?? config.network.announce,
      relayClient: true,
      logger: root,
    })
  } catch (err) {
    await server.close()
    await disposeDevices(interfaces)
    throw err
  }
  if (!init.auth) {
    log.warn(
      'INSECURE OPEN MODE: no authorization — anyone who can reach this exporter can attach its devices; run it only on a network you trust',
      { exporter: config.name, peerId: node.peerId.toString() },
    )
  }

  let link: HubLink | undefined
  let authorizer: TunnelAuthorizer | undefined
  if (init.auth) {
    if (!hub) {
      await node.stop()
      await server.close()
      await disposeDevices(interfaces)
      throw new ExporterError(
        'ERR_NO_HUB',
        'an exporter with authorization needs its hub: pass --hub or set [hub].address',
      )
    }
    let keys: JwksCache
    let revoked: RevocationList
    try {
      keys = await JwksCache.open(init.auth.jwksCache)
      revoked = await RevocationList.open(init.auth.revokedLeases)
    } catch (err) {
      await node.stop()
      await server.close()
      await disposeDevices(interfaces)
      throw err
    }
    link = new HubLink({
      node,
      hub,
      keys,
      revoked,
      logger: root.child('exporter:hub'),
      onRevoked: (leaseId, reason) => {
        const closed = tunnels.revoke(leaseId, reason)
        if (closed > 0) log.info('lease ended at the hub; tunnels closed', { lease: leaseId, reason, closed })
      },
      onRenewed: (leaseId, expiresAt) => tunnels.extend(leaseId, expiresAt),
    })
    const byBusid = new Map(interfaces.map((i) => [i.busid, { place: i.place, part: i.part }]))
    authorizer = capabilityAuthorizer({
      keys,
      issuer: capabilityIssuer(hubPeerIdOf(hub)),
      self: node.peerId.toString(),
      locate: (busid) => byBusid.get(busid),
      busidsOf: (place) => interfaces.filter((i) => i.place === place).map((i) => i.busid),
      isRevoked: (leaseId) => link?.isRevoked(leaseId) ?? false,
    })
    if (init.auth.joinToken) await link.enroll(init.auth.joinToken)
  }

  const tunnels = new TunnelTable(server, root.child('exporter:tunnel'), undefined, authorizer)
  let stopDialBack: () => Promise<void>
  try {
    await node.handle(USBIP_TUNNEL_PROTOCOL, (stream, connection) => tunnels.handle(stream, connection), {
      runOnLimitedConnection: true,
    })
    // Importers on a relayed connection may ask us to dial them directly.
    stopDialBack = await handleDialBack(node, { logger: root })
    // Importers measure their tunnels' round trip against us (`tether status`).
    await handleRoundTrips(node)
  } catch (err) {
    await node.stop()
    await server.close()
    await disposeDevices(interfaces)
    throw err
  }

  const places = describePlaces(config, interfaces)
  let registration: RegistrationHandle | undefined
  let relay: RelayKeeper | undefined
  if (hub) {
    const self = node.peerId.toString()
    relay = keepRelayReservation(node, {
      hub,
      registered: () => registration?.registered ?? false,
      logger: root.child('exporter:relay'),
      ...(init.relayCheckMs !== undefined ? { intervalMs: init.relayCheckMs } : {}),
      onChange: (reserved) => {
        // The circuit address came or went: tell the directory now, not at the next refresh.
        registration?.refreshNow()
        init.onRelay?.(reserved)
      },
    })
    registration = keepRegistered(node, {
      hub,
      registration: () =>
        buildRegistration(config, places, registrationAddresses(node.getMultiaddrs(), self)),
      logger: root,
      ...(init.refreshMs !== undefined ? { refreshMs: init.refreshMs } : {}),
      onChange: (state, detail) => {
        if (state === 'registered') {
          relay?.poke()
          // The hub lets only registered exporters watch.
          link?.start()
        }
        init.onRegistration?.(state, detail)
      },
    })
  } else {
    log.info('no hub given: serving tunnels on the listen addresses only, not registering')
  }

  let stopping: Promise<void> | undefined
  return {
    name: config.name,
    node,
    server,
    interfaces,
    registration,
    hub,
    addresses: () => node.getMultiaddrs().map((a) => a.toString()),
    tunnels: () => tunnels.list(),
    stop() {
      stopping ??= (async () => {
        log.info('stopping', { exporter: config.name })
        tunnels.stop()
        relay?.stop()
        await link?.stop()
        await registration
          ?.stop()
          .catch((err: Error) => log.debug('unregister failed', { error: err.message }))
        await node.unhandle(USBIP_TUNNEL_PROTOCOL).catch(() => {})
        await stopDialBack().catch(() => {})
        await server.close()
        await node.stop()
        await disposeDevices(interfaces)
      })()
      return stopping
    },
  }
}
