/**
 * A local USB/IP endpoint for a remote exporter: stock `usbip list -r` / `usbip attach -r`
 * connect to it on loopback; each connection becomes one tunnel. The first request is read
 * here to learn which busid it wants (the exporter authorizes tunnels per device), then its
 * bytes are replayed into the tunnel and both directions are piped unchanged. An endpoint for
 * one place shows and imports only that place's devices: the device list is answered here.
 * A refused tunnel is answered with a USB/IP error status (the protocol carries no text; the
 * agent's log has the reason): DEV_BUSY for a device in use, NA ("Request Failed") once the
 * forward's lease is over, NODEV otherwise.
 */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  encodeOpRepDevlist,
  encodeOpRepImport,
  type Logger,
  listDevicesOver,
  OpCode,
  OpStatus,
  silentLogger,
} from '@tether/usbip'
import { ENDPOINT_REQUEST_TIMEOUT_MS } from './constants.js'
import { isAgentError } from './errors.js'
import { readExactly } from './vhci/import.js'

/** busid "" asks for a device-list-only tunnel. */
export type OpenTunnel = (busid: string, signal: AbortSignal) => Promise<Duplex>

export interface EndpointStats {
  readonly connections: number
  readonly active: number
  readonly bytesIn: number
  readonly bytesOut: number
}

const OP_HEADER = 8
const BUSID_FIELD = 32

/** The busid of an OP_REQ_IMPORT body (NUL-padded ASCII). */
export function busidOf(field: Uint8Array): string {
  const end = field.indexOf(0)
  return Buffer.from(end < 0 ? field : field.subarray(0, end)).toString('latin1')
}

export class UsbipEndpoint {
  private readonly server: Server
  private readonly log: Logger
  private readonly sockets = new Set<Socket>()
  private counters = { connections: 0, bytesIn: 0, bytesOut: 0 }

  private readonly busids: ReadonlySet<string> | undefined

  private readonly onTunnelClosed: (busid: string) => void

  /**
   * `busids`: the devices this endpoint lists and imports (default: all the exporter's);
   * `onTunnelClosed`: after a device's tunnel closed, whoever closed it.
   */
  constructor(
    private readonly openTunnel: OpenTunnel,
    options: { logger?: Logger; busids?: Iterable<string>; onTunnelClosed?: (busid: string) => void } = {},
  ) {
    this.log = (options.logger ?? silentLogger).child('agent:endpoint')
    this.busids = options.busids ? new Set(options.busids) : undefined
    this.onTunnelClosed = options.onTunnelClosed ?? (() => {})
    this.server = createServer({ noDelay: true }, (socket) => void this.serve(socket))
  }

  get stats(): EndpointStats {
    return { ...this.counters, active: this.sockets.size }
  }

  listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen({ port, host }, () => {
        this.server.off('error', reject)
        resolve(this.server.address() as AddressInfo)
      })
    })
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const socket of this.sockets) socket.destroy()
    await closed
  }

  private async serve(socket: Socket): Promise<void> {
    this.counters.connections++
    this.sockets.add(socket)
    socket.once('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
    const signal = AbortSignal.timeout(ENDPOINT_REQUEST_TIMEOUT_MS)
    let request: Uint8Array
    let busid: string
    let code: number
    try {
      const header = await readExactly(socket, OP_HEADER, signal)
      code = (header[2] ?? 0) * 256 + (header[3] ?? 0)
      if (code === OpCode.REQ_DEVLIST) {
        request = header
        busid = ''
      } else if (code === OpCode.REQ_IMPORT) {
        const body = await readExactly(socket, BUSID_FIELD, signal)
        request = Buffer.concat([header, body])
        busid = busidOf(body)
      } else {
        this.log.warn('not a USB/IP request; closing', { code })
        socket.destroy()
        return
      }
    } catch (err) {
      this.log.debug('no request', { error: (err as Error).message })
      socket.destroy()
      return
    }

    if (this.busids && code === OpCode.REQ_IMPORT && !this.busids.has(busid)) {
      this.log.warn('import of a device outside this endpoint refused', { busid })
      socket.end(encodeOpRepImport(OpStatus.NODEV))
      return
    }
    let tunnel: Duplex
    try {
      tunnel = await this.openTunnel(busid, AbortSignal.timeout(ENDPOINT_REQUEST_TIMEOUT_MS * 2))
    } catch (err) {
      this.log.warn('tunnel refused', { busid: busid || '(device list)', error: (err as Error).message })
      const status =
        (err as { details?: { status?: string } }).details?.status === 'STATUS_BUSY'
          ? OpStatus.DEV_BUSY
          : isAgentError(err) && err.code === 'ERR_LEASE_ENDED'
            ? OpStatus.NA
            : OpStatus.NODEV
      socket.end(
        code === OpCode.REQ_DEVLIST ? encodeOpRepDevlist(OpStatus.ERROR, []) : encodeOpRepImport(status),
      )
      return
    }
    if (this.busids && code === OpCode.REQ_DEVLIST) {
      await this.answerDeviceList(socket, tunnel, this.busids)
      return
    }
    this.log.info('tunnel open', { busid: busid || '(device list)' })
    tunnel.write(request)
    this.counters.bytesOut += request.length
    socket.on('data', (chunk: Buffer) => {
      this.counters.bytesOut += chunk.length
    })
    tunnel.on('data', (chunk: Buffer) => {
      this.counters.bytesIn += chunk.length
    })
    const results = await Promise.allSettled([pipeline(socket, tunnel), pipeline(tunnel, socket)])
    const failure = results.find((r) => r.status === 'rejected')
    this.log.info('tunnel closed', {
      busid: busid || '(device list)',
      ...(failure ? { error: String((failure as PromiseRejectedResult).reason) } : {}),
    })
    socket.destroy()
    tunnel.destroy()
    if (busid !== '') this.onTunnelClosed(busid)
  }

  /** The exporter's device list, narrowed to this endpoint's devices. */
  private async answerDeviceList(socket: Socket, tunnel: Duplex, busids: ReadonlySet<string>): Promise<void> {
    try {
      const devices = await listDevicesOver(tunnel, AbortSignal.timeout(ENDPOINT_REQUEST_TIMEOUT_MS))
      const reply = encodeOpRepDevlist(
        OpStatus.OK,
        devices.filter((d) => busids.has(d.busid)),
      )
      this.counters.bytesIn += reply.length
      socket.end(reply)
    } catch (err) {
      this.log.warn('device list failed', { error: (err as Error).message })
      socket.end(encodeOpRepDevlist(OpStatus.ERROR, []))
    } finally {
      tunnel.destroy()
    }
  }
}
