/**
 * attachStream: gives vhci_hcd a device whose USB/IP bytes travel over any Duplex (a libp2p tunnel,
 * a TCP socket...). vhci_hcd only takes a kernel socket, so a loopback TCP pair stands in: one end
 * goes to the kernel (hand-off.ts), the other is pumped to and from `stream`.
 *
 *   kernel (vhci) ⇄ loopback TCP pair ⇄ pump ⇄ stream ⇄ exporter
 *
 * Teardown: detach() or an abort writes `detach` (the kernel shuts its socket down, the device
 * disconnects); the kernel closing its end (detach from elsewhere, protocol error) ends `stream`;
 * `stream` ending or failing detaches the port, so the kernel tears the device down itself.
 */
import { once } from 'node:events'
import { connect, createServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { type DeviceRecord, type Logger, silentLogger } from '@tether/usbip'
import {
  DETACH_CLOSE_TIMEOUT_MS,
  LOOPBACK_SETUP_TIMEOUT_MS,
  STREAM_END_TIMEOUT_MS,
  VdevState,
} from './constants.js'
import { abortedError, VhciError } from './errors.js'
import { attachNetSocket } from './hand-off.js'
import { hubForSpeed } from './status.js'
import { checkVhciWritable, detachPort, readPort, type SysfsOptions } from './sysfs.js'

/** Why an attachment ended. */
export type VhciCloseReason =
  /** detach() was called (or the signal aborted). */
  | { readonly kind: 'detached' }
  /** The kernel closed its socket: detached by someone else, or vhci dropped the device. */
  | { readonly kind: 'kernel-closed' }
  /** The remote stream ended. */
  | { readonly kind: 'remote-closed' }
  /** The remote stream or the loopback pair failed. */
  | { readonly kind: 'error'; readonly error: Error }

export interface VhciAttachment {
  /** The vhci port (global number, as `tether usbip detach --port` takes it). */
  readonly port: number
  /** The local USB busid (e.g. "3-1") once the kernel has addressed the device, else undefined. */
  readonly busid: string | undefined
  /** Bytes from the stream to the kernel (RET_SUBMIT/RET_UNLINK and IN data). */
  readonly bytesIn: number
  /** Bytes from the kernel to the stream (CMD_SUBMIT/CMD_UNLINK and OUT data). */
  readonly bytesOut: number
  /** Settles (never rejects) once both sides are closed. */
  readonly closed: Promise<VhciCloseReason>
  /** Detaches the port and resolves when everything is closed. Idempotent. */
  detach(): Promise<void>
}

export interface AttachStreamInit extends SysfsOptions {
  /** A USB/IP byte stream on which the OP_REQ_IMPORT handshake is already done. */
  readonly stream: Duplex
  /** The device record of the import reply: devid = busnum << 16 | devnum, speed. */
  readonly device: Pick<DeviceRecord, 'busnum' | 'devnum' | 'speed'> & Partial<Pick<DeviceRecord, 'busid'>>
  readonly logger?: Logger
  /** Aborting detaches (after attach); aborting before the attach rejects. */
  readonly signal?: AbortSignal
}

export async function attachStream(init: AttachStreamInit): Promise<VhciAttachment> {
  const { stream, device, signal } = init
  const log = (init.logger ?? silentLogger).child('vhci')
  signal?.throwIfAborted()
  // Fail before touching the network when the kernel side cannot work.
  hubForSpeed(device.speed)
  checkVhciWritable(init)
  if (stream.destroyed || stream.readableEnded) {
    throw new VhciError('ERR_VHCI_HANDSHAKE', 'the USB/IP stream is already closed')
  }

  const { kernelSide, pumpSide } = await loopbackPair(signal)
  let port: number
  try {
    port = attachNetSocket({ socket: kernelSide, device, sysfs: init.sysfs, io: init.io })
  } catch (err) {
    kernelSide.destroy()
    pumpSide.destroy()
    throw err
  }
  log.info('attached', { port, remoteBusid: device.busid, speed: device.speed })
  return new Pump(init, log, port, pumpSide)
}

/** A connected loopback TCP pair: `kernelSide` (to hand over) and `pumpSide` (accepted). */
async function loopbackPair(signal?: AbortSignal): Promise<{ kernelSide: Socket; pumpSide: Socket }> {
  const server: Server = createServer({ noDelay: true })
  const timeout = AbortSignal.timeout(LOOPBACK_SETUP_TIMEOUT_MS)
  const stop = signal ? AbortSignal.any([signal, timeout]) : timeout
  let kernelSide: Socket | undefined
  try {
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true })
    await once(server, 'listening', { signal: stop })
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('loopback server has no port')
    const accepted = once(server, 'connection', { signal: stop }) as Promise<[Socket]>
    kernelSide = connect({ host: '127.0.0.1', port: address.port, noDelay: true })
    const [[pumpSide]] = await Promise.all([accepted, once(kernelSide, 'connect', { signal: stop })])
    // Only our own connection may be accepted: compare the 4-tuple.
    if (pumpSide.remotePort !== kernelSide.localPort) {
      pumpSide.destroy()
      throw new Error('a foreign connection reached the loopback listener')
    }
    return { kernelSide, pumpSide }
  } catch (err) {
    kernelSide?.destroy()
    if (signal?.aborted) throw abortedError(signal, 'attach')
    throw new VhciError('ERR_VHCI_IO', `cannot set up the loopback socket pair: ${(err as Error).message}`, {
      cause: err,
    })
  } finally {
    server.close()
  }
}

