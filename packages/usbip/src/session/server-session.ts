/**
 * Exporter side of one USB/IP connection, sans-I/O: bytes and backend completions in, events out
 * (bytes to send, requests for the backend, cancellations, close). The caller owns the socket
 * and the backend; this class alone decides what goes on the wire and in which order, which is
 * where the SUBMIT-versus-UNLINK race is settled.
 */
import type { BackendCompletion, BackendRequest, DeviceDescriptors, TransferRequest } from '../backend.js'
import { encodeMessage, NEED_DATA, ServerDecoder } from '../codec/index.js'
import { Errno, OpStatus, TransferFlag } from '../constants.js'
import { isUsbipError, protocolError, type UsbipError } from '../errors.js'
import type { CmdSubmit, CmdUnlink, DeviceRecord, ExportedDevice, IsoPacketDescriptor } from '../messages.js'
import { interceptStandardRequest } from './control-intercept.js'
import { EndpointTable } from './endpoint-table.js'

export type OpStatusValue = (typeof OpStatus)[keyof typeof OpStatus]

export interface ClaimedDevice {
  readonly record: DeviceRecord
  readonly descriptors: DeviceDescriptors
}

/** What the session needs from the server: the device list and exclusive claims. */
export interface DeviceCatalog {
  list(): readonly ExportedDevice[]
  claim(
    busid: string,
  ):
    | { readonly ok: true; readonly device: ClaimedDevice }
    | { readonly ok: false; readonly status: OpStatusValue }
}

export type ServerSessionEvent =
  | { readonly type: 'send'; readonly bytes: Uint8Array }
  | { readonly type: 'attached'; readonly busid: string }
  | { readonly type: 'submit'; readonly request: BackendRequest }
  | { readonly type: 'cancel'; readonly seqnum: number }
  | { readonly type: 'close'; readonly reason: string; readonly error?: UsbipError }

type Phase = 'handshake' | 'attached' | 'closed'

interface PendingUrb {
  readonly seqnum: number
  readonly fifoKey: number
  readonly directionIn: boolean
  readonly length: number
  readonly shortNotOk: boolean
  readonly numberOfPackets: number
  readonly startFrame: number
  readonly isoRequest: readonly IsoPacketDescriptor[]
  readonly request: BackendRequest | undefined
  unlinkSeqnum: number | undefined
  result: BackendCompletion | undefined
}

const EMPTY = new Uint8Array(0)
/** Unlinks of not-yet-submitted URBs held at most (vhci has at most a few in flight). */
const MAX_EARLY_UNLINKS = 1024

export class ServerSession {
  private readonly decoder = new ServerDecoder()
  private readonly catalog: DeviceCatalog
  private events: ServerSessionEvent[] = []
  private phase: Phase = 'handshake'
  private device: ClaimedDevice | undefined
  private devid = 0
  private endpoints: EndpointTable | undefined
  private readonly pending = new Map<number, PendingUrb>()
  /** Per-endpoint submission order; replies leave in this order (usbipd-win #219). */
  private readonly fifos = new Map<number, number[]>()
  /** Highest CMD_SUBMIT seqnum seen (vhci numbers a device's submits in increasing order). */
  private lastSubmitted: number | undefined
  /**
   * Unlinks that overtook their submit: vhci's tx thread sends queued unlinks after the submits
   * it has drained, so an URB queued and unlinked in between has its CMD_UNLINK sent first.
   * Answering RET_UNLINK 0 at once would make vhci give the URB back and then drop the device
   * on our RET_SUBMIT ("cannot find a urb of seqnum"). Target seqnum → unlink seqnum.
   */
  private readonly earlyUnlinks = new Map<number, number>()

  constructor(catalog: DeviceCatalog) {
    this.catalog = catalog
  }

  get state(): Phase {
    return this.phase
  }

  get busid(): string | undefined {
    return this.device?.record.busid
  }

  get pendingCount(): number {
    return this.pending.size
  }

  /** Events produced since the last call, in order. */
  takeEvents(): ServerSessionEvent[] {
    const events = this.events
    this.events = []
    return events
  }

