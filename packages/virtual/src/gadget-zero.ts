/**
 * A device compatible with Linux's "Gadget Zero" (g_zero) test gadget, so the host's usbtest
 * driver binds to it (0525:a4a0). Two configurations, as g_zero has them:
 *  - source/sink (bConfigurationValue 3): bulk IN always returns a pattern, bulk OUT swallows
 *    and checks what it gets;
 *  - loopback (bConfigurationValue 2): what the host writes on bulk OUT comes back on bulk IN.
 * Plus the two vendor control requests of usbtest's ctrl_out test: 0x5b writes a buffer,
 * 0x5c reads it back.
 *
 * The source/sink interface has g_zero's alternate setting 1 too: the same bulk pair plus an
 * isochronous IN (source) and OUT (sink) endpoint, for usbtest's iso cases (15/16, 22/23).
 */
import type { DeviceDescriptors } from '@tether/usbip'
import {
  CONTROL_ACK,
  CONTROL_STALL,
  type ControlReply,
  controlData,
  RequestType,
  type SetupPacket,
} from './control.js'
import {
  ConfigAttributes,
  configurationDescriptor,
  deviceDescriptor,
  endpointDescriptor,
  interfaceBlock,
  stringTable,
} from './descriptors.js'
import { VirtualDevice, type VirtualDeviceOptions } from './device.js'
import type { PendingTransfer } from './pending.js'

export const GadgetZeroConfiguration = { SOURCE_SINK: 3, LOOPBACK: 2 } as const

/** 0: all zeroes, 1: (i % wMaxPacketSize) % 63 within each transfer, 2: no pattern (zeroes, unchecked). */
export type GadgetZeroPattern = 0 | 1 | 2

export interface GadgetZeroOptions extends VirtualDeviceOptions {
  /** Source/sink data pattern, like g_zero's `pattern` parameter. Default 0. */
  readonly pattern?: GadgetZeroPattern
  /** Put the loopback configuration first (g_zero's `loopdefault`). Default false. */
  readonly loopDefault?: boolean
  /** Loopback bytes held before bulk OUT stops accepting (g_zero: qlen 32 x buflen 4096). */
  readonly loopbackCapacity?: number
  readonly serialNumber?: string
}

export interface GadgetZeroStats {
  readonly sourcedBytes: number
  readonly sunkBytes: number
  /** OUT transfers in source/sink mode whose bytes did not match the pattern. */
  readonly sinkPatternErrors: number
  readonly loopedBytes: number
  /** Isochronous packets sourced (iso IN) and sunk (iso OUT); their bytes count in sourced/sunkBytes. */
  readonly isoSourcedPackets: number
  readonly isoSunkPackets: number
}

const VENDOR_WRITE = 0x5b
const VENDOR_READ = 0x5c
const VENDOR_OUT_DEVICE = RequestType.TYPE_VENDOR
const VENDOR_IN_DEVICE = RequestType.DIR_IN | RequestType.TYPE_VENDOR

export class GadgetZeroDevice extends VirtualDevice {
  static readonly BULK_IN = 0x81
  static readonly BULK_OUT = 0x01
  static readonly MAX_PACKET = 512
  /** Isochronous endpoints of source/sink alt setting 1. */
  static readonly ISO_IN = 0x82
  static readonly ISO_OUT = 0x02
  /** g_zero's defaults: isoc_maxpacket 1024, isoc_mult 0 (one transaction per microframe). */
  static readonly ISO_MAX_PACKET = 1024
  /** g_zero's isoc_interval default: bInterval 4 = every 2^(4-1) = 8 microframes at high speed. */
  static readonly ISO_INTERVAL = 4
  static readonly SOURCE_SINK_ISO_ALT = 1
  /** g_zero's ep0 buffer (USB_COMP_EP0_BUFSIZ): the largest 0x5b/0x5c transfer. */
  static readonly CONTROL_BUFFER_SIZE = 4096

