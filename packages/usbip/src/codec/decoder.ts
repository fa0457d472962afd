/**
 * Incremental, sans-I/O decoders: bytes in via push(), one message per next() call out, or
 * NEED_DATA. No sockets, timers or promises; the session above drives them.
 *
 * Every length read from a header is checked against Limits before the decoder waits for the
 * bytes it announces, and nothing is allocated for bytes that have not arrived.
 *
 * Memory: push() keeps a reference to the caller's chunk instead of copying it, so the caller must
 * not modify a chunk after pushing it. A payload (`data`) is a view into a pushed chunk when it lies
 * inside one chunk and fills at least half of that chunk's ArrayBuffer (zero-copy for large
 * transfers without pinning big buffers for small payloads); otherwise it is a fresh copy. The
 * decoder never writes into pushed chunks, so returned payloads are never overwritten by it.
 * Payloads are always plain Uint8Arrays (never Buffers), even when Buffers were pushed.
 */
import {
  BUSID_SIZE,
  DEVICE_RECORD_SIZE,
  INTERFACE_RECORD_SIZE,
  ISO_DESCRIPTOR_SIZE,
  Limits,
  OP_HEADER_SIZE,
  OpCode,
  OpStatus,
  Speed,
  type SpeedValue,
  URB_HEADER_SIZE,
  UrbCommand,
  USBIP_VERSION,
} from '../constants.js'
import { protocolError } from '../errors.js'
import type {
  ClientMessage,
  CmdSubmit,
  DeviceRecord,
  ExportedDevice,
  InterfaceRecord,
  IsoPacketDescriptor,
  RetSubmit,
  ServerMessage,
} from '../messages.js'
import {
  DeviceOffset,
  isoDescriptorCount,
  OpHeaderOffset,
  readDeviceRecord,
  readFixedString,
  readInterfaceRecord,
  readIsoDescriptor,
  readS32,
  readU16,
  readU32,
  SETUP_SIZE,
  UrbOffset,
} from './wire.js'

/** Returned by next() when the buffered bytes do not yet hold a whole message. */
export const NEED_DATA: unique symbol = Symbol('usbip.NEED_DATA')
export type NeedData = typeof NEED_DATA

/** 'op' until an import succeeds, then 'urb'; the session switches it. */
export type DecoderPhase = 'op' | 'urb'

export type UrbDirection = 'in' | 'out'

/** What the client knows about a URB it submitted. `length` is its transfer_buffer_length. */
export interface SubmittedUrb {
  readonly direction: UrbDirection
  readonly length: number
}

export interface ClientDecoderOptions {
  /**
   * The URB submitted with `seqnum`, or undefined when none is pending. RET_SUBMIT does not carry
   * the direction on the wire, so the decoder needs it to know whether a payload follows. When the
   * length is given too, an IN reply longer than requested is rejected, as the Linux kernel does.
   */
  directionOf(seqnum: number): UrbDirection | SubmittedUrb | undefined
}

/** The payload of every message without one: shared, and frozen so that nobody can decorate it. */
const NO_BYTES = Object.freeze(new Uint8Array(0))

/**
 * Pushed chunks, read front to back. Chunks are kept by reference (no copy on push) and dropped
 * once fully read, so what is retained is the unread bytes plus the already-read start of the
 * first chunk: never more than was pushed.
 */
class ByteQueue {
  private chunks: Uint8Array[] = []
  /** Index of the first unread chunk; the array is compacted lazily to keep shifts O(1). */
  private first = 0
  /** Read position inside chunks[first]. */
  private offset = 0
  private unread = 0
  private retained = 0
  /** Reassembles fixed-size fields that straddle chunks; parsed at once, so reuse is safe. */
  private readonly scratch = new Uint8Array(DEVICE_RECORD_SIZE)

  get size(): number {
    return this.unread
  }