  receiveData(bytes: Uint8Array): void {
    if (this.phase === 'closed') return
    try {
      this.decoder.push(bytes)
      // Handling a message can close the session; stop decoding then.
      while (this.state !== 'closed') {
        const message = this.decoder.next()
        if (message === NEED_DATA) return
        switch (message.kind) {
          case 'OP_REQ_DEVLIST':
            this.send(
              encodeMessage({ kind: 'OP_REP_DEVLIST', status: OpStatus.OK, devices: this.catalog.list() }),
            )
            this.close('device list served')
            break
          case 'OP_REQ_IMPORT':
            this.handleImport(message.busid)
            break
          case 'CMD_SUBMIT':
            this.handleSubmit(message)
            break
          case 'CMD_UNLINK':
            this.handleUnlink(message)
            break
        }
      }
    } catch (err) {
      if (!isUsbipError(err)) throw err
      this.close(`protocol error: ${err.message}`, err)
    }
  }

  /** The backend finished a request. Returns false when the seqnum is no longer pending. */
  complete(seqnum: number, completion: BackendCompletion): boolean {
    const urb = this.pending.get(seqnum)
    if (!urb || urb.result || this.phase === 'closed') return false
    urb.result = this.normalize(urb, completion)
    if (urb.unlinkSeqnum !== undefined && urb.result.status === Errno.ECONNRESET) {
      // Cancelled on request: the kernel wants RET_UNLINK(-ECONNRESET) and never a RET_SUBMIT.
      this.forget(urb)
      this.sendRetUnlink(urb.unlinkSeqnum, Errno.ECONNRESET)
    }
    this.flush(urb.fifoKey)
    return true
  }

  /** The device vanished: fail everything with -ESHUTDOWN, then close cleanly. */
  deviceGone(reason: string): void {
    if (this.phase === 'closed') return
    for (const urb of this.pending.values()) {
      if (!urb.result) urb.result = { status: Errno.ESHUTDOWN }
    }
    for (const key of this.fifos.keys()) this.flush(key)
    this.close(`device gone: ${reason}`)
  }

  /** The transport closed: cancel what the backend still holds. */
  connectionClosed(): void {
    if (this.phase === 'closed') return
    this.close('connection closed by peer')
  }

  private handleImport(busid: string): void {
    if (this.phase !== 'handshake')
      throw protocolError('ERR_UNEXPECTED_MESSAGE', 'OP_REQ_IMPORT after attach')
    const claim = this.catalog.claim(busid)
    if (!claim.ok) {
      this.send(encodeMessage({ kind: 'OP_REP_IMPORT', status: claim.status }))
      this.close(`import of ${busid} refused with status ${claim.status}`)
      return
    }
    const { record, descriptors } = claim.device
    this.device = claim.device
    this.devid = ((record.busnum << 16) | record.devnum) >>> 0
    this.endpoints = new EndpointTable(descriptors, record.configurationValue)
    this.send(encodeMessage({ kind: 'OP_REP_IMPORT', status: OpStatus.OK, device: record }))
    this.decoder.setPhase('urb')
    this.phase = 'attached'
    this.events.push({ type: 'attached', busid })
  }

  private handleSubmit(cmd: CmdSubmit): void {
    this.checkDevid(cmd.devid)
    if (this.pending.has(cmd.seqnum)) {
      throw protocolError('ERR_DUPLICATE_SEQNUM', `seqnum ${cmd.seqnum} is already pending`, {
        seqnum: cmd.seqnum,
      })
    }
    this.lastSubmitted = cmd.seqnum
    const earlyUnlink = this.earlyUnlinks.get(cmd.seqnum)
    if (earlyUnlink !== undefined) {
      // Unlinked before it reached us: it never runs, and the kernel gets its -ECONNRESET.
      this.earlyUnlinks.delete(cmd.seqnum)
      this.sendRetUnlink(earlyUnlink, Errno.ECONNRESET)
      return
    }
    const directionIn = cmd.direction === 1
    const fifoKey = cmd.ep === 0 ? 0 : cmd.ep | (directionIn ? 0x80 : 0)
    const request = this.buildRequest(cmd, directionIn)
    const urb: PendingUrb = {
      seqnum: cmd.seqnum,
      fifoKey,
      directionIn,
      length: cmd.transferBufferLength,
      shortNotOk: (cmd.transferFlags & TransferFlag.SHORT_NOT_OK) !== 0,
      numberOfPackets: cmd.numberOfPackets,
      startFrame: cmd.startFrame,
      isoRequest: cmd.isoPackets,
      request,
      unlinkSeqnum: undefined,
      result: undefined,
    }
    this.pending.set(cmd.seqnum, urb)
    const fifo = this.fifos.get(fifoKey)
    if (fifo) fifo.push(cmd.seqnum)
    else this.fifos.set(fifoKey, [cmd.seqnum])
    if (!request) {
      this.complete(cmd.seqnum, { status: Errno.EPIPE })
      return
    }
    this.events.push({ type: 'submit', request })
  }

