/**
 * Byte order and field packing of USB/IP, in one place. Every integer on the wire is big-endian.
 *
 * Readers assume the bytes are there (the decoder checks lengths first); writers assume the value
 * fits the field (the encoder validates first). Strings are fixed-size, NUL-padded UTF-8.
 */
import { BUSID_SIZE, PATH_SIZE, type SpeedValue, USBIP_VERSION } from '../constants.js'
import type { DeviceRecord, InterfaceRecord, IsoPacketDescriptor } from '../messages.js'

// ---- integers ----
// Plain byte arithmetic: as fast as DataView in V8 and works on any Uint8Array view without
// creating a DataView per message. Typed-array stores already truncate modulo 256.

export function readU8(bytes: Uint8Array, at: number): number {
  return bytes[at]!
}

export function readU16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!
}

export function readU32(bytes: Uint8Array, at: number): number {
  return readS32(bytes, at) >>> 0
}

export function readS32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!
}

export function writeU8(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value
}

export function writeU16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 8
  bytes[at + 1] = value
}

/** Writes a u32 or an s32 (two's complement gives the same bytes). */
export function write32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 24
  bytes[at + 1] = value >>> 16
  bytes[at + 2] = value >>> 8
  bytes[at + 3] = value
}

// ---- fixed-size NUL-padded strings ----

const utf8Encoder = new TextEncoder()
// ignoreBOM keeps a leading EF BB BF as U+FEFF instead of silently dropping it.
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true })

/**
 * Writes `value` as UTF-8 into a `size`-byte field and NUL-pads the rest. At most size - 1 bytes
 * so that the field stays NUL-terminated, as C readers (usbip tools, the kernel) expect.
 * Returns false when the value does not fit.
 */
export function writeFixedString(bytes: Uint8Array, at: number, size: number, value: string): boolean {
  const field = bytes.subarray(at, at + size)
  const { read, written } = utf8Encoder.encodeInto(value, field.subarray(0, size - 1))
  field.fill(0, written)
  return read === value.length
}

/** Reads a NUL-padded UTF-8 field up to its first NUL (the whole field when there is none). */
export function readFixedString(bytes: Uint8Array, at: number, size: number): string {
  const field = bytes.subarray(at, at + size)
  const nul = field.indexOf(0)
  return utf8Decoder.decode(nul < 0 ? field : field.subarray(0, nul))
}

// ---- operation header (8 bytes) ----

export const OpHeaderOffset = { version: 0, code: 2, status: 4 } as const

export function writeOpHeader(bytes: Uint8Array, code: number, status: number): void {
  writeU16(bytes, OpHeaderOffset.version, USBIP_VERSION)
  writeU16(bytes, OpHeaderOffset.code, code)
  write32(bytes, OpHeaderOffset.status, status)
}

// ---- device record (312 bytes) and interface records (4 bytes) ----

export const DeviceOffset = {
  path: 0,
  busid: PATH_SIZE,
  busnum: 288,
  devnum: 292,
  speed: 296,
  idVendor: 300,
  idProduct: 302,
  bcdDevice: 304,
  deviceClass: 306,
  deviceSubClass: 307,
  deviceProtocol: 308,
  configurationValue: 309,
  numConfigurations: 310,
  numInterfaces: 311,
} as const

/** Writes the fixed-width fields; the caller writes path and busid (which can fail) first. */
export function writeDeviceNumbers(bytes: Uint8Array, at: number, device: DeviceRecord): void {
  write32(bytes, at + DeviceOffset.busnum, device.busnum)
  write32(bytes, at + DeviceOffset.devnum, device.devnum)
  write32(bytes, at + DeviceOffset.speed, device.speed)
  writeU16(bytes, at + DeviceOffset.idVendor, device.idVendor)
  writeU16(bytes, at + DeviceOffset.idProduct, device.idProduct)
  writeU16(bytes, at + DeviceOffset.bcdDevice, device.bcdDevice)
  writeU8(bytes, at + DeviceOffset.deviceClass, device.deviceClass)
  writeU8(bytes, at + DeviceOffset.deviceSubClass, device.deviceSubClass)
  writeU8(bytes, at + DeviceOffset.deviceProtocol, device.deviceProtocol)
  writeU8(bytes, at + DeviceOffset.configurationValue, device.configurationValue)
  writeU8(bytes, at + DeviceOffset.numConfigurations, device.numConfigurations)
  writeU8(bytes, at + DeviceOffset.numInterfaces, device.numInterfaces)
}