  readonly descriptors: DeviceDescriptors
  readonly description = 'Gadget Zero (usbtest source/sink + loopback)'
  readonly pattern: GadgetZeroPattern
  readonly #loopbackCapacity: number
  readonly #controlBuffer = new Uint8Array(GadgetZeroDevice.CONTROL_BUFFER_SIZE)
  #sourceCache: Uint8Array = new Uint8Array(0)
  /** One iso packet's worth of pattern: every iso packet restarts the pattern. */
  #isoPacketPattern: Uint8Array | undefined
  #loop: Uint8Array[] = []
  #loopBytes = 0
  #stats = {
    sourcedBytes: 0,
    sunkBytes: 0,
    sinkPatternErrors: 0,
    loopedBytes: 0,
    isoSourcedPackets: 0,
    isoSunkPackets: 0,
  }

  constructor(options: GadgetZeroOptions = {}) {
    super(options)
    this.pattern = options.pattern ?? 0
    this.#loopbackCapacity = options.loopbackCapacity ?? 32 * 4096
    this.descriptors = buildDescriptors(options)
  }

  get mode(): 'source-sink' | 'loopback' | 'unconfigured' {
    switch (this.configurationValue) {
      case GadgetZeroConfiguration.SOURCE_SINK:
        return 'source-sink'
      case GadgetZeroConfiguration.LOOPBACK:
        return 'loopback'
      default:
        return 'unconfigured'
    }
  }

  get stats(): GadgetZeroStats {
    return { ...this.#stats }
  }

  protected override handleTransfer(transfer: PendingTransfer): void {
    if (transfer.endpointAddress === GadgetZeroDevice.ISO_IN) {
      this.#isoSource(transfer)
      return
    }
    if (transfer.endpointAddress === GadgetZeroDevice.ISO_OUT) {
      this.#isoSink(transfer)
      return
    }
    const isIn = transfer.endpointAddress === GadgetZeroDevice.BULK_IN
    if (this.mode === 'source-sink') {
      if (isIn) this.#source(transfer)
      else this.#sink(transfer)
    } else if (this.mode === 'loopback') {
      if (isIn) this.#loopIn(transfer)
      else this.#loopOut(transfer)
    }
  }

  protected override handleClassOrVendorRequest(setup: SetupPacket, data: Uint8Array): ControlReply {
    const plain =
      setup.value === 0 && setup.index === 0 && setup.length <= GadgetZeroDevice.CONTROL_BUFFER_SIZE
    if (setup.request === VENDOR_WRITE && setup.requestType === VENDOR_OUT_DEVICE && plain) {
      this.#controlBuffer.set(data.subarray(0, setup.length))
      return CONTROL_ACK
    }
    if (setup.request === VENDOR_READ && setup.requestType === VENDOR_IN_DEVICE && plain) {
      return controlData(this.#controlBuffer.slice(0, setup.length))
    }
    return CONTROL_STALL
  }

  protected override onConfigurationChanged(): void {
    this.#clearLoop()
  }

  protected override onInterfaceChanged(): void {
    this.#clearLoop()
  }

  protected override onOpen(): void {
    this.#clearLoop()
    this.#controlBuffer.fill(0)
  }

  protected override onClose(): void {
    this.#clearLoop()
  }

  // ---- source/sink --------------------------------------------------------------------------

  #source(transfer: PendingTransfer): void {
    const length = transfer.request.length
    // The pattern restarts with every transfer, so one shared read-only buffer serves them all.
    if (this.#sourceCache.length < length) this.#sourceCache = this.#patternBytes(length)
    this.#stats.sourcedBytes += length
    transfer.completeIn(this.#sourceCache.subarray(0, length))
  }

  #sink(transfer: PendingTransfer): void {
    const data = transfer.request.data
    this.#stats.sunkBytes += data.length
    if (!this.#matchesPattern(data)) this.#stats.sinkPatternErrors++
    transfer.completeOut(data.length)
  }

  // ---- isochronous source/sink (alt setting 1) ---------------------------------------------------
  //
  // A real iso endpoint moves one packet per service interval (here every 8 microframes), so an
  // URB of N packets finishes N intervals after its start frame. We complete at once instead:
  // the kernel (vhci_hcd, usbtest) only looks at each packet's length and status, never at when
  // it arrived, so the stream simply runs faster than real time. A transfer still goes through
  // the endpoint FIFO like any other, so one that is pending (queued behind another) honours
  // unlink/cancel and close. Every packet succeeds in full, as g_zero's source and sink do.

  #isoSource(transfer: PendingTransfer): void {
    const packets = transfer.request.isoPackets
    const pattern = this.#isoPattern()
    let total = 0
    for (const packet of packets) total += packet.length
    const data = new Uint8Array(total)
    let at = 0
    for (const packet of packets) {
      data.set(pattern.subarray(0, Math.min(packet.length, pattern.length)), at)
      at += packet.length
    }
    this.#stats.sourcedBytes += total
    this.#stats.isoSourcedPackets += packets.length
    transfer.completeIso(
      packets.map((p) => ({ actualLength: p.length, status: 0 })),
      data,
    )
  }

  #isoSink(transfer: PendingTransfer): void {
    const { data, isoPackets } = transfer.request
    const pattern = this.#isoPattern()
    let ok = true
    for (const packet of isoPackets) {
      const bytes = data.subarray(packet.offset, packet.offset + packet.length)
      this.#stats.sunkBytes += bytes.length
      if (this.pattern !== 2 && Buffer.compare(bytes, pattern.subarray(0, bytes.length)) !== 0) ok = false
    }
    // Only statistics: usbtest zero-fills its iso OUT buffers whatever its pattern is.
    if (!ok) this.#stats.sinkPatternErrors++
    this.#stats.isoSunkPackets += isoPackets.length
    transfer.completeIso(isoPackets.map((p) => ({ actualLength: p.length, status: 0 })))
  }

  #isoPattern(): Uint8Array {
    if (!this.#isoPacketPattern) {
      // Room for a high-bandwidth packet (3 transactions); longer packets are zero-padded.
      const size = 3 * GadgetZeroDevice.ISO_MAX_PACKET
      this.#isoPacketPattern = new Uint8Array(size)
      if (this.pattern === 1) for (let i = 0; i < size; i++) this.#isoPacketPattern[i] = i % 63
    }
    return this.#isoPacketPattern
  }

  #patternBytes(length: number): Uint8Array {
    const out = new Uint8Array(Math.max(length, 4096))
    if (this.pattern === 1) {
      for (let i = 0; i < out.length; i++) out[i] = (i % this.#maxPacket()) % 63
    }
    return out
  }

  #matchesPattern(data: Uint8Array): boolean {
    if (this.pattern === 2) return true
    // memcmp against the source's own pattern buffer: a JS byte loop here halved OUT throughput.
    if (this.#sourceCache.length < data.length) this.#sourceCache = this.#patternBytes(data.length)
    return Buffer.compare(data, this.#sourceCache.subarray(0, data.length)) === 0
  }

  #maxPacket(): number {
    return this.activeEndpoints().get(GadgetZeroDevice.BULK_IN)?.maxPacketSize ?? GadgetZeroDevice.MAX_PACKET
  }

  // ---- loopback -----------------------------------------------------------------------------

  /** Accept OUT data while there is room; otherwise the transfer waits (the device NAKs). */
  #loopOut(transfer: PendingTransfer): void {
    const { data, zeroPacket } = transfer.request
    if (this.#loop.length > 0 && this.#loopBytes + data.length > this.#loopbackCapacity) return
    this.#loop.push(data.slice())
    // A zero-length packet after full packets ends the transfer: the IN side must see it too.
    if (zeroPacket && data.length > 0 && data.length % this.#maxPacket() === 0)
      this.#loop.push(new Uint8Array(0))
    this.#loopBytes += data.length
    this.#stats.loopedBytes += data.length
    transfer.completeOut(data.length)
    this.kick(GadgetZeroDevice.BULK_IN)
  }

  /**
   * Serve IN from the queued OUT transfers. A host IN transfer ends when it is full or on a short
   * packet, so it keeps reading across queued transfers that were whole multiples of wMaxPacketSize.
   */
  #loopIn(transfer: PendingTransfer): void {
    if (this.#loop.length === 0) return
    const room = transfer.request.length
    const maxPacket = this.#maxPacket()
    const parts: Uint8Array[] = []
    let taken = 0
    while (this.#loop.length > 0 && taken < room) {
      const head = this.#loop[0]!
      if (head.length === 0) {
        this.#loop.shift()
        break
      }
      const take = Math.min(head.length, room - taken)
      parts.push(head.subarray(0, take))
      taken += take
      if (take < head.length) {
        this.#loop[0] = head.subarray(take)
        break
      }
      this.#loop.shift()
      if (head.length % maxPacket !== 0) break
    }
    this.#loopBytes -= taken
    transfer.completeIn(concat(parts, taken))
    this.kick(GadgetZeroDevice.BULK_OUT)
  }

  #clearLoop(): void {
    this.#loop = []
    this.#loopBytes = 0
  }
}

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(total)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