  get retainedBytes(): number {
    return this.retained
  }

  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return
    this.chunks.push(bytes)
    this.unread += bytes.length
    this.retained += bytes.length
  }

  clear(): void {
    this.chunks = []
    this.first = 0
    this.offset = 0
    this.unread = 0
    this.retained = 0
  }

  /**
   * Consumes n bytes (n <= size) and returns them contiguously. The view is only valid until the
   * next call: it may be the shared scratch buffer.
   */
  read(n: number): Uint8Array {
    const chunk = this.chunks[this.first]!
    const start = this.offset
    if (chunk.length - start >= n) {
      this.skip(chunk, n)
      return plainView(chunk, start, n)
    }
    const out = n <= this.scratch.length ? this.scratch : new Uint8Array(n)
    this.copyInto(out, n)
    return out
  }

  /** Consumes n bytes (n <= size) for a payload the caller keeps: see the module comment. */
  take(n: number): Uint8Array {
    if (n === 0) return NO_BYTES
    const chunk = this.chunks[this.first]!
    const start = this.offset
    if (chunk.length - start >= n && n * 2 >= chunk.buffer.byteLength) {
      this.skip(chunk, n)
      return plainView(chunk, start, n)
    }
    const out = uninitialized(n)
    this.copyInto(out, n)
    return out
  }

  private copyInto(out: Uint8Array, n: number): void {
    let copied = 0
    while (copied < n) {
      const chunk = this.chunks[this.first]!
      const count = Math.min(chunk.length - this.offset, n - copied)
      out.set(chunk.subarray(this.offset, this.offset + count), copied)
      copied += count
      this.skip(chunk, count)
    }
  }

  /** Advances within the first chunk (count <= its unread length), dropping it when done. */
  private skip(chunk: Uint8Array, count: number): void {
    this.unread -= count
    this.offset += count
    if (this.offset < chunk.length) return
    this.retained -= chunk.length
    this.offset = 0
    if (this.first + 1 === this.chunks.length) {
      // A fresh array is cheaper than `length = 0`, which V8 handles in the runtime.
      this.chunks = []
      this.first = 0
      return
    }
    this.chunks[this.first++] = NO_BYTES // release the chunk now, not at the next compaction
    if (this.first >= 1024 && this.first * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.first)
      this.first = 0
    }
  }
}

/**
 * Memory for a payload copy that is about to be overwritten in full. Buffer.allocUnsafe skips the
 * zero-fill that makes `new Uint8Array(n)` several times slower; below 4 KiB it carves from Node's
 * shared pool, as every Buffer from a socket does.
 */
function uninitialized(n: number): Uint8Array {
  const buffer = Buffer.allocUnsafe(n)
  return plainView(buffer, 0, n)
}

/** A plain Uint8Array over the same memory, so a pushed Buffer's subclass never leaks out. */
function plainView(bytes: Uint8Array, start: number, length: number): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset + start, length)
}

/** The rest of a message: wait until `need` bytes are buffered, then decode them. */
class Pending<M> {
  constructor(
    readonly need: number,
    readonly decode: (queue: ByteQueue) => M | Pending<M>,
  ) {}
}

type Step<M> = M | Pending<M>

abstract class UsbipDecoder<M> {
  private readonly queue = new ByteQueue()
  private phase: DecoderPhase = 'op'
  private pending: Pending<M> | undefined
  private failed = false
  private failure: unknown
  private readonly opHeader = new Pending<M>(OP_HEADER_SIZE, (queue) => {
    const header = queue.read(OP_HEADER_SIZE)
    const version = readU16(header, OpHeaderOffset.version)
    if (version !== USBIP_VERSION) {
      throw protocolError('ERR_BAD_VERSION', `unsupported USB/IP version 0x${hex(version, 4)}`, { version })
    }
    return this.decodeOp(readU16(header, OpHeaderOffset.code), readU32(header, OpHeaderOffset.status))
  })
  private readonly urbHeader = new Pending<M>(URB_HEADER_SIZE, (queue) =>
    this.decodeUrb(queue.read(URB_HEADER_SIZE)),
  )

  /** Appends bytes. The chunk is kept by reference: do not modify it afterwards. */
  push(bytes: Uint8Array): void {
    if (!this.failed) this.queue.push(bytes)
  }