  /** Undefined means "stall without asking the backend" (no such endpoint, bad standard request). */
  private buildRequest(cmd: CmdSubmit, directionIn: boolean): BackendRequest | undefined {
    const table = this.endpoints!
    const endpoint = table.lookup(cmd.ep, directionIn)
    if (!endpoint) return undefined
    if (endpoint.type === 'control') {
      const intercepted = interceptStandardRequest(cmd.seqnum, cmd.setup)
      if (
        intercepted?.kind === 'set-configuration' &&
        intercepted.configurationValue !== 0 &&
        !this.configExists(intercepted.configurationValue)
      ) {
        return undefined
      }
      if (
        intercepted?.kind === 'set-interface' &&
        !table.hasAltSetting(intercepted.interfaceNumber, intercepted.alternateSetting)
      ) {
        return undefined
      }
      if (intercepted) return intercepted
    }
    const zeroPacket =
      !directionIn &&
      (cmd.transferFlags & TransferFlag.ZERO_PACKET) !== 0 &&
      cmd.transferBufferLength > 0 &&
      cmd.transferBufferLength % endpoint.maxPacketSize === 0
    const transfer: TransferRequest = {
      kind: 'transfer',
      seqnum: cmd.seqnum,
      endpoint: cmd.ep,
      direction: directionIn ? 'in' : 'out',
      type: endpoint.type,
      setup: endpoint.type === 'control' ? cmd.setup : undefined,
      data: directionIn ? EMPTY : cmd.data,
      length: cmd.transferBufferLength,
      zeroPacket,
      shortNotOk: (cmd.transferFlags & TransferFlag.SHORT_NOT_OK) !== 0,
      maxPacketSize: endpoint.maxPacketSize,
      isoPackets: cmd.isoPackets.map((p) => ({ offset: p.offset, length: p.length })),
      interval: cmd.interval,
      startFrame: cmd.startFrame,
    }
    return transfer
  }

  private configExists(value: number): boolean {
    return this.device!.descriptors.configurations.some((c) => c[5] === value)
  }

  private handleUnlink(cmd: CmdUnlink): void {
    this.checkDevid(cmd.devid)
    const target = this.pending.get(cmd.unlinkSeqnum)
    if (!target && this.notYetSubmitted(cmd.unlinkSeqnum)) {
      this.earlyUnlinks.set(cmd.unlinkSeqnum, cmd.seqnum)
      if (this.earlyUnlinks.size > MAX_EARLY_UNLINKS) {
        // A peer unlinking URBs it never sends: answer the oldest so the table stays bounded.
        const [oldest, unlinkSeqnum] = this.earlyUnlinks.entries().next().value as [number, number]
        this.earlyUnlinks.delete(oldest)
        this.sendRetUnlink(unlinkSeqnum, 0)
      }
      return
    }
    if (!target || target.unlinkSeqnum !== undefined) {
      // Already answered (or already being unlinked): nothing left to cancel.
      this.sendRetUnlink(cmd.seqnum, 0)
      return
    }
    target.unlinkSeqnum = cmd.seqnum
    if (!target.result) this.events.push({ type: 'cancel', seqnum: target.seqnum })
    // A completed-but-held result goes out as RET_SUBMIT then RET_UNLINK(0) when its turn comes.
  }

