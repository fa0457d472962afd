/**
 * One remote USB interface attached to the local kernel, kept attached: when the tunnel drops
 * (exporter restarted, network lost) the device goes away like an unplug, and the attachment
 * reconnects — looking the exporter up again, since its addresses may have changed — and
 * attaches it afresh, until detach(). Under a hub with [auth] it stops when the lease is over
 * (kicked, returned, revoked, expired: see leaseOverReason) — state "ended", the reason in
 * lastError — since no reconnect could succeed; `tether attach` with a new lease replaces it.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ConnectionPath, TetherNode } from '@tether/net'
import { openTunnel } from '@tether/net'
import { type Logger, silentLogger } from '@tether/usbip'
import { reconnectDelay } from './backoff.js'
import { type CapabilitySource, leaseOverReason } from './capabilities.js'
import { connectExporter, type ExporterTarget } from './connector.js'
import { formatTarget, type ResolvedInterface } from './resolve.js'
import { importHandshake } from './vhci/import.js'
import {
  attachStream,
  primaryNodes,
  type VhciAttachment,
  type VhciEnumeration,
  waitForEnumeration,
} from './vhci/index.js'

/**
 * connecting → attached ⇄ reconnecting; detached (by detach(), or by hand from outside tether);
 * ended (the lease it ran under is over: no reconnect).
 */
export type AttachmentState = 'connecting' | 'attached' | 'reconnecting' | 'detached' | 'ended'

export interface AttachmentInfo {
  readonly id: string
  /** place/part/interface */
  readonly target: string
  readonly exporter: string
  readonly peerId: string
  readonly remoteBusid: string
  readonly state: AttachmentState
  readonly path: ConnectionPath | undefined
  readonly remoteAddress: string | undefined
  readonly rttMs: number | undefined
  readonly port: number | undefined
  readonly localBusid: string | undefined
  readonly devices: readonly string[]
  readonly bytesIn: number
  readonly bytesOut: number
  readonly attachedAt: string | undefined
  readonly reconnects: number
  readonly lastError: string | undefined
}

export interface RemoteAttachmentInit {
  readonly id: string
  readonly node: TetherNode
  readonly resolved: ResolvedInterface
  readonly hub: Multiaddr | undefined
  /** Looks the exporter up again before a reconnect (its addresses may have changed). */
  readonly refresh: () => Promise<ExporterTarget | undefined>
  readonly logger?: Logger
  readonly enumerationTimeoutMs?: number
  /** With a hub with [auth]: the capability tokens the tunnel carries. */
  readonly capability?: CapabilitySource
}

export class RemoteAttachment {
  readonly id: string
  private readonly log: Logger
  private readonly controller = new AbortController()
  private target: ExporterTarget
  private state: AttachmentState = 'connecting'
  private path: ConnectionPath | undefined
  private remoteAddress: string | undefined
  private vhci: VhciAttachment | undefined
  private enumeration: VhciEnumeration | undefined
  private attachedAt: Date | undefined
  private reconnects = 0
  private lastError: string | undefined
  private carried = { bytesIn: 0, bytesOut: 0 }
  rttMs: number | undefined
  private running: Promise<void> | undefined

  constructor(private readonly init: RemoteAttachmentInit) {
    this.id = init.id
    this.log = (init.logger ?? silentLogger).child('agent:attach')
    this.target = { peerId: init.resolved.entry.peerId, addresses: init.resolved.entry.addresses }
  }

  /** Still attached or trying to be (not detached, not ended). */
  get live(): boolean {
    return this.state !== 'detached' && this.state !== 'ended'
  }

  get peerId(): string {
    return this.target.peerId
  }

  /** The exporter as last looked up, and the hub whose relay reaches it. */
  get exporter(): { readonly target: ExporterTarget; readonly hub: Multiaddr | undefined } {
    return { target: this.target, hub: this.init.hub }
  }

  info(): AttachmentInfo {
    const { resolved } = this.init
    return {
      id: this.id,
      target: formatTarget(resolved),
      exporter: resolved.entry.name,
      peerId: this.target.peerId,
      remoteBusid: resolved.iface.busid,
      state: this.state,
      path: this.state === 'attached' ? this.path : undefined,
      remoteAddress: this.state === 'attached' ? this.remoteAddress : undefined,
      rttMs: this.state === 'attached' ? this.rttMs : undefined,
      port: this.vhci?.port,
      localBusid: this.enumeration?.busid,
      devices: this.enumeration ? primaryNodes(this.enumeration.nodes).map((n) => n.path) : [],
      bytesIn: this.carried.bytesIn + (this.vhci?.bytesIn ?? 0),
      bytesOut: this.carried.bytesOut + (this.vhci?.bytesOut ?? 0),
      attachedAt: this.attachedAt?.toISOString(),
      reconnects: this.reconnects,
      lastError: this.lastError,
    }
  }

