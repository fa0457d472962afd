/**
 * Drives one ServerSession over a byte stream: the one reader (socket data → session), the one
 * writer (session events → socket, in order), and the backend calls in between.
 */
import type { Duplex } from 'node:stream'
import type { BackendRequest, UsbDeviceBackend } from '../backend.js'
import type { UrbCapture } from '../capture/urb-capture.js'
import type { Logger } from '../logger.js'
import { ServerSession } from '../session/server-session.js'
import { type BackendCatalog, restrictCatalog, type StreamRestriction } from './catalog.js'

export interface ConnectionStats {
  readonly urbs: number
  readonly bytesIn: number
  readonly bytesOut: number
}

export class ServerConnection {
  private readonly session: ServerSession
  private backend: UsbDeviceBackend | undefined
  private unsubscribeGone: (() => void) | undefined
  private pumping = false
  private closed = false
  private urbs = 0
  private bytesIn = 0
  private bytesOut = 0
  readonly done: Promise<void>
  private resolveDone!: () => void

  constructor(
    private readonly stream: Duplex,
    private readonly catalog: BackendCatalog,
    private readonly log: Logger,
    private readonly capture?: UrbCapture,
    restriction: StreamRestriction = {},
  ) {
    this.session = new ServerSession(restrictCatalog(catalog, restriction))
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve
    })
    stream.on('data', (chunk: Buffer) => {
      this.bytesIn += chunk.length
      this.session.receiveData(chunk)
      this.pump()
    })
    stream.on('end', () => this.onTransportClosed())
    stream.on('close', () => this.onTransportClosed())
    stream.on('error', (err) => {
      this.log.debug('transport error', { error: err.message })
      this.onTransportClosed()
    })
    stream.on('drain', () => stream.resume())
  }

  get stats(): ConnectionStats {
    return { urbs: this.urbs, bytesIn: this.bytesIn, bytesOut: this.bytesOut }
  }

  /** Ends the connection as if the device had gone away (used at server shutdown). */
  shutdown(reason: string): void {
    this.session.deviceGone(reason)
    this.pump()
  }

  private onTransportClosed(): void {
    this.session.connectionClosed()
    this.pump()
  }

  private pump(): void {
    // Backends may complete synchronously from inside submit(); keep one loop and no re-entry.
    if (this.pumping) return
    this.pumping = true
    try {
      let events = this.session.takeEvents()
      while (events.length > 0) {
        this.stream.cork()
        for (const event of events) {
          switch (event.type) {
            case 'send':
              this.bytesOut += event.bytes.length
              if (!this.stream.write(event.bytes)) this.stream.pause()
              break
            case 'attached':
              this.attach(event.busid)
              break
            case 'submit':
              this.submit(event.request)
              break
            case 'cancel':
              this.backend?.cancel(event.seqnum)
              break
            case 'close':
              this.finish(event.reason, event.error)
              break
          }
        }
        this.stream.uncork()
        events = this.session.takeEvents()
      }
    } finally {
      this.pumping = false
    }
  }

  private submit(request: BackendRequest): void {
    this.urbs++
    const backend = this.backend!
    const capture = this.capture
    capture?.submitted(backend.identity, request)
    backend.submit(request, (completion) => {
      capture?.completed(backend.identity, request, completion)
      if (this.session.complete(request.seqnum, completion)) this.pump()
    })
  }

  private attach(busid: string): void {
    const backend = this.catalog.backend(busid)!
    this.backend = backend
    backend.open()
    this.unsubscribeGone = backend.onGone((reason) => {
      this.session.deviceGone(reason)
      this.pump()
    })
    this.log.info('device attached', { busid })
  }

  private finish(reason: string, error: Error | undefined): void {
    if (this.closed) return
    this.closed = true
    if (error) this.log.warn('closing connection', { reason, code: (error as { code?: string }).code })
    else this.log.debug('closing connection', { reason })
    const busid = this.session.busid
    if (this.backend && busid !== undefined) {
      this.unsubscribeGone?.()
      this.backend.close()
      this.catalog.release(busid)
      this.log.info('device released', { busid, reason, urbs: this.urbs })
    }
    this.stream.end()
    this.resolveDone()
  }
}