class Pump implements VhciAttachment {
  readonly port: number
  bytesIn = 0
  bytesOut = 0
  readonly closed: Promise<VhciCloseReason>
  private cachedBusid: string | undefined
  private reason: VhciCloseReason | undefined
  private detachRequested = false
  private detaching: Promise<void> | undefined
  private resolveClosed!: (reason: VhciCloseReason) => void
  private kernelClosed = false
  private streamClosed = false

  constructor(
    private readonly init: AttachStreamInit,
    private readonly log: Logger,
    port: number,
    private readonly kernel: Socket,
  ) {
    this.port = port
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve
    })
    const { stream } = init
    kernel.setNoDelay(true)

    // kernel → stream
    kernel.on('data', (chunk: Buffer) => {
      this.bytesOut += chunk.length
      this.log.debug('k->s', { n: chunk.length, head: chunk.subarray(0, 8).toString('hex') })
      if (!stream.write(chunk)) {
        kernel.pause()
        stream.once('drain', () => kernel.resume())
      }
    })
    // stream → kernel (bytes the handshake left buffered come first)
    stream.on('data', (chunk: Uint8Array) => {
      this.bytesIn += chunk.length
      this.log.debug('s->k', { n: chunk.length, head: Buffer.from(chunk).subarray(0, 8).toString('hex') })
      if (!kernel.write(chunk)) {
        stream.pause()
        kernel.once('drain', () => stream.resume())
      }
    })

    kernel.once('end', () => this.onKernelGone())
    kernel.once('close', () => {
      this.kernelClosed = true
      this.onKernelGone()
      this.maybeDone()
    })
    kernel.on('error', (err) => {
      this.log.debug('loopback socket error', { port, error: err.message })
      this.setReason({ kind: 'error', error: err })
    })

    stream.once('end', () => this.onStreamGone())
    stream.once('close', () => {
      this.streamClosed = true
      this.onStreamGone()
      this.maybeDone()
    })
    stream.on('error', (err: Error) => {
      this.log.warn('USB/IP stream failed', { port, error: err.message })
      this.setReason({ kind: 'error', error: err })
    })

    const { signal } = init
    if (signal) {
      const onAbort = () => void this.detach()
      signal.addEventListener('abort', onAbort, { once: true })
      void this.closed.then(() => signal.removeEventListener('abort', onAbort))
    }
  }

  get busid(): string | undefined {
    if (this.cachedBusid === undefined && this.reason === undefined) {
      try {
        const status = readPort(this.port, this.init)
        if (status?.state === VdevState.USED) this.cachedBusid = status.localBusid
      } catch {
        // vhci went away; no busid to report
      }
    }
    return this.cachedBusid
  }

  detach(): Promise<void> {
    this.detaching ??= this.doDetach()
    return this.detaching
  }

  private async doDetach(): Promise<void> {
    this.detachRequested = true
    if (!this.kernelClosed && !this.kernel.readableEnded) {
      this.setReason({ kind: 'detached' })
      this.writeDetach()
      // The kernel shuts its socket down; our end sees EOF and the rest follows.
      const timer = setTimeout(() => {
        this.log.warn('the kernel did not close its socket after detach; closing ours', { port: this.port })
        this.kernel.destroy()
      }, DETACH_CLOSE_TIMEOUT_MS)
      await this.closed
      clearTimeout(timer)
      return
    }
    await this.closed
  }

  private writeDetach(): void {
    try {
      detachPort(this.port, this.init)
      this.log.info('detached', { port: this.port })
    } catch (err) {
      // ERR_VHCI_NOT_ATTACHED: the kernel got there first. Either way, close our end.
      this.log.debug('detach write failed', { port: this.port, error: (err as Error).message })
      this.kernel.destroy()
    }
  }

  /** The kernel closed (or we closed) the loopback: end the remote stream. */
  private onKernelGone(): void {
    this.setReason(this.detachRequested ? { kind: 'detached' } : { kind: 'kernel-closed' })
    const { stream } = this.init
    if (stream.destroyed) return
    if (!stream.writableEnded) stream.end()
    const timer = setTimeout(() => stream.destroy(), STREAM_END_TIMEOUT_MS)
    stream.once('close', () => clearTimeout(timer))
    if (stream.readableEnded || !stream.readable) stream.destroy()
    else stream.resume() // drain whatever still arrives so 'end' can come
  }

  /** The remote stream is gone: let the kernel tear the device down. */
  private onStreamGone(): void {
    this.setReason({ kind: 'remote-closed' })
    if (this.kernelClosed || this.kernel.destroyed) return
    if (!this.detachRequested) {
      this.detachRequested = true
      this.log.info('the USB/IP stream closed; detaching', { port: this.port })
      this.writeDetach()
      const timer = setTimeout(() => this.kernel.destroy(), DETACH_CLOSE_TIMEOUT_MS)
      this.kernel.once('close', () => clearTimeout(timer))
    }
  }

  private setReason(reason: VhciCloseReason): void {
    if (this.reason === undefined) {
      this.reason = reason
      // Remember the busid while the status file still shows it.
      if (this.cachedBusid === undefined) {
        try {
          const status = readPort(this.port, this.init)
          if (status?.state === VdevState.USED) this.cachedBusid = status.localBusid
        } catch {
          // ignore
        }
      }
    }
  }

  private maybeDone(): void {
    if (!this.kernelClosed) return
    if (!this.streamClosed && !this.init.stream.destroyed) return
    this.log.debug('closed', { port: this.port, bytesIn: this.bytesIn, bytesOut: this.bytesOut })
    this.resolveClosed(this.reason ?? { kind: 'kernel-closed' })
  }
}