  /**
   * The next whole message, or NEED_DATA. Throws a UsbipError when the peer broke the protocol;
   * the decoder is then poisoned and every later call throws the same error.
   */
  next(): M | NeedData {
    if (this.failed) throw this.failure
    try {
      const header = this.phase === 'op' ? this.opHeader : this.urbHeader
      let step = this.pending ?? header
      for (;;) {
        if (this.queue.size < step.need) {
          // Waiting for a header is not being inside a message (see setPhase and end).
          this.pending = step === header ? undefined : step
          return NEED_DATA
        }
        const result: Step<M> = step.decode(this.queue)
        if (!(result instanceof Pending)) {
          this.pending = undefined
          return result
        }
        step = result
      }
    } catch (error) {
      this.failed = true
      this.failure = error
      this.queue.clear()
      throw error
    }
  }

  /** Switch between operation and URB framing; only between messages. */
  setPhase(phase: DecoderPhase): void {
    if (this.pending !== undefined) throw new TypeError('cannot switch phase in the middle of a message')
    this.phase = phase
  }

  /** The framing the next message will be decoded with. */
  get currentPhase(): DecoderPhase {
    return this.phase
  }

  /** Bytes pushed and not yet consumed by a decoded message or header. */
  get bufferedBytes(): number {
    return this.queue.size
  }

  /** Bytes of pushed chunks still referenced (at least bufferedBytes); for limits and tests. */
  get retainedBytes(): number {
    return this.queue.retainedBytes
  }

  /**
   * The stream ended: throws ERR_TRUNCATED (and poisons) when a message was cut short, or the
   * earlier error when already poisoned.
   */
  end(): void {
    if (this.failed) throw this.failure
    if (this.pending === undefined && this.queue.size === 0) return
    const error = protocolError('ERR_TRUNCATED', 'stream ended in the middle of a message', {
      bufferedBytes: this.queue.size,
    })
    this.failed = true
    this.failure = error
    this.queue.clear()
    throw error
  }

  protected abstract decodeOp(code: number, status: number): Step<M>
  protected abstract decodeUrb(header: Uint8Array): Step<M>
}

/** Decodes what an exporter receives: OP_REQ_DEVLIST, OP_REQ_IMPORT, then CMD_SUBMIT, CMD_UNLINK. */
export class ServerDecoder extends UsbipDecoder<ClientMessage> {
  protected decodeOp(code: number, _status: number): Step<ClientMessage> {
    switch (code) {
      case OpCode.REQ_DEVLIST:
        return { kind: 'OP_REQ_DEVLIST' }
      case OpCode.REQ_IMPORT:
        return new Pending(BUSID_SIZE, (queue) => ({
          kind: 'OP_REQ_IMPORT',
          busid: readFixedString(queue.read(BUSID_SIZE), 0, BUSID_SIZE),
        }))
      case OpCode.REP_DEVLIST:
      case OpCode.REP_IMPORT:
        throw unexpected(`a server does not receive op 0x${hex(code, 4)}`, { code })
      default:
        throw unknownOp(code)
    }
  }

  protected decodeUrb(header: Uint8Array): Step<ClientMessage> {
    const command = readU32(header, UrbOffset.command)
    switch (command) {
      case UrbCommand.CMD_SUBMIT:
        return decodeCmdSubmit(header)
      case UrbCommand.CMD_UNLINK:
        return {
          kind: 'CMD_UNLINK',
          seqnum: readU32(header, UrbOffset.seqnum),
          devid: readU32(header, UrbOffset.devid),
          direction: readDirection(header),
          ep: readEndpoint(header),
          unlinkSeqnum: readU32(header, UrbOffset.unlinkSeqnum),
        }
      case UrbCommand.RET_SUBMIT:
      case UrbCommand.RET_UNLINK:
        throw unexpected(`a server does not receive URB command ${command}`, { command })
      default:
        throw unknownCommand(command)
    }
  }
}