  /** Seqnums are u32 and wrap: "later" means less than half the space ahead. */
  private notYetSubmitted(seqnum: number): boolean {
    if (this.lastSubmitted === undefined) return true
    const ahead = (seqnum - this.lastSubmitted) >>> 0
    return ahead !== 0 && ahead < 0x80000000
  }

  private checkDevid(devid: number): void {
    if (devid !== this.devid) {
      throw protocolError(
        'ERR_BAD_FIELD',
        `devid ${devid} does not match the imported device ${this.devid}`,
        {
          devid,
        },
      )
    }
  }

  private normalize(urb: PendingUrb, completion: BackendCompletion): BackendCompletion {
    let { status } = completion
    let data = urb.directionIn ? (completion.data ?? EMPTY) : EMPTY
    if (data.length > urb.length) {
      // The kernel drops the device on actual_length > transfer_buffer_length; never send that.
      data = data.subarray(0, urb.length)
      if (status === 0) status = Errno.EOVERFLOW
    }
    const actualLength = urb.directionIn
      ? data.length
      : Math.min(completion.actualLength ?? urb.length, urb.length)
    if (
      status === 0 &&
      urb.directionIn &&
      urb.shortNotOk &&
      actualLength < urb.length &&
      urb.isoRequest.length === 0
    ) {
      status = Errno.EREMOTEIO
    }
    if (status === 0 && urb.request?.kind === 'set-configuration') {
      this.endpoints!.setConfiguration(urb.request.configurationValue)
    } else if (status === 0 && urb.request?.kind === 'set-interface') {
      this.endpoints!.setInterface(urb.request.interfaceNumber, urb.request.alternateSetting)
    }
    return { ...completion, status, data, actualLength }
  }

  private flush(fifoKey: number): void {
    const fifo = this.fifos.get(fifoKey)
    while (fifo && fifo.length > 0) {
      const urb = this.pending.get(fifo[0]!)!
      if (!urb.result) return
      this.forget(urb)
      this.sendRetSubmit(urb, urb.result)
      if (urb.unlinkSeqnum !== undefined) this.sendRetUnlink(urb.unlinkSeqnum, 0)
    }
  }

  private forget(urb: PendingUrb): void {
    this.pending.delete(urb.seqnum)
    const fifo = this.fifos.get(urb.fifoKey)
    if (!fifo) return
    const at = fifo.indexOf(urb.seqnum)
    if (at >= 0) fifo.splice(at, 1)
  }

  private sendRetSubmit(urb: PendingUrb, result: BackendCompletion): void {
    const isoPackets = urb.isoRequest.map((packet, i) => ({
      offset: packet.offset,
      length: packet.length,
      actualLength: result.isoPackets?.[i]?.actualLength ?? 0,
      status: result.isoPackets?.[i]?.status ?? 0,
    }))
    this.send(
      encodeMessage({
        kind: 'RET_SUBMIT',
        seqnum: urb.seqnum,
        devid: 0,
        direction: 0,
        ep: 0,
        status: result.status,
        actualLength: result.actualLength ?? 0,
        startFrame: result.startFrame ?? urb.startFrame,
        numberOfPackets: urb.numberOfPackets,
        errorCount: result.errorCount ?? 0,
        data: result.data ?? EMPTY,
        isoPackets,
      }),
    )
  }

  private sendRetUnlink(seqnum: number, status: number): void {
    this.send(encodeMessage({ kind: 'RET_UNLINK', seqnum, devid: 0, direction: 0, ep: 0, status }))
  }

  private send(bytes: Uint8Array): void {
    this.events.push({ type: 'send', bytes })
  }

  private close(reason: string, error?: UsbipError): void {
    if (this.phase === 'closed') return
    for (const urb of this.pending.values()) {
      if (!urb.result && urb.request) this.events.push({ type: 'cancel', seqnum: urb.seqnum })
    }
    this.pending.clear()
    this.fifos.clear()
    this.phase = 'closed'
    this.events.push(error ? { type: 'close', reason, error } : { type: 'close', reason })
  }
}
