/**
 * The importer agent: one libp2p node, the attachments it keeps in the local kernel and the
 * local USB/IP endpoints it serves. The CLI talks to it over a local socket (control.ts).
 */

import type { PrivateKey } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { type DirectoryEntry, queryDirectory } from '@tether/directory'
import { createTetherNode, openTunnel, RoundTripProbe, type TetherNode } from '@tether/net'
import { type Logger, silentLogger } from '@tether/usbip'
import { type CapabilitySource, leaseCapability } from './capabilities.js'
import { bestConnection, connectExporter, type ExporterTarget, tryDirect } from './connector.js'
import { RTT_INTERVAL_MS, UPGRADE_INTERVAL_MS } from './constants.js'
import { AgentError } from './errors.js'
import { type ForwardState, ForwardTunnels } from './forward-lease.js'
import { type AttachmentInfo, RemoteAttachment } from './remote-attachment.js'
import { formatTarget, parseTarget, resolveTarget } from './resolve.js'
import { UsbipEndpoint } from './usbip-endpoint.js'

export interface AgentInit {
  readonly privateKey: PrivateKey
  /** Where the agent listens, so exporters can dial it back (direct paths from behind NAT). */
  readonly listen?: readonly string[]
  readonly announce?: readonly string[]
  /** Default hub for requests that name none. */
  readonly hub?: string
  readonly logger?: Logger
  /** While an exporter is only reachable through the relay, how often to try for a direct path. */
  readonly upgradeIntervalMs?: number
  /** How often to measure each exporter's round trip. */
  readonly rttIntervalMs?: number
}

export interface ForwardInfo {
  readonly id: string
  readonly exporter: string
  readonly peerId: string
  readonly place: string
  readonly address: string
  /** up; ended: its lease is over (kicked, returned, expired), it refuses connections. */
  readonly state: ForwardState
  /** Why it ended, else the last failure to open a tunnel. */
  readonly lastError: string | undefined
  readonly connections: number
  readonly active: number
  readonly bytesIn: number
  readonly bytesOut: number
  readonly path: string | undefined
  /** Round trip to the exporter's peer, measured every few seconds. */
  readonly rttMs: number | undefined
}

export interface AgentStatus {
  readonly peerId: string
  readonly addresses: readonly string[]
  readonly hub: string | undefined
  readonly attachments: readonly AttachmentInfo[]
  readonly forwards: readonly ForwardInfo[]
}

export class Agent {
  private readonly attachments = new Map<string, RemoteAttachment>()
  private readonly forwards = new Map<string, Forward>()
  /** Last measured round trip per exporter peer, and the probe that measures it. */
  private readonly rtts = new Map<string, number>()
  private readonly probes = new Map<string, RoundTripProbe>()
  private nextId = 1
  private readonly timers: NodeJS.Timeout[]

  private constructor(
    readonly node: TetherNode,
    private readonly defaultHub: string | undefined,
    private readonly log: Logger,
    private readonly intervals: { upgradeMs: number; rttMs: number },
  ) {
    this.timers = [
      setInterval(() => void this.measureRtt(intervals.rttMs), intervals.rttMs),
      setInterval(() => void this.upgradeRelayed(), intervals.upgradeMs),
    ]
    for (const timer of this.timers) timer.unref()
  }

  static async start(init: AgentInit): Promise<Agent> {
    const log = (init.logger ?? silentLogger).child('agent')
    const node = await createTetherNode({
      privateKey: init.privateKey,
      listen: init.listen ?? ['/ip4/0.0.0.0/tcp/0'],
      ...(init.announce ? { announce: init.announce } : {}),
      relayClient: true,
      logger: init.logger ?? silentLogger,
    })
    log.info(
      'tunnels carry a capability token when attached with a login (a hub with [auth]); without one, only open-mode exporters accept them',
    )
    return new Agent(node, init.hub, log, {
      upgradeMs: init.upgradeIntervalMs ?? UPGRADE_INTERVAL_MS,
      rttMs: init.rttIntervalMs ?? RTT_INTERVAL_MS,
    })
  }

