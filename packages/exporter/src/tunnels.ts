/**
 * Incoming USB/IP tunnels: TunnelOpen preamble → refuse (no or bad capability token, unknown
 * busid, busy) or accept and serve the Duplex with UsbipServer, restricted to the busid it was
 * opened for (an empty busid is a list-only tunnel). A tunnel opened under a capability closes
 * when the token expires or its lease is revoked.
 */
import type { Duplex } from 'node:stream'
import type { Connection, Stream } from '@libp2p/interface'
import {
  type ConnectionPath,
  connectionPath,
  type Logger,
  REFUSAL_CODE,
  receiveTunnelOpen,
} from '@tether/net'
import type { ServerConnection, UsbipServer } from '@tether/usbip'
import type { TunnelAuthorizer, TunnelGrant } from './auth/authorizer.js'
import { TUNNEL_HANDSHAKE_TIMEOUT_MS } from './constants.js'

export interface TunnelInfo {
  /** Importer PeerId (noise-authenticated). */
  readonly peer: string
  /** The device; "" for a list-only tunnel. */
  readonly busid: string
  readonly since: Date
  readonly path: ConnectionPath
  readonly remoteAddress: string
  /** USB/IP bytes received from / sent to the importer so far. */
  readonly bytesIn: number
  readonly bytesOut: number
  readonly urbs: number
}

interface OpenTunnel {
  readonly peer: string
  readonly busid: string
  readonly since: Date
  readonly path: ConnectionPath
  readonly remoteAddress: string
  readonly grant: TunnelGrant | undefined
  connection: ServerConnection | undefined
  duplex: Duplex | undefined
  expiry: NodeJS.Timeout | undefined
}

/** After telling the importer its device is gone, how long before the stream is cut. */
const TEARDOWN_GRACE_MS = 1_000

export class TunnelTable {
  private readonly open = new Set<OpenTunnel>()
  /** Busids with an accepted (or being accepted) tunnel: the second one is BUSY. */
  private readonly held = new Map<string, OpenTunnel>()
  private stopping = false

  constructor(
    private readonly server: UsbipServer,
    private readonly log: Logger,
    private readonly handshakeTimeoutMs = TUNNEL_HANDSHAKE_TIMEOUT_MS,
    /** Undefined: open mode, every tunnel is accepted. */
    private readonly authorizer?: TunnelAuthorizer,
  ) {}

  /** Close every tunnel opened under `leaseId` (returned, kicked, revoked, expired at the hub). */
  revoke(leaseId: string, reason: string): number {
    let closed = 0
    for (const tunnel of this.open) {
      if (tunnel.grant?.leaseId !== leaseId) continue
      this.end(tunnel, `lease ${leaseId} ${reason}`)
      closed++
    }
    return closed
  }

  /** The hub renewed `leaseId` (over its authenticated watch stream): its tunnels live on. */
  extend(leaseId: string, expiresAt: number): void {
    for (const tunnel of this.open) {
      if (tunnel.grant?.leaseId !== leaseId) continue
      this.arm(tunnel, expiresAt)
      this.log.info('tunnel extended with its lease', {
        lease: leaseId,
        until: new Date(expiresAt).toISOString(),
      })
    }
  }

  private arm(tunnel: OpenTunnel, expiresAt: number): void {
    if (tunnel.expiry) clearTimeout(tunnel.expiry)
    tunnel.expiry = setTimeout(() => this.end(tunnel, 'the lease ended'), Math.max(0, expiresAt - Date.now()))
    tunnel.expiry.unref()
  }

  private end(tunnel: OpenTunnel, reason: string): void {
    this.log.info('closing tunnel', { peer: tunnel.peer, busid: tunnel.busid, reason })
    if (tunnel.expiry) clearTimeout(tunnel.expiry)
    // As if the device were unplugged: pending URBs fail, the importer's kernel sees it go;
    // then the stream is cut, whatever the importer does.
    tunnel.connection?.shutdown(reason)
    const duplex = tunnel.duplex
    setTimeout(() => duplex?.destroy(), TEARDOWN_GRACE_MS).unref()
  }

  list(): TunnelInfo[] {
    return [...this.open].map((t) => {
      const stats = t.connection?.stats ?? { bytesIn: 0, bytesOut: 0, urbs: 0 }
      return {
        peer: t.peer,
        busid: t.busid,
        since: t.since,
        path: t.path,
        remoteAddress: t.remoteAddress,
        bytesIn: stats.bytesIn,
        bytesOut: stats.bytesOut,
        urbs: stats.urbs,
      }
    })
  }