/** `speed` is passed in because the decoder validates it before trusting the record. */
export function readDeviceRecord(bytes: Uint8Array, at: number, speed: SpeedValue): DeviceRecord {
  return {
    path: readFixedString(bytes, at + DeviceOffset.path, PATH_SIZE),
    busid: readFixedString(bytes, at + DeviceOffset.busid, BUSID_SIZE),
    busnum: readU32(bytes, at + DeviceOffset.busnum),
    devnum: readU32(bytes, at + DeviceOffset.devnum),
    speed,
    idVendor: readU16(bytes, at + DeviceOffset.idVendor),
    idProduct: readU16(bytes, at + DeviceOffset.idProduct),
    bcdDevice: readU16(bytes, at + DeviceOffset.bcdDevice),
    deviceClass: readU8(bytes, at + DeviceOffset.deviceClass),
    deviceSubClass: readU8(bytes, at + DeviceOffset.deviceSubClass),
    deviceProtocol: readU8(bytes, at + DeviceOffset.deviceProtocol),
    configurationValue: readU8(bytes, at + DeviceOffset.configurationValue),
    numConfigurations: readU8(bytes, at + DeviceOffset.numConfigurations),
    numInterfaces: readU8(bytes, at + DeviceOffset.numInterfaces),
  }
}

export function writeInterfaceRecord(bytes: Uint8Array, at: number, record: InterfaceRecord): void {
  writeU8(bytes, at, record.interfaceClass)
  writeU8(bytes, at + 1, record.interfaceSubClass)
  writeU8(bytes, at + 2, record.interfaceProtocol)
  writeU8(bytes, at + 3, 0)
}

export function readInterfaceRecord(bytes: Uint8Array, at: number): InterfaceRecord {
  return {
    interfaceClass: readU8(bytes, at),
    interfaceSubClass: readU8(bytes, at + 1),
    interfaceProtocol: readU8(bytes, at + 2),
  }
}

// ---- URB header (48 bytes) ----

/** Offsets inside the 48-byte URB header; the last 28 bytes depend on the command. */
export const UrbOffset = {
  command: 0,
  seqnum: 4,
  devid: 8,
  direction: 12,
  ep: 16,
  // CMD_SUBMIT
  transferFlags: 20,
  transferBufferLength: 24,
  startFrame: 28,
  numberOfPackets: 32,
  interval: 36,
  setup: 40,
  // RET_SUBMIT (startFrame and numberOfPackets share the CMD_SUBMIT offsets)
  status: 20,
  actualLength: 24,
  errorCount: 36,
  // CMD_UNLINK
  unlinkSeqnum: 20,
} as const

export const SETUP_SIZE = 8

export function writeUrbBasic(
  bytes: Uint8Array,
  command: number,
  seqnum: number,
  devid: number,
  direction: number,
  ep: number,
): void {
  write32(bytes, UrbOffset.command, command)
  write32(bytes, UrbOffset.seqnum, seqnum)
  write32(bytes, UrbOffset.devid, devid)
  write32(bytes, UrbOffset.direction, direction)
  write32(bytes, UrbOffset.ep, ep)
}

// ---- iso packet descriptors (16 bytes each) ----

export function writeIsoDescriptor(bytes: Uint8Array, at: number, packet: IsoPacketDescriptor): void {
  write32(bytes, at, packet.offset)
  write32(bytes, at + 4, packet.length)
  write32(bytes, at + 8, packet.actualLength)
  write32(bytes, at + 12, packet.status)
}

export function readIsoDescriptor(bytes: Uint8Array, at: number): IsoPacketDescriptor {
  return {
    offset: readU32(bytes, at),
    length: readU32(bytes, at + 4),
    actualLength: readU32(bytes, at + 8),
    status: readS32(bytes, at + 12),
  }
}

/**
 * How many iso descriptors follow a CMD_SUBMIT / RET_SUBMIT with this number_of_packets.
 * Linux vhci sends 0 for non-iso URBs and the spec says 0xffffffff (-1): both mean none.
 * Undefined when the value is neither that nor 1..maxIsoPackets.
 */
export function isoDescriptorCount(numberOfPackets: number, maxIsoPackets: number): number | undefined {
  if (numberOfPackets === 0 || numberOfPackets === -1) return 0
  if (numberOfPackets >= 1 && numberOfPackets <= maxIsoPackets) return numberOfPackets
  return undefined
}
