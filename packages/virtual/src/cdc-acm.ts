/**
 * CDC-ACM virtual serial port (what Linux's cdc_acm binds to as /dev/ttyACM*): a communication
 * interface with the PSTN functional descriptors and an interrupt notification endpoint, and a
 * data interface with bulk IN/OUT. The far end of the line is a pluggable `SerialPeer`.
 */

import type { DeviceDescriptors } from '@tether/usbip'
import {
  CONTROL_ACK,
  CONTROL_STALL,
  type ControlReply,
  controlData,
  isDeviceToHost,
  RequestType,
  recipient,
  requestKind,
  type SetupPacket,
} from './control.js'
import {
  ConfigAttributes,
  classInterfaceDescriptor,
  configurationDescriptor,
  deviceDescriptor,
  endpointDescriptor,
  interfaceAssociationDescriptor,
  interfaceBlock,
  stringTable,
} from './descriptors.js'
import { VirtualDevice, type VirtualDeviceOptions } from './device.js'
import type { PendingTransfer } from './pending.js'
import {
  type ControlLines,
  EchoPeer,
  type LineCoding,
  type SerialPeer,
  type SerialPort,
  toBytes,
} from './serial.js'

export const CdcRequest = {
  SEND_ENCAPSULATED_COMMAND: 0x00,
  GET_ENCAPSULATED_RESPONSE: 0x01,
  SET_LINE_CODING: 0x20,
  GET_LINE_CODING: 0x21,
  SET_CONTROL_LINE_STATE: 0x22,
  SEND_BREAK: 0x23,
} as const

/** SERIAL_STATE notification bits (CDC PSTN 6.5.4). */
export const SerialStateBits = { DCD: 0x01, DSR: 0x02, BREAK: 0x04, RING: 0x08 } as const

const CLASS_COMM = 0x02
const SUBCLASS_ACM = 0x02
const PROTOCOL_AT_V25TER = 0x01
const CLASS_CDC_DATA = 0x0a
const NOTIFICATION_SERIAL_STATE = 0x20
/** ACM bmCapabilities: line coding + control line state + SERIAL_STATE (bit 1), SEND_BREAK (bit 2). */
const ACM_CAPABILITIES = 0x06

const COMM_INTERFACE = 0
const DATA_INTERFACE = 1

export const DEFAULT_LINE_CODING: LineCoding = { baudRate: 115200, stopBits: 0, parity: 0, dataBits: 8 }

export interface CdcAcmOptions extends VirtualDeviceOptions {
  /** The far end of the line. Default: an EchoPeer. */
  readonly peer?: SerialPeer
  readonly vendorId?: number
  readonly productId?: number
  readonly manufacturer?: string
  readonly product?: string
  readonly serialNumber?: string
  /** Group both interfaces with an Interface Association Descriptor (device class EF/02/01). Default true. */
  readonly interfaceAssociation?: boolean
  /** Send SERIAL_STATE (DCD|DSR) on the notification endpoint when the host raises DTR. Default true. */
  readonly serialStateNotifications?: boolean
  /** Board-to-host bytes kept while the host isn't reading; the oldest are dropped beyond this. */
  readonly maxBufferedBytes?: number
}

export class CdcAcmDevice extends VirtualDevice {
  static readonly BULK_IN = 0x81
  static readonly BULK_OUT = 0x02
  static readonly NOTIFY_IN = 0x83
  static readonly BULK_MAX_PACKET = 512

  readonly descriptors: DeviceDescriptors
  readonly description: string
  readonly peer: SerialPeer
  readonly #notify: boolean
  readonly #maxBuffered: number
  readonly #hostDataListeners = new Set<(bytes: Uint8Array) => void>()
  #toHost: Uint8Array[] = []
  #toHostLength = 0
  #dropped = 0
  #notifications: Uint8Array[] = []
  #lineCoding: LineCoding = DEFAULT_LINE_CODING
  #lines: ControlLines = { dtr: false, rts: false }
  #port: (SerialPort & { detached: boolean }) | undefined

  constructor(options: CdcAcmOptions = {}) {
    super(options)
    this.peer = options.peer ?? new EchoPeer()
    this.#notify = options.serialStateNotifications ?? true
    this.#maxBuffered = options.maxBufferedBytes ?? 256 * 1024
    const product = options.product ?? 'Tether Virtual Serial'
    this.description = `CDC-ACM serial (${product})`
    this.descriptors = buildDescriptors(options, product)
  }

  get lineCoding(): LineCoding {
    return this.#lineCoding
  }

  get controlLines(): ControlLines {
    return this.#lines
  }

  /** Board-to-host bytes waiting for the host to read them. */
  get bufferedToHost(): number {
    return this.#toHostLength
  }

