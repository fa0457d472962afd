/**
 * URB records in the Linux usbmon binary format (the 64-byte "mmapped" header, pcap link type
 * LINKTYPE_USB_LINUX_MMAPPED = 220), so Wireshark decodes a capture as USB traffic with
 * descriptors, classes and all. Pure: request/completion in, one record out.
 */
import type { BackendCompletion, BackendRequest, TransferType } from '../backend.js'

export const LINKTYPE_USB_LINUX_MMAPPED = 220
const HEADER_SIZE = 64
const XFER_TYPE: Readonly<Record<TransferType, number>> = {
  isochronous: 0,
  interrupt: 1,
  control: 2,
  bulk: 3,
}
const SETUP_PRESENT = 0
const SETUP_ABSENT = 0x2d // '-'
const DATA_PRESENT = 0
const DATA_ABSENT = 0x3c // '<'
const EINPROGRESS = -115

export interface UsbmonDevice {
  readonly busnum: number
  readonly devnum: number
}

export interface UsbmonEndpoint {
  readonly type: TransferType
  /** With the direction bit (0x80 = IN). */
  readonly address: number
}

/** usbmon's view of a request the session routed: standard requests become control transfers. */
export function usbmonEndpoint(request: BackendRequest): UsbmonEndpoint {
  if (request.kind !== 'transfer') return { type: 'control', address: 0 }
  return { type: request.type, address: request.endpoint | (request.direction === 'in' ? 0x80 : 0) }
}

function setupOf(request: BackendRequest): Uint8Array | undefined {
  switch (request.kind) {
    case 'transfer':
      return request.setup
    case 'set-configuration':
      return Uint8Array.of(0x00, 0x09, request.configurationValue, 0, 0, 0, 0, 0)
    case 'set-interface':
      return Uint8Array.of(0x01, 0x0b, request.alternateSetting, 0, request.interfaceNumber, 0, 0, 0)
    case 'clear-halt':
      return Uint8Array.of(0x02, 0x01, 0, 0, request.endpointAddress, 0, 0, 0)
  }
}

interface RecordFields {
  readonly id: bigint
  readonly event: 'S' | 'C'
  readonly endpoint: UsbmonEndpoint
  readonly device: UsbmonDevice
  readonly timeMicros: bigint
  readonly status: number
  readonly urbLength: number
  readonly setup: Uint8Array | undefined
  readonly data: Uint8Array
  readonly interval: number
}

function encodeRecord(f: RecordFields): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + f.data.length)
  const view = new DataView(out.buffer)
  // usbmon writes host byte order; pcap readers expect little-endian for this link type on x86.
  view.setBigUint64(0, f.id, true)
  out[8] = f.event.charCodeAt(0)
  out[9] = XFER_TYPE[f.endpoint.type]
  out[10] = f.endpoint.address
  out[11] = f.device.devnum & 0xff
  view.setUint16(12, f.device.busnum, true)
  out[14] = f.setup ? SETUP_PRESENT : SETUP_ABSENT
  out[15] = f.data.length > 0 ? DATA_PRESENT : DATA_ABSENT
  view.setBigInt64(16, f.timeMicros / 1_000_000n, true)
  view.setInt32(24, Number(f.timeMicros % 1_000_000n), true)
  view.setInt32(28, f.status, true)
  view.setUint32(32, f.urbLength, true)
  view.setUint32(36, f.data.length, true)
  if (f.setup) out.set(f.setup.subarray(0, 8), 40)
  view.setInt32(48, f.interval, true)
  out.set(f.data, HEADER_SIZE)
  return out
}

/** The 'S' (submit) record: OUT data and the setup packet travel with it. */
export function usbmonSubmit(device: UsbmonDevice, request: BackendRequest, timeMicros: bigint): Uint8Array {
  const endpoint = usbmonEndpoint(request)
  const transfer = request.kind === 'transfer' ? request : undefined
  return encodeRecord({
    id: BigInt(request.seqnum),
    event: 'S',
    endpoint,
    device,
    timeMicros,
    status: EINPROGRESS,
    urbLength: transfer?.length ?? 0,
    setup: setupOf(request),
    data: transfer && transfer.direction === 'out' ? transfer.data : new Uint8Array(0),
    interval: transfer?.interval ?? 0,
  })
}

/** The 'C' (complete) record: IN data travels with it. */
export function usbmonComplete(
  device: UsbmonDevice,
  request: BackendRequest,
  completion: BackendCompletion,
  timeMicros: bigint,
): Uint8Array {
  const endpoint = usbmonEndpoint(request)
  const isIn = request.kind === 'transfer' && request.direction === 'in'
  const data = isIn ? (completion.data ?? new Uint8Array(0)) : new Uint8Array(0)
  return encodeRecord({
    id: BigInt(request.seqnum),
    event: 'C',
    endpoint,
    device,
    timeMicros,
    status: completion.status,
    urbLength: isIn ? data.length : (completion.actualLength ?? 0),
    setup: undefined,
    data,
    interval: request.kind === 'transfer' ? request.interval : 0,
  })
}