  /** Attach every USB interface a target names; resolves when all are enumerated. */
  async attach(
    request: { target: string; hub?: string; login?: string },
    onProgress: (message: string) => void = () => {},
  ): Promise<AttachmentInfo[]> {
    const hub = this.hubOf(request.hub)
    const spec = parseTarget(request.target)
    onProgress(`looking up ${request.target} at the hub`)
    const entries = await queryDirectory(this.node, hub, {
      place: spec.place,
      ...(spec.exporter ? { exporter: spec.exporter } : {}),
    })
    const resolved = resolveTarget(entries, spec)
    // With a login, the hub has [auth]: every tunnel carries a capability for the user's lease.
    const capabilities = new Map<string, Promise<CapabilitySource>>()
    const capabilityOf = (r: (typeof resolved)[number]) => {
      if (!request.login) return undefined
      const key = `${r.entry.name}/${r.place.name}`
      let source = capabilities.get(key)
      if (!source) {
        onProgress(`asking the hub for a capability for ${key}`)
        source = leaseCapability(
          this.node,
          hub,
          { exporter: r.entry.name, place: r.place.name },
          request.login,
        )
        capabilities.set(key, source)
      }
      return source
    }
    const started: AttachmentInfo[] = []
    for (const r of resolved) {
      const already = [...this.attachments.values()].find(
        (a) => a.peerId === r.entry.peerId && a.info().remoteBusid === r.iface.busid,
      )
      if (already?.live) {
        onProgress(`${formatTarget(r)} is already attached`)
        started.push(already.info())
        continue
      }
      if (already) {
        // Ended (its lease is over) or detached from outside: a new attachment takes its place.
        this.attachments.delete(already.id)
        await already.detach()
      }
      const attachment = new RemoteAttachment({
        id: String(this.nextId++),
        node: this.node,
        resolved: r,
        hub,
        refresh: () => this.lookup(hub, r.entry),
        logger: this.log,
        ...(request.login ? { capability: await (capabilityOf(r) as Promise<CapabilitySource>) } : {}),
      })
      try {
        started.push(await attachment.start((m) => onProgress(`${formatTarget(r)}: ${m}`)))
      } catch (err) {
        await attachment.detach().catch(() => {})
        throw err
      }
      this.attachments.set(attachment.id, attachment)
    }
    void this.measureRtt(this.intervals.rttMs)
    return started
  }

  /** Detach by attachment id, vhci port, target prefix (place, place/part...) or everything. */
  async detach(request: { selector?: string; all?: boolean }): Promise<AttachmentInfo[]> {
    const chosen = [...this.attachments.values()].filter((a) => {
      if (request.all) return true
      const info = a.info()
      const s = request.selector ?? ''
      return (
        info.id === s ||
        String(info.port) === s ||
        info.localBusid === s ||
        info.target === s ||
        info.target.startsWith(`${s}/`)
      )
    })
    if (chosen.length === 0) {
      const known = [...this.attachments.values()].map((a) => a.info().target)
      throw new AgentError(
        'ERR_NOT_ATTACHED',
        `nothing attached matches "${request.selector ?? ''}"; attached: ${known.join(', ') || 'nothing'}`,
      )
    }
    const infos = chosen.map((a) => a.info())
    await Promise.all(chosen.map((a) => a.detach()))
    for (const a of chosen) this.attachments.delete(a.id)
    return infos
  }

  /**
   * Serve a local USB/IP endpoint (for stock `usbip`) for a place (or one part or interface of it):
   * it lists and imports only those devices. Replaces an ended forward of the same place.
   */
  async forward(request: {
    target: string
    hub?: string
    listen?: string
    login?: string
  }): Promise<ForwardInfo> {
    const hub = this.hubOf(request.hub)
    const spec = parseTarget(request.target)
    const entries = await queryDirectory(this.node, hub, {
      place: spec.place,
      ...(spec.exporter ? { exporter: spec.exporter } : {}),
    })
    const resolved = resolveTarget(entries, spec)
    const entry = resolved[0]?.entry
    if (!entry) throw new AgentError('ERR_NOT_FOUND', `no exporter has place ${spec.place}`)
    const capability = request.login
      ? await leaseCapability(this.node, hub, { exporter: entry.name, place: spec.place }, request.login)
      : undefined
    const busids = resolved.map((r) => r.iface.busid)
    const place = [spec.place, spec.part, spec.interface].filter(Boolean).join('/')
    const tunnels = new ForwardTunnels(
      (busid, token, signal) => this.openForwardTunnel(forward, entry, busid, token, signal),
      {
        what: `${entry.name}:${place}`,
        target: request.target,
        logger: this.log,
        ...(capability ? { capability } : {}),
      },
    )
    const endpoint = new UsbipEndpoint((busid, signal) => tunnels.tunnel(busid, signal), {
      logger: this.log,
      busids,
      onTunnelClosed: () => void tunnels.check(),
    })
    const forward: Forward = {
      info: { id: String(this.nextId++), exporter: entry.name, peerId: entry.peerId, place, address: '' },
      target: { peerId: entry.peerId, addresses: entry.addresses },
      hub,
      endpoint,
      tunnels,
    }
    for (const [id, old] of this.forwards) {
      if (old.tunnels.state !== 'ended' || old.info.peerId !== entry.peerId || old.info.place !== place)
        continue
      // Its lease is over: the new one takes its place (and can listen on its address).
      this.log.info('replacing an ended forward', { id, place, address: old.info.address })
      this.forwards.delete(id)
      await old.endpoint.close()
    }
    const [host, port] = splitHostPort(request.listen ?? '127.0.0.1:0')
    const address = await forward.endpoint.listen(port, host)
    forward.info = { ...forward.info, address: `${address.address}:${address.port}` }
    this.forwards.set(forward.info.id, forward)
    this.log.info('forwarding', { ...forward.info, busids })
    return this.forwardInfo(forward.info.id) as ForwardInfo
  }

