/** Userspace USB/IP client: list, import, and URBs with cancellation over any byte stream. */
import { connect, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { OpStatus, USBIP_DEFAULT_PORT } from '../constants.js'
import { UsbipError } from '../errors.js'
import type { DeviceRecord, ExportedDevice, IsoPacketDescriptor } from '../messages.js'
import { ClientSession, type ClientSessionEvent, type SubmitInit } from '../session/client-session.js'

export interface TcpTarget {
  readonly host: string
  readonly port?: number
  readonly signal?: AbortSignal
}

export interface UrbResult {
  readonly seqnum: number
  readonly status: number
  readonly data: Uint8Array
  readonly actualLength: number
  readonly isoPackets: readonly IsoPacketDescriptor[]
  /** True when our unlink cancelled it before it completed. */
  readonly unlinked: boolean
}

export function connectTcp(target: TcpTarget): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port ?? USBIP_DEFAULT_PORT, noDelay: true })
    const onAbort = () =>
      socket.destroy(new UsbipError('ERR_ABORTED', 'connect aborted', { origin: 'local' }))
    target.signal?.addEventListener('abort', onAbort, { once: true })
    socket.once('connect', () => {
      target.signal?.removeEventListener('abort', onAbort)
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

/** Reads session events from a stream until `pick` returns a value. */
function awaitEvent<T>(
  stream: Duplex,
  session: ClientSession,
  pick: (event: ClientSessionEvent) => T | undefined,
  signal?: AbortSignal,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.off('data', onData)
      stream.off('close', onClose)
      stream.off('error', onError)
      signal?.removeEventListener('abort', onAbort)
    }
    const onData = (chunk: Buffer) => {
      session.receiveData(chunk)
      for (const event of session.takeEvents()) {
        if (event.type === 'error') {
          cleanup()
          reject(event.error)
          return
        }
        const value = pick(event)
        if (value !== undefined) {
          cleanup()
          resolve(value)
          return
        }
      }
    }
    const onClose = () => {
      cleanup()
      reject(new UsbipError('ERR_CLOSED', 'the server closed the connection before answering'))
    }
    const onError = (err: Error) => {
      cleanup()
      reject(err)
    }
    const onAbort = () => {
      cleanup()
      reject(new UsbipError('ERR_ABORTED', 'aborted', { origin: 'local', cause: signal?.reason }))
    }
    if (signal?.aborted) return onAbort()
    stream.on('data', onData)
    stream.once('close', onClose)
    stream.once('error', onError)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

export async function listDevicesOver(
  stream: Duplex,
  signal?: AbortSignal,
): Promise<readonly ExportedDevice[]> {
  const session = new ClientSession()
  const answer = awaitEvent(stream, session, (e) => (e.type === 'devlist' ? e : undefined), signal)
  stream.write(session.requestDeviceList())
  const reply = await answer
  if (reply.status !== OpStatus.OK) {
    throw new UsbipError('ERR_IMPORT_REFUSED', `device list refused with status ${reply.status}`)
  }
  return reply.devices
}

export async function listDevices(target: TcpTarget): Promise<readonly ExportedDevice[]> {
  const socket = await connectTcp(target)
  try {
    return await listDevicesOver(socket, target.signal)
  } finally {
    socket.destroy()
  }
}

export async function importDeviceOver(
  stream: Duplex,
  busid: string,
  signal?: AbortSignal,
): Promise<ImportedDevice> {
  const session = new ClientSession()
  const answer = awaitEvent(stream, session, (e) => (e.type === 'import' ? e : undefined), signal)
  stream.write(session.requestImport(busid))
  const reply = await answer
  if (reply.status !== OpStatus.OK || !reply.device) {
    stream.destroy()
    throw new UsbipError('ERR_IMPORT_REFUSED', `import of ${busid} refused with status ${reply.status}`, {
      details: { busid, status: reply.status },
    })
  }
  return new ImportedDevice(stream, session, reply.device)
}

export async function importDevice(target: TcpTarget & { readonly busid: string }): Promise<ImportedDevice> {
  const socket = await connectTcp(target)
  return importDeviceOver(socket, target.busid, target.signal)
}

interface Waiter {
  resolve(result: UrbResult): void
  reject(err: Error): void
}

/** An imported device: submit URBs, cancel them with an AbortSignal (which sends CMD_UNLINK). */
export class ImportedDevice {
  private readonly waiters = new Map<number, Waiter>()
  private closedError: Error | undefined

  constructor(
    private readonly stream: Duplex,
    private readonly session: ClientSession,
    readonly record: DeviceRecord,
  ) {
    stream.on('data', (chunk: Buffer) => {
      session.receiveData(chunk)
      this.dispatch()
    })
    stream.once('close', () => this.fail(new UsbipError('ERR_CLOSED', 'the USB/IP connection closed')))
    stream.on('error', (err) => this.fail(err))
  }

  get inFlight(): number {
    return this.waiters.size
  }

  submit(init: SubmitInit, options: { signal?: AbortSignal } = {}): Promise<UrbResult> {
    if (this.closedError) return Promise.reject(this.closedError)
    const { signal } = options
    if (signal?.aborted) {
      return Promise.reject(new UsbipError('ERR_ABORTED', 'aborted before submit', { origin: 'local' }))
    }
    const { seqnum, bytes } = this.session.submit(init)
    return new Promise<UrbResult>((resolve, reject) => {
      const onAbort = () => {
        const unlink = this.session.unlink(seqnum)
        if (unlink) this.stream.write(unlink.bytes)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiters.set(seqnum, {
        resolve: (result) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(result)
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort)
          reject(err)
        },
      })
      this.stream.write(bytes)
    })
  }

  /** A control transfer on endpoint 0; `setup` fields as in the USB spec. */
  control(
    setup: { requestType: number; request: number; value: number; index: number; length: number },
    data?: Uint8Array,
    options?: { signal?: AbortSignal },
  ): Promise<UrbResult> {
    const bytes = new Uint8Array(8)
    const view = new DataView(bytes.buffer)
    view.setUint8(0, setup.requestType)
    view.setUint8(1, setup.request)
    view.setUint16(2, setup.value, true)
    view.setUint16(4, setup.index, true)
    view.setUint16(6, setup.length, true)
    const directionIn = (setup.requestType & 0x80) !== 0
    return this.submit(
      directionIn
        ? { ep: 0, direction: 'in', length: setup.length, setup: bytes }
        : { ep: 0, direction: 'out', data: data ?? new Uint8Array(0), setup: bytes },
      options,
    )
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.stream.destroyed) return resolve()
      this.stream.once('close', () => resolve())
      this.stream.destroy()
    })
  }

  private dispatch(): void {
    for (const event of this.session.takeEvents()) {
      if (event.type === 'ret-submit') {
        const m = event.message
        this.settle(m.seqnum, {
          seqnum: m.seqnum,
          status: m.status,
          data: m.data,
          actualLength: m.actualLength,
          isoPackets: m.isoPackets,
          unlinked: false,
        })
      } else if (event.type === 'ret-unlink') {
        // Status 0: the URB had completed and its RET_SUBMIT came first; nothing left to settle.
        if (event.message.status !== 0) {
          this.settle(event.target, {
            seqnum: event.target,
            status: event.message.status,
            data: new Uint8Array(0),
            actualLength: 0,
            isoPackets: [],
            unlinked: true,
          })
        }
      } else if (event.type === 'error') {
        this.fail(event.error)
        this.stream.destroy()
      }
    }
  }

  private settle(seqnum: number, result: UrbResult): void {
    const waiter = this.waiters.get(seqnum)
    if (!waiter) return
    this.waiters.delete(seqnum)
    waiter.resolve(result)
  }

  private fail(err: Error): void {
    this.closedError ??= err
    for (const waiter of this.waiters.values()) waiter.reject(err)
    this.waiters.clear()
  }
}