  /** Attach once (errors propagate to the caller), then keep it attached in the background. */
  async start(onProgress: (message: string) => void = () => {}): Promise<AttachmentInfo> {
    await this.attachOnce(onProgress)
    this.running = this.keepAttached()
    return this.info()
  }

  async detach(): Promise<void> {
    this.state = 'detached'
    this.controller.abort(new Error('detached'))
    await this.vhci?.detach()
    await this.running
  }

  private async attachOnce(onProgress: (message: string) => void): Promise<void> {
    const signal = this.controller.signal
    const { resolved, node, hub } = this.init
    const busid = resolved.iface.busid
    onProgress(`connecting to ${resolved.entry.name} (${this.target.peerId})`)
    const { connection, path } = await connectExporter(node, this.target, { hub, logger: this.log, signal })
    this.path = path
    this.remoteAddress = connection.remoteAddr.toString()
    onProgress(`${path} connection via ${this.remoteAddress}; opening tunnel to ${busid}`)
    const token = await this.init.capability?.token()
    const stream = await openTunnel(
      connection,
      undefined,
      { busid, ...(token ? { token } : {}) },
      { logger: this.log, signal },
    )
    try {
      const device = await importHandshake(stream, busid, { signal })
      onProgress(
        `imported ${busid} (${hex(device.idVendor)}:${hex(device.idProduct)}); attaching to vhci_hcd`,
      )
      this.vhci = await attachStream({ stream, device, logger: this.log, signal })
    } catch (err) {
      stream.destroy()
      throw err
    }
    onProgress(`attached on vhci port ${this.vhci.port}; waiting for the kernel to enumerate it`)
    this.enumeration = await waitForEnumeration(this.vhci.port, {
      signal,
      logger: this.log,
      ...(this.init.enumerationTimeoutMs ? { timeoutMs: this.init.enumerationTimeoutMs } : {}),
    })
    this.state = 'attached'
    this.attachedAt = new Date()
    this.lastError = undefined
    this.log.info('attached', {
      target: formatTarget(resolved),
      localBusid: this.enumeration.busid,
      devices: primaryNodes(this.enumeration.nodes).map((n) => n.path),
      path,
    })
  }

  private async keepAttached(): Promise<void> {
    const signal = this.controller.signal
    let failures = 0
    while (!signal.aborted) {
      const vhci = this.vhci
      if (vhci) {
        const reason = await vhci.closed
        this.carried = {
          bytesIn: this.carried.bytesIn + vhci.bytesIn,
          bytesOut: this.carried.bytesOut + vhci.bytesOut,
        }
        this.vhci = undefined
        this.enumeration = undefined
        if (signal.aborted || reason.kind === 'detached') break
        if (reason.kind === 'kernel-closed') {
          // Someone detached the port by hand (usbip detach): respect it.
          this.log.info('detached from outside tether; not reconnecting', {
            target: formatTarget(this.init.resolved),
          })
          this.state = 'detached'
          break
        }
        this.lastError = reason.kind === 'error' ? reason.error.message : 'the exporter closed the tunnel'
        this.log.warn('tunnel lost; reconnecting', {
          target: formatTarget(this.init.resolved),
          reason: this.lastError,
        })
      }
      this.state = 'reconnecting'
      failures++
      try {
        await sleep(reconnectDelay(failures), undefined, { signal })
      } catch {
        break
      }
      try {
        const fresh = await this.init.refresh()
        if (fresh) this.target = fresh
        await this.attachOnce((message) => this.log.debug(message))
        this.reconnects++
        failures = 0
        this.log.info('re-attached', {
          target: formatTarget(this.init.resolved),
          reconnects: this.reconnects,
        })
      } catch (err) {
        if (signal.aborted) break
        this.lastError = (err as Error).message
        await this.vhci?.detach().catch(() => {})
        this.vhci = undefined
        const over = leaseOverReason(err)
        if (over !== undefined) {
          this.lastError = over
          this.state = 'ended'
          this.log.warn('the lease is over; not reconnecting', {
            target: formatTarget(this.init.resolved),
            lease: this.init.capability?.leaseId,
            reason: over,
          })
          break
        }
        this.log.warn('reconnect failed', { target: formatTarget(this.init.resolved), error: this.lastError })
      }
    }
    if (this.state !== 'ended') this.state = 'detached'
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(4, '0')
}