  /** One tunnel for a forward's endpoint: over the best connection, else a fresh one. */
  private async openForwardTunnel(
    forward: Forward,
    entry: DirectoryEntry,
    busid: string,
    token: Uint8Array | undefined,
    signal: AbortSignal,
  ) {
    let best = bestConnection(this.node, forward.target.peerId)
    if (!best) {
      forward.target = (await this.lookup(forward.hub, entry)) ?? forward.target
      best = await connectExporter(this.node, forward.target, { hub: forward.hub, logger: this.log, signal })
    }
    // The first tunnel of a connection: measure at once rather than at the next tick.
    if (!this.rtts.has(forward.target.peerId)) void this.measureRtt(this.intervals.rttMs)
    return openTunnel(
      best.connection,
      undefined,
      { busid, ...(token ? { token } : {}) },
      { logger: this.log, signal },
    )
  }

  async unforward(id: string): Promise<void> {
    const forward = this.forwards.get(id)
    if (!forward) throw new AgentError('ERR_NOT_ATTACHED', `no forward with id ${id}`)
    this.forwards.delete(id)
    await forward.endpoint.close()
  }

  status(): AgentStatus {
    return {
      peerId: this.node.peerId.toString(),
      addresses: this.node.getMultiaddrs().map((a) => a.toString()),
      hub: this.defaultHub,
      attachments: [...this.attachments.values()].map((a) => a.info()),
      forwards: [...this.forwards.keys()].map((id) => this.forwardInfo(id) as ForwardInfo),
    }
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer)
    for (const probe of this.probes.values()) probe.close()
    await Promise.allSettled([...this.attachments.values()].map((a) => a.detach()))
    await Promise.allSettled([...this.forwards.values()].map((f) => f.endpoint.close()))
    await this.node.stop()
  }

  private forwardInfo(id: string): ForwardInfo | undefined {
    const forward = this.forwards.get(id)
    if (!forward) return undefined
    const stats = forward.endpoint.stats
    const { state, lastError } = forward.tunnels
    const path = state === 'up' ? bestConnection(this.node, forward.info.peerId)?.path : undefined
    return {
      ...forward.info,
      state,
      lastError,
      ...stats,
      path,
      rttMs: path ? this.rtts.get(forward.info.peerId) : undefined,
    }
  }

  private hubOf(requested: string | undefined): Multiaddr {
    const text = requested ?? this.defaultHub
    if (!text) {
      throw new AgentError(
        'ERR_BAD_REQUEST',
        'no hub given: pass --hub /ip4/HOST/tcp/PORT/p2p/HUBID (or set TETHER_HUB)',
      )
    }
    let address: Multiaddr
    try {
      address = multiaddr(text)
    } catch (err) {
      throw new AgentError('ERR_BAD_REQUEST', `hub address "${text}" is not a multiaddr`, { cause: err })
    }
    if (!address.getComponents().some((c) => c.name === 'p2p')) {
      throw new AgentError(
        'ERR_BAD_REQUEST',
        `hub address "${text}" lacks /p2p/<hub peer id> (tether hub prints it)`,
      )
    }
    return address
  }

  private async lookup(
    hub: Multiaddr,
    entry: DirectoryEntry,
  ): Promise<{ peerId: string; addresses: readonly string[] } | undefined> {
    try {
      const fresh = (await queryDirectory(this.node, hub, { exporter: entry.name })).find(
        (e) => e.peerId === entry.peerId,
      )
      return fresh ? { peerId: fresh.peerId, addresses: fresh.addresses } : undefined
    } catch (err) {
      this.log.debug('hub lookup failed; using the addresses known', { error: (err as Error).message })
      return undefined
    }
  }

  /** The exporters that attachments and forwards use, one per peer. */
  private exporters(): Map<string, { target: ExporterTarget; hub: Multiaddr | undefined }> {
    const byPeer = new Map<string, { target: ExporterTarget; hub: Multiaddr | undefined }>()
    for (const a of this.attachments.values()) byPeer.set(a.peerId, a.exporter)
    for (const f of this.forwards.values()) {
      if (f.tunnels.state === 'up') byPeer.set(f.target.peerId, { target: f.target, hub: f.hub })
    }
    return byPeer
  }

  /** Round trip of each exporter's best connection, over a probe stream kept per connection. */
  private measuring = false
  private async measureRtt(timeoutMs: number): Promise<void> {
    if (this.measuring) return
    this.measuring = true
    try {
      const peers = this.exporters()
      for (const [peerId, probe] of this.probes) {
        if (!peers.has(peerId)) {
          probe.close()
          this.probes.delete(peerId)
          this.rtts.delete(peerId)
        }
      }
      for (const peerId of peers.keys()) await this.measurePeer(peerId, timeoutMs)
      for (const attachment of this.attachments.values()) {
        attachment.rttMs =
          attachment.info().state === 'attached' ? this.rtts.get(attachment.peerId) : undefined
      }
    } finally {
      this.measuring = false
    }
  }

  private async measurePeer(peerId: string, timeoutMs: number): Promise<void> {
    const best = bestConnection(this.node, peerId)
    let probe = this.probes.get(peerId)
    if (probe && probe.connection !== best?.connection) {
      probe.close()
      probe = undefined
    }
    if (!best) {
      this.probes.delete(peerId)
      this.rtts.delete(peerId)
      return
    }
    if (!probe) {
      probe = new RoundTripProbe(best.connection)
      this.probes.set(peerId, probe)
    }
    try {
      this.rtts.set(peerId, await probe.measure({ signal: AbortSignal.timeout(timeoutMs) }))
    } catch (err) {
      this.log.debug('round trip not measured', { peer: peerId, error: (err as Error).message })
      this.rtts.delete(peerId)
    }
  }

  /** Exporters reached only through the relay: try again for a direct path (new tunnels use it). */
  private upgrading = false
  private async upgradeRelayed(): Promise<void> {
    if (this.upgrading) return
    this.upgrading = true
    try {
      for (const [peerId, { target, hub }] of this.exporters()) {
        const upgraded = await tryDirect(this.node, target, { ...(hub ? { hub } : {}), logger: this.log })
        if (upgraded) {
          this.log.info('direct path to a relayed exporter; new tunnels use it', {
            peer: peerId,
            address: upgraded.connection.remoteAddr.toString(),
          })
        }
      }
    } catch (err) {
      this.log.debug('upgrade attempt failed', { error: (err as Error).message })
    } finally {
      this.upgrading = false
    }
  }
}

interface Forward {
  info: Omit<
    ForwardInfo,
    'state' | 'lastError' | 'connections' | 'active' | 'bytesIn' | 'bytesOut' | 'path' | 'rttMs'
  >
  /** The exporter as last looked up (its addresses can change when it restarts). */
  target: ExporterTarget
  readonly hub: Multiaddr
  readonly endpoint: UsbipEndpoint
  /** Its tunnels, with the lease's capability under a hub with [auth]; ended when the lease is. */
  readonly tunnels: ForwardTunnels
}

export function splitHostPort(text: string): [string, number] {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text)
  const port = Number(match?.[3])
  if (!match || port > 65535) {
    throw new AgentError(
      'ERR_BAD_REQUEST',
      `"${text}" is not HOST:PORT (e.g. 127.0.0.1:3240, or :0 for a free port)`,
    )
  }
  return [match[1] ?? (match[2] || '127.0.0.1'), port]
}
