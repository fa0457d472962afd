/**
 * Importer side of one USB/IP connection, sans-I/O: requests in, bytes to send out; bytes in,
 * replies out. Used by the userspace client (tests, benchmarks) and later by tunnels.
 */
import { ClientDecoder, encodeMessage, NEED_DATA } from '../codec/index.js'
import { OpStatus, TransferFlag } from '../constants.js'
import { isUsbipError, UsbipError } from '../errors.js'
import type { DeviceRecord, ExportedDevice, RetSubmit, RetUnlink } from '../messages.js'

export interface SubmitInit {
  readonly ep: number
  readonly direction: 'in' | 'out'
  /** IN: bytes to request. OUT: ignored (data.length). */
  readonly length?: number
  readonly data?: Uint8Array
  readonly setup?: Uint8Array
  readonly transferFlags?: number
  readonly interval?: number
  readonly isoPacketLengths?: readonly number[]
}

export type ClientSessionEvent =
  | { readonly type: 'devlist'; readonly status: number; readonly devices: readonly ExportedDevice[] }
  | { readonly type: 'import'; readonly status: number; readonly device: DeviceRecord | undefined }
  | { readonly type: 'ret-submit'; readonly message: RetSubmit }
  /** `target` is the seqnum of the URB the unlink was for. */
  | { readonly type: 'ret-unlink'; readonly message: RetUnlink; readonly target: number }
  | { readonly type: 'error'; readonly error: UsbipError }

const EMPTY = new Uint8Array(0)
const ZERO_SETUP = new Uint8Array(8)

export class ClientSession {
  private readonly decoder: ClientDecoder
  private readonly inFlight = new Map<number, { direction: 'in' | 'out'; length: number }>()
  /** unlink seqnum → target seqnum */
  private readonly unlinks = new Map<number, number>()
  private events: ClientSessionEvent[] = []
  private nextSeqnum = 1
  private devid = 0
  private failed: UsbipError | undefined

  constructor() {
    this.decoder = new ClientDecoder({ directionOf: (seqnum) => this.inFlight.get(seqnum) })
  }

  get pendingCount(): number {
    return this.inFlight.size
  }

  requestDeviceList(): Uint8Array {
    return encodeMessage({ kind: 'OP_REQ_DEVLIST' })
  }

  requestImport(busid: string): Uint8Array {
    return encodeMessage({ kind: 'OP_REQ_IMPORT', busid })
  }

  submit(init: SubmitInit): { seqnum: number; bytes: Uint8Array } {
    const seqnum = this.allocateSeqnum()
    const directionIn = init.direction === 'in'
    const data = directionIn ? EMPTY : (init.data ?? EMPTY)
    const length = directionIn ? (init.length ?? 0) : data.length
    let offset = 0
    const isoPackets = (init.isoPacketLengths ?? []).map((packetLength) => {
      const packet = { offset, length: packetLength, actualLength: 0, status: 0 }
      offset += packetLength
      return packet
    })
    const bytes = encodeMessage({
      kind: 'CMD_SUBMIT',
      seqnum,
      devid: this.devid,
      direction: directionIn ? 1 : 0,
      ep: init.ep,
      transferFlags: (init.transferFlags ?? 0) | (directionIn ? TransferFlag.DIR_IN : 0),
      transferBufferLength: length,
      startFrame: 0,
      numberOfPackets: isoPackets.length,
      interval: init.interval ?? 0,
      setup: init.setup ?? ZERO_SETUP,
      data,
      isoPackets,
    })
    this.inFlight.set(seqnum, { direction: init.direction, length })
    return { seqnum, bytes }
  }

  /** Undefined when the URB has already been answered. */
  unlink(target: number): { seqnum: number; bytes: Uint8Array } | undefined {
    const urb = this.inFlight.get(target)
    if (!urb) return undefined
    const seqnum = this.allocateSeqnum()
    this.unlinks.set(seqnum, target)
    const bytes = encodeMessage({
      kind: 'CMD_UNLINK',
      seqnum,
      devid: this.devid,
      direction: urb.direction === 'in' ? 1 : 0,
      ep: 0,
      unlinkSeqnum: target,
    })
    return { seqnum, bytes }
  }

  receiveData(bytes: Uint8Array): void {
    if (this.failed) return
    try {
      this.decoder.push(bytes)
      for (;;) {
        const message = this.decoder.next()
        if (message === NEED_DATA) return
        switch (message.kind) {
          case 'OP_REP_DEVLIST':
            this.events.push({ type: 'devlist', status: message.status, devices: message.devices })
            break
          case 'OP_REP_IMPORT':
            if (message.status === OpStatus.OK && message.device) {
              this.devid = ((message.device.busnum << 16) | message.device.devnum) >>> 0
              this.decoder.setPhase('urb')
            }
            this.events.push({ type: 'import', status: message.status, device: message.device })
            break
          case 'RET_SUBMIT':
            this.inFlight.delete(message.seqnum)
            this.events.push({ type: 'ret-submit', message })
            break
          case 'RET_UNLINK': {
            const target = this.unlinks.get(message.seqnum)
            if (target === undefined) {
              throw new UsbipError('ERR_UNKNOWN_SEQNUM', `RET_UNLINK for unknown unlink ${message.seqnum}`)
            }
            this.unlinks.delete(message.seqnum)
            this.inFlight.delete(target)
            this.events.push({ type: 'ret-unlink', message, target })
            break
          }
        }
      }
    } catch (err) {
      if (!isUsbipError(err)) throw err
      this.failed = err
      this.events.push({ type: 'error', error: err })
    }
  }

  takeEvents(): ClientSessionEvent[] {
    const events = this.events
    this.events = []
    return events
  }

  private allocateSeqnum(): number {
    const seqnum = this.nextSeqnum
    // Wrap within u32 and skip 0, which Linux never uses.
    this.nextSeqnum = seqnum >= 0xffffffff ? 1 : seqnum + 1
    return seqnum
  }
}