/**
 * Decodes what an importer receives: OP_REP_DEVLIST, OP_REP_IMPORT, then RET_SUBMIT, RET_UNLINK.
 * RET_SUBMIT.direction comes from `directionOf` (it is 0 on the wire); RET_UNLINK.direction is 0.
 * devid and ep are reported as received (0 from Linux).
 */
export class ClientDecoder extends UsbipDecoder<ServerMessage> {
  private readonly options: ClientDecoderOptions

  constructor(options: ClientDecoderOptions) {
    super()
    this.options = options
  }

  protected decodeOp(code: number, status: number): Step<ServerMessage> {
    switch (code) {
      case OpCode.REP_DEVLIST:
        // Linux `usbip list` stops reading after a non-OK header; so do we.
        if (status !== OpStatus.OK) return { kind: 'OP_REP_DEVLIST', status, devices: [] }
        return new Pending(4, (queue) => decodeDevlistBody(status, readU32(queue.read(4), 0)))
      case OpCode.REP_IMPORT:
        if (status !== OpStatus.OK) return { kind: 'OP_REP_IMPORT', status }
        return new Pending(DEVICE_RECORD_SIZE, (queue) => ({
          kind: 'OP_REP_IMPORT',
          status,
          device: decodeDeviceRecord(queue.read(DEVICE_RECORD_SIZE)),
        }))
      case OpCode.REQ_DEVLIST:
      case OpCode.REQ_IMPORT:
        throw unexpected(`a client does not receive op 0x${hex(code, 4)}`, { code })
      default:
        throw unknownOp(code)
    }
  }

  protected decodeUrb(header: Uint8Array): Step<ServerMessage> {
    const command = readU32(header, UrbOffset.command)
    switch (command) {
      case UrbCommand.RET_SUBMIT:
        return this.decodeRetSubmit(header)
      case UrbCommand.RET_UNLINK:
        return {
          kind: 'RET_UNLINK',
          seqnum: readU32(header, UrbOffset.seqnum),
          devid: readU32(header, UrbOffset.devid),
          direction: 0,
          ep: readU32(header, UrbOffset.ep),
          status: readS32(header, UrbOffset.status),
        }
      case UrbCommand.CMD_SUBMIT:
      case UrbCommand.CMD_UNLINK:
        throw unexpected(`a client does not receive URB command ${command}`, { command })
      default:
        throw unknownCommand(command)
    }
  }

  private decodeRetSubmit(header: Uint8Array): Step<ServerMessage> {
    const seqnum = readU32(header, UrbOffset.seqnum)
    const submitted = this.options.directionOf(seqnum)
    if (submitted === undefined) {
      throw protocolError('ERR_UNKNOWN_SEQNUM', `RET_SUBMIT for seqnum ${seqnum}, which is not pending`, {
        seqnum,
      })
    }
    const direction = typeof submitted === 'string' ? submitted : submitted.direction
    const actualLength = readS32(header, UrbOffset.actualLength)
    checkLength('actualLength', actualLength)
    if (direction === 'in' && typeof submitted !== 'string' && actualLength > submitted.length) {
      throw badField(`actualLength ${actualLength} exceeds the ${submitted.length} bytes requested`, {
        field: 'actualLength',
        actualLength,
        requested: submitted.length,
      })
    }
    const numberOfPackets = readS32(header, UrbOffset.numberOfPackets)
    const isoCount = checkIsoCount(numberOfPackets)
    // Read everything now: the header view may be scratch memory that reading the tail reuses.
    const devid = readU32(header, UrbOffset.devid)
    const ep = readU32(header, UrbOffset.ep)
    const status = readS32(header, UrbOffset.status)
    const startFrame = readS32(header, UrbOffset.startFrame)
    const errorCount = readS32(header, UrbOffset.errorCount)
    const message = (data: Uint8Array, isoPackets: readonly IsoPacketDescriptor[]): RetSubmit => ({
      kind: 'RET_SUBMIT',
      seqnum,
      devid,
      direction: direction === 'in' ? 1 : 0,
      ep,
      status,
      actualLength,
      startFrame,
      numberOfPackets,
      errorCount,
      data,
      isoPackets,
    })
    const dataLength = direction === 'in' ? actualLength : 0
    const tail = dataLength + isoCount * ISO_DESCRIPTOR_SIZE
    if (tail === 0) return message(NO_BYTES, [])
    return new Pending(tail, (queue) => {
      const data = queue.take(dataLength)
      const isoPackets = readIsoPackets(queue, isoCount)
      checkIsoActualLengths(isoPackets, actualLength)
      return message(data, isoPackets)
    })
  }
}