  /** Refuse new tunnels from now on (open ones end with the server). */
  stop(): void {
    this.stopping = true
  }

  /** The USBIP_TUNNEL_PROTOCOL stream handler. Never throws. */
  async handle(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    let request: Awaited<ReturnType<typeof receiveTunnelOpen>>
    try {
      request = await receiveTunnelOpen(stream, connection, { timeoutMs: this.handshakeTimeoutMs })
    } catch (err) {
      this.log.warn('tunnel refused: bad preamble', { peer, error: (err as Error).message })
      return
    }
    const busid = request.open.busid
    const refuse = async (
      status: 'STATUS_NO_SUCH_DEVICE' | 'STATUS_BUSY' | 'STATUS_ERROR' | 'STATUS_DENIED',
      message: string,
      code?: string,
    ) => {
      this.log.info('tunnel refused', { peer, busid, status, reason: message, ...(code ? { code } : {}) })
      await request.refuse(status, message, code).catch((err: Error) => {
        this.log.debug('could not send the refusal', { peer, busid, error: err.message })
      })
    }
    if (this.stopping) return refuse('STATUS_ERROR', 'the exporter is stopping')
    let grant: TunnelGrant | undefined
    if (this.authorizer) {
      const token = new TextDecoder().decode(request.open.token)
      const key = connection.remotePeer.publicKey?.raw
      if (token === '')
        return refuse(
          'STATUS_DENIED',
          'a capability token is required: reserve the place and attach with tether',
          'ERR_TOKEN_MISSING',
        )
      try {
        grant = await this.authorizer.authorize(token, busid, key ?? new Uint8Array(0))
      } catch (err) {
        // The code travels as a field (importers decide on it) and, for people and older
        // importers, at the end of the message.
        const code = (err as { code?: unknown }).code
        const valid = typeof code === 'string' && REFUSAL_CODE.test(code) ? code : undefined
        return refuse('STATUS_DENIED', `${(err as Error).message} (${valid ?? 'ERR_DENIED'})`, valid)
      }
    }
    if (busid !== '' && !this.server.catalog.backend(busid)) {
      const known = this.server.catalog
        .all()
        .map((d) => d.busid)
        .join(', ')
      return refuse('STATUS_NO_SUCH_DEVICE', `no device ${busid} here (devices: ${known})`)
    }
    if (busid !== '') {
      const holder = this.held.get(busid)
      if (holder || this.server.catalog.isClaimed(busid)) {
        return refuse('STATUS_BUSY', `${busid} is in use${holder ? ` by ${holder.peer}` : ''}`)
      }
    }
    const tunnel: OpenTunnel = {
      peer,
      busid,
      since: new Date(),
      path: connectionPath(connection),
      remoteAddress: connection.remoteAddr.toString(),
      grant,
      connection: undefined,
      duplex: undefined,
      expiry: undefined,
    }
    // Hold the busid before the first await, so a concurrent second tunnel sees BUSY.
    if (busid !== '') this.held.set(busid, tunnel)
    this.open.add(tunnel)
    const release = () => {
      this.open.delete(tunnel)
      if (this.held.get(busid) === tunnel) this.held.delete(busid)
    }
    let duplex: Awaited<ReturnType<typeof request.accept>>
    try {
      duplex = await request.accept(busid === '' ? 'device list' : `serving ${busid}`)
    } catch (err) {
      release()
      this.log.info('tunnel failed before it opened', { peer, busid, error: (err as Error).message })
      return
    }
    const served = this.server.serveStream(
      duplex,
      busid === '' ? { listOnly: true, ...(grant ? { visible: grant.visible } : {}) } : { onlyBusid: busid },
    )
    tunnel.connection = served
    tunnel.duplex = duplex
    if (grant) this.arm(tunnel, grant.expiresAt)
    this.log.info(busid === '' ? 'list-only tunnel open' : 'tunnel open', {
      peer,
      busid,
      path: tunnel.path,
      remote: tunnel.remoteAddress,
      ...(grant ? { lease: grant.leaseId, user: grant.user } : {}),
    })
    await served.done
    if (tunnel.expiry) clearTimeout(tunnel.expiry)
    release()
    const stats = served.stats
    this.log.info('tunnel closed', {
      peer,
      busid,
      seconds: Math.round((Date.now() - tunnel.since.getTime()) / 100) / 10,
      bytesIn: stats.bytesIn,
      bytesOut: stats.bytesOut,
      urbs: stats.urbs,
    })
  }
}