  /** Board-to-host bytes discarded because the host wasn't reading. */
  get droppedBytes(): number {
    return this.#dropped
  }

  /** Send bytes to the host as if the board had written them (also what peers use). */
  writeToHost(bytes: Uint8Array | string): void {
    const data = toBytes(bytes)
    if (data.length === 0) return
    this.#toHost.push(data.slice())
    this.#toHostLength += data.length
    this.#trimToHostBuffer()
    this.kick(CdcAcmDevice.BULK_IN)
  }

  /** Observe the bytes the host writes (before the peer sees them). */
  onHostData(listener: (bytes: Uint8Array) => void): () => void {
    this.#hostDataListeners.add(listener)
    return () => this.#hostDataListeners.delete(listener)
  }

  protected override onOpen(): void {
    this.#detachPeer()
    this.#resetLine()
    const port = {
      detached: false,
      write: (bytes: Uint8Array | string) => {
        if (!port.detached) this.writeToHost(bytes)
      },
    }
    this.#port = port
    this.peer.attach(port)
  }

  protected override onClose(): void {
    this.#detachPeer()
    this.#resetLine()
  }

  #detachPeer(): void {
    if (!this.#port) return
    this.#port.detached = true
    this.#port = undefined
    this.peer.detach()
  }

  protected override handleTransfer(transfer: PendingTransfer): void {
    switch (transfer.endpointAddress) {
      case CdcAcmDevice.BULK_OUT:
        this.#fromHost(transfer)
        return
      case CdcAcmDevice.BULK_IN:
        this.#serveBulkIn(transfer)
        return
      case CdcAcmDevice.NOTIFY_IN: {
        // Stays pending until there is something to notify, like a real interrupt endpoint NAKing.
        const notification = this.#notifications.shift()
        if (notification) transfer.completeIn(notification)
        return
      }
    }
  }

