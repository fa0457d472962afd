/** A plain USB/IP server over TCP, so stock `usbip` tools and vhci_hcd work unchanged. */
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { UsbDeviceBackend } from '../backend.js'
import type { UrbCapture } from '../capture/urb-capture.js'
import { type Logger, silentLogger } from '../logger.js'
import { BackendCatalog, type StreamRestriction } from './catalog.js'
import { ServerConnection } from './connection.js'

export interface UsbipServerInit {
  readonly devices: readonly UsbDeviceBackend[]
  readonly logger?: Logger
  /** Record every URB (e.g. a PcapngUrbCapture for Wireshark). */
  readonly capture?: UrbCapture
}

export class UsbipServer {
  readonly catalog: BackendCatalog
  private readonly log: Logger
  private readonly capture: UrbCapture | undefined
  private readonly server: Server
  private readonly connections = new Set<ServerConnection>()

  constructor(init: UsbipServerInit) {
    this.catalog = new BackendCatalog(init.devices)
    this.log = (init.logger ?? silentLogger).child('usbip:server')
    this.capture = init.capture
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket))
  }

  /**
   * Serve one already-connected stream (a tunnel, a test pipe) exactly like a TCP client,
   * optionally restricted to one busid or to listing (see StreamRestriction).
   */
  serveStream(stream: Duplex, restriction: StreamRestriction = {}): ServerConnection {
    const connection = new ServerConnection(stream, this.catalog, this.log, this.capture, restriction)
    this.connections.add(connection)
    void connection.done.then(() => this.connections.delete(connection))
    return connection
  }

  listen(port: number, host = '127.0.0.1', signal?: AbortSignal): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err)
      this.server.once('error', onError)
      this.server.listen({ port, host, signal }, () => {
        this.server.off('error', onError)
        const address = this.server.address() as AddressInfo
        this.log.info('listening', { host: address.address, port: address.port })
        resolve(address)
      })
    })
  }

  async close(): Promise<void> {
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const connection of this.connections) connection.shutdown('server stopping')
    await Promise.all([...this.connections].map((c) => c.done))
    await closing
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 30_000)
    this.log.debug('connection', { remote: `${socket.remoteAddress}:${socket.remotePort}` })
    this.serveStream(socket)
  }
}