function buildDescriptors(options: GadgetZeroOptions): DeviceDescriptors {
  const sourceSinkString = 4
  const loopbackString = 5
  const bulkPair = [
    endpointDescriptor({
      address: GadgetZeroDevice.BULK_IN,
      type: 'bulk',
      maxPacketSize: GadgetZeroDevice.MAX_PACKET,
    }),
    endpointDescriptor({
      address: GadgetZeroDevice.BULK_OUT,
      type: 'bulk',
      maxPacketSize: GadgetZeroDevice.MAX_PACKET,
    }),
  ]
  const isoPair = [GadgetZeroDevice.ISO_IN, GadgetZeroDevice.ISO_OUT].map((address) =>
    endpointDescriptor({
      address,
      type: 'isochronous',
      maxPacketSize: GadgetZeroDevice.ISO_MAX_PACKET,
      interval: GadgetZeroDevice.ISO_INTERVAL,
    }),
  )
  const functionConfig = (value: number, stringIndex: number, withIsoAlt: boolean): Uint8Array =>
    configurationDescriptor(
      {
        configurationValue: value,
        configurationIndex: stringIndex,
        attributes: ConfigAttributes.SELF_POWERED,
      },
      [
        interfaceBlock(
          { interfaceNumber: 0, interfaceClass: 0xff, interfaceIndex: stringIndex },
          { endpoints: bulkPair },
        ),
        ...(withIsoAlt
          ? [
              interfaceBlock(
                {
                  interfaceNumber: 0,
                  alternateSetting: GadgetZeroDevice.SOURCE_SINK_ISO_ALT,
                  interfaceClass: 0xff,
                  interfaceIndex: stringIndex,
                },
                { endpoints: [...bulkPair, ...isoPair] },
              ),
            ]
          : []),
      ],
    )
  const sourceSink = functionConfig(GadgetZeroConfiguration.SOURCE_SINK, sourceSinkString, true)
  const loopback = functionConfig(GadgetZeroConfiguration.LOOPBACK, loopbackString, false)
  return {
    device: deviceDescriptor({
      deviceClass: 0xff,
      vendorId: 0x0525, // NetChip
      productId: 0xa4a0, // Linux-USB "Gadget Zero"
      bcdDevice: 0x0100,
      manufacturerIndex: 1,
      productIndex: 2,
      serialNumberIndex: 3,
      numConfigurations: 2,
    }),
    configurations: options.loopDefault ? [loopback, sourceSink] : [sourceSink, loopback],
    strings: stringTable([
      'Tether',
      'Gadget Zero',
      // g_zero's default serial spans several 64-byte control packets on purpose.
      options.serialNumber ?? '0123456789.0123456789.0123456789',
      'source and sink data',
      'loop input to output',
    ]),
  }
}