  protected override handleClassOrVendorRequest(setup: SetupPacket, data: Uint8Array): ControlReply {
    if (
      requestKind(setup) !== RequestType.TYPE_CLASS ||
      recipient(setup) !== RequestType.RECIPIENT_INTERFACE ||
      (setup.index & 0xff) !== COMM_INTERFACE
    ) {
      return CONTROL_STALL
    }
    const deviceToHost = isDeviceToHost(setup)
    switch (setup.request) {
      case CdcRequest.SET_LINE_CODING: {
        if (deviceToHost || data.length < 7) return CONTROL_STALL
        this.#lineCoding = decodeLineCoding(data)
        this.peer.lineCoding?.(this.#lineCoding)
        return CONTROL_ACK
      }
      case CdcRequest.GET_LINE_CODING:
        return deviceToHost ? controlData(encodeLineCoding(this.#lineCoding)) : CONTROL_STALL
      case CdcRequest.SET_CONTROL_LINE_STATE: {
        if (deviceToHost) return CONTROL_STALL
        const lines = { dtr: (setup.value & 0x01) !== 0, rts: (setup.value & 0x02) !== 0 }
        const dtrRaised = lines.dtr && !this.#lines.dtr
        this.#lines = lines
        if (dtrRaised && this.#notify) this.#queueSerialState(SerialStateBits.DCD | SerialStateBits.DSR)
        this.peer.controlLines?.(lines)
        return CONTROL_ACK
      }
      case CdcRequest.SEND_BREAK:
        if (deviceToHost) return CONTROL_STALL
        this.peer.sendBreak?.(setup.value)
        return CONTROL_ACK
      default:
        return CONTROL_STALL
    }
  }

  #fromHost(transfer: PendingTransfer): void {
    const bytes = transfer.request.data
    if (bytes.length > 0) {
      for (const listener of [...this.#hostDataListeners]) listener(bytes)
      this.peer.receive(bytes)
    }
    transfer.completeOut(bytes.length)
  }

  /** Bulk IN stays pending until the board side has produced bytes. */
  #serveBulkIn(transfer: PendingTransfer): void {
    if (this.#toHostLength === 0) return
    const want = Math.min(transfer.request.length, this.#toHostLength)
    if (want === 0) {
      transfer.completeIn(new Uint8Array(0))
      return
    }
    transfer.completeIn(this.#takeToHost(want))
  }

  #takeToHost(count: number): Uint8Array {
    const out = new Uint8Array(count)
    let filled = 0
    while (filled < count) {
      const head = this.#toHost[0]!
      const take = Math.min(head.length, count - filled)
      out.set(head.subarray(0, take), filled)
      filled += take
      if (take === head.length) this.#toHost.shift()
      else this.#toHost[0] = head.subarray(take)
    }
    this.#toHostLength -= count
    return out
  }

  #trimToHostBuffer(): void {
    let excess = this.#toHostLength - this.#maxBuffered
    while (excess > 0) {
      const head = this.#toHost[0]!
      const drop = Math.min(head.length, excess)
      if (drop === head.length) this.#toHost.shift()
      else this.#toHost[0] = head.subarray(drop)
      this.#toHostLength -= drop
      this.#dropped += drop
      excess -= drop
    }
  }

  #queueSerialState(bits: number): void {
    const message = Uint8Array.of(
      0xa1,
      NOTIFICATION_SERIAL_STATE,
      0,
      0,
      COMM_INTERFACE,
      0,
      2,
      0,
      bits & 0xff,
      bits >> 8,
    )
    this.#notifications.push(message)
    this.kick(CdcAcmDevice.NOTIFY_IN)
  }

  #resetLine(): void {
    this.#toHost = []
    this.#toHostLength = 0
    this.#notifications = []
    this.#lineCoding = DEFAULT_LINE_CODING
    this.#lines = { dtr: false, rts: false }
  }
}

export function encodeLineCoding(coding: LineCoding): Uint8Array {
  const out = new Uint8Array(7)
  const view = new DataView(out.buffer)
  view.setUint32(0, coding.baudRate, true)
  out[4] = coding.stopBits
  out[5] = coding.parity
  out[6] = coding.dataBits
  return out
}

export function decodeLineCoding(bytes: Uint8Array): LineCoding {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return { baudRate: view.getUint32(0, true), stopBits: bytes[4]!, parity: bytes[5]!, dataBits: bytes[6]! }
}

function buildDescriptors(options: CdcAcmOptions, product: string): DeviceDescriptors {
  const withIad = options.interfaceAssociation ?? true
  const strings = [options.manufacturer ?? 'Tether', product, options.serialNumber ?? 'TETHER-ACM-0001']
  const communication = interfaceBlock(
    {
      interfaceNumber: COMM_INTERFACE,
      interfaceClass: CLASS_COMM,
      interfaceSubClass: SUBCLASS_ACM,
      interfaceProtocol: PROTOCOL_AT_V25TER,
    },
    {
      classSpecific: [
        classInterfaceDescriptor(0x00, [0x10, 0x01]), // Header, bcdCDC 1.10
        classInterfaceDescriptor(0x01, [0x00, DATA_INTERFACE]), // Call Management: none, data interface
        classInterfaceDescriptor(0x02, [ACM_CAPABILITIES]), // Abstract Control Management
        classInterfaceDescriptor(0x06, [COMM_INTERFACE, DATA_INTERFACE]), // Union: control, subordinate
      ],
      endpoints: [
        // 10-byte SERIAL_STATE fits in one 16-byte packet; bInterval 9 = 2^8 microframes = 32 ms.
        endpointDescriptor({
          address: CdcAcmDevice.NOTIFY_IN,
          type: 'interrupt',
          maxPacketSize: 16,
          interval: 9,
        }),
      ],
    },
  )
  const data = interfaceBlock(
    { interfaceNumber: DATA_INTERFACE, interfaceClass: CLASS_CDC_DATA },
    {
      endpoints: [
        endpointDescriptor({
          address: CdcAcmDevice.BULK_IN,
          type: 'bulk',
          maxPacketSize: CdcAcmDevice.BULK_MAX_PACKET,
        }),
        endpointDescriptor({
          address: CdcAcmDevice.BULK_OUT,
          type: 'bulk',
          maxPacketSize: CdcAcmDevice.BULK_MAX_PACKET,
        }),
      ],
    },
  )
  const association = interfaceAssociationDescriptor({
    firstInterface: COMM_INTERFACE,
    interfaceCount: 2,
    functionClass: CLASS_COMM,
    functionSubClass: SUBCLASS_ACM,
    functionProtocol: PROTOCOL_AT_V25TER,
  })
  return {
    device: deviceDescriptor({
      // With an IAD the device must declare the Miscellaneous / Common Class / IAD triple.
      deviceClass: withIad ? 0xef : CLASS_COMM,
      deviceSubClass: withIad ? 0x02 : 0,
      deviceProtocol: withIad ? 0x01 : 0,
      // Linux-USB serial gadget, CDC ACM mode: what a Linux board's USB console presents.
      vendorId: options.vendorId ?? 0x0525,
      productId: options.productId ?? 0xa4a7,
      manufacturerIndex: 1,
      productIndex: 2,
      serialNumberIndex: 3,
      numConfigurations: 1,
    }),
    configurations: [
      configurationDescriptor(
        { configurationValue: 1, attributes: ConfigAttributes.BUS_POWERED, maxPowerMilliamps: 100 },
        withIad ? [association, communication, data] : [communication, data],
      ),
    ],
    strings: stringTable(strings),
  }
}