// ---- message bodies ----

function decodeCmdSubmit(header: Uint8Array): Step<ClientMessage> {
  const direction = readDirection(header)
  const transferBufferLength = readS32(header, UrbOffset.transferBufferLength)
  checkLength('transferBufferLength', transferBufferLength)
  const numberOfPackets = readS32(header, UrbOffset.numberOfPackets)
  const isoCount = checkIsoCount(numberOfPackets)
  // Read everything now: the header view may be scratch memory that reading the tail reuses.
  const seqnum = readU32(header, UrbOffset.seqnum)
  const devid = readU32(header, UrbOffset.devid)
  const ep = readEndpoint(header)
  const transferFlags = readU32(header, UrbOffset.transferFlags)
  const startFrame = readS32(header, UrbOffset.startFrame)
  const interval = readS32(header, UrbOffset.interval)
  // A copy: the header may be scratch memory or part of a caller's chunk.
  const setup = new Uint8Array(SETUP_SIZE)
  for (let i = 0; i < SETUP_SIZE; i++) setup[i] = header[UrbOffset.setup + i]!
  const message = (data: Uint8Array, isoPackets: readonly IsoPacketDescriptor[]): CmdSubmit => ({
    kind: 'CMD_SUBMIT',
    seqnum,
    devid,
    direction,
    ep,
    transferFlags,
    transferBufferLength,
    startFrame,
    numberOfPackets,
    interval,
    setup,
    data,
    isoPackets,
  })
  const dataLength = direction === 0 ? transferBufferLength : 0
  const tail = dataLength + isoCount * ISO_DESCRIPTOR_SIZE
  if (tail === 0) return message(NO_BYTES, [])
  return new Pending(tail, (queue) => {
    const data = queue.take(dataLength)
    const isoPackets = readIsoPackets(queue, isoCount)
    for (const packet of isoPackets) {
      // The backend indexes the transfer buffer with these; keep them inside it.
      if (packet.offset + packet.length > transferBufferLength) {
        throw badField(
          `iso packet [${packet.offset}, +${packet.length}) exceeds the ${transferBufferLength}-byte buffer`,
          {
            field: 'isoPackets',
            offset: packet.offset,
            length: packet.length,
            transferBufferLength,
          },
        )
      }
    }
    return message(data, isoPackets)
  })
}

/** Devices arrive one record (then its interfaces) at a time; nothing is allocated ahead. */
function decodeDevlistBody(status: number, count: number): Step<ServerMessage> {
  if (count > Limits.maxDevices) {
    throw protocolError('ERR_TOO_MANY_DEVICES', `device list announces ${count} devices`, {
      count,
      max: Limits.maxDevices,
    })
  }
  const devices: ExportedDevice[] = []
  const done = (): ServerMessage => ({ kind: 'OP_REP_DEVLIST', status, devices })
  const nextDevice = (): Step<ServerMessage> => (devices.length === count ? done() : deviceRecord)
  const deviceRecord: Pending<ServerMessage> = new Pending(DEVICE_RECORD_SIZE, (queue) => {
    const record = decodeDeviceRecord(queue.read(DEVICE_RECORD_SIZE))
    const interfaceCount = record.numInterfaces
    if (interfaceCount > Limits.maxInterfaces) {
      throw badField(`device ${record.busid} announces ${interfaceCount} interfaces`, {
        field: 'numInterfaces',
        numInterfaces: interfaceCount,
        max: Limits.maxInterfaces,
      })
    }
    if (interfaceCount === 0) {
      devices.push({ ...record, interfaces: [] })
      return nextDevice()
    }
    return new Pending(interfaceCount * INTERFACE_RECORD_SIZE, (queue) => {
      const bytes = queue.read(interfaceCount * INTERFACE_RECORD_SIZE)
      const interfaces: InterfaceRecord[] = []
      for (let i = 0; i < interfaceCount; i++) {
        interfaces.push(readInterfaceRecord(bytes, i * INTERFACE_RECORD_SIZE))
      }
      devices.push({ ...record, interfaces })
      return nextDevice()
    })
  })
  return nextDevice()
}

const SPEEDS: ReadonlySet<number> = new Set(Object.values(Speed))

function decodeDeviceRecord(bytes: Uint8Array): DeviceRecord {
  const speed = readU32(bytes, DeviceOffset.speed)
  if (!SPEEDS.has(speed)) throw badField(`unknown device speed ${speed}`, { field: 'speed', speed })
  return readDeviceRecord(bytes, 0, speed as SpeedValue)
}

function readIsoPackets(queue: ByteQueue, count: number): IsoPacketDescriptor[] {
  const packets: IsoPacketDescriptor[] = []
  if (count === 0) return packets
  const bytes = queue.read(count * ISO_DESCRIPTOR_SIZE)
  for (let i = 0; i < count; i++) packets.push(readIsoDescriptor(bytes, i * ISO_DESCRIPTOR_SIZE))
  return packets
}

/** The kernel's usbip_recv_iso check: the packets account for exactly actual_length bytes. */
function checkIsoActualLengths(packets: readonly IsoPacketDescriptor[], actualLength: number): void {
  if (packets.length === 0) return
  let sum = 0
  for (const packet of packets) {
    if (packet.actualLength > packet.length) {
      throw badField(`iso packet actual_length ${packet.actualLength} exceeds its length ${packet.length}`, {
        field: 'isoPackets',
        actualLength: packet.actualLength,
        length: packet.length,
      })
    }
    sum += packet.actualLength
  }
  if (sum !== actualLength) {
    throw badField(`iso actual lengths sum to ${sum}, not actual_length ${actualLength}`, {
      field: 'isoPackets',
      sum,
      actualLength,
    })
  }
}

// ---- field checks ----

function readDirection(header: Uint8Array): 0 | 1 {
  const direction = readU32(header, UrbOffset.direction)
  if (direction !== 0 && direction !== 1) {
    throw badField(`direction ${direction}`, { field: 'direction', direction })
  }
  return direction
}

function readEndpoint(header: Uint8Array): number {
  const ep = readU32(header, UrbOffset.ep)
  if (ep > 15) throw badField(`endpoint ${ep}`, { field: 'ep', ep })
  return ep
}

function checkLength(field: string, length: number): void {
  if (length < 0) throw badField(`negative ${field} ${length}`, { field, length })
  if (length > Limits.maxTransferLength) {
    throw protocolError('ERR_TRANSFER_TOO_LONG', `${field} ${length} exceeds ${Limits.maxTransferLength}`, {
      field,
      length,
      max: Limits.maxTransferLength,
    })
  }
}

function checkIsoCount(numberOfPackets: number): number {
  const count = isoDescriptorCount(numberOfPackets, Limits.maxIsoPackets)
  if (count === undefined) {
    throw protocolError('ERR_TOO_MANY_PACKETS', `number_of_packets ${numberOfPackets}`, {
      numberOfPackets,
      max: Limits.maxIsoPackets,
    })
  }
  return count
}

function badField(message: string, details: Record<string, unknown>) {
  return protocolError('ERR_BAD_FIELD', message, details)
}

function unexpected(message: string, details: Record<string, unknown>) {
  return protocolError('ERR_UNEXPECTED_MESSAGE', message, details)
}

function unknownOp(code: number) {
  return protocolError('ERR_UNKNOWN_OP', `unknown op code 0x${hex(code, 4)}`, { code })
}

function unknownCommand(command: number) {
  return protocolError('ERR_UNKNOWN_COMMAND', `unknown URB command ${command}`, { command })
}

function hex(value: number, digits: number): string {
  return value.toString(16).padStart(digits, '0')
}
