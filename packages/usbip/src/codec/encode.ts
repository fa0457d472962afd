/**
 * Encoders: one typed message in, one Uint8Array out holding the whole message (header, payload,
 * iso descriptors), so a transport can send it with a single write.
 *
 * Misuse (a value that does not fit its field, a payload that disagrees with its length field)
 * throws TypeError: such a message would desynchronise or be rejected by the peer.
 *
 * The returned array is a Node Buffer from `Buffer.allocUnsafe` (pooled below 4 KiB, never
 * zero-filled; every byte is written here), typed as Uint8Array. It is the caller's to keep.
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
  PATH_SIZE,
  Speed,
  URB_HEADER_SIZE,
  UrbCommand,
} from '../constants.js'
import type {
  CmdSubmit,
  CmdUnlink,
  DeviceRecord,
  ExportedDevice,
  IsoPacketDescriptor,
  RetSubmit,
  RetUnlink,
  UsbipMessage,
} from '../messages.js'
import {
  DeviceOffset,
  isoDescriptorCount,
  SETUP_SIZE,
  UrbOffset,
  write32,
  writeDeviceNumbers,
  writeFixedString,
  writeInterfaceRecord,
  writeIsoDescriptor,
  writeOpHeader,
  writeUrbBasic,
} from './wire.js'

// ---- operation phase ----

export function encodeOpReqDevlist(): Uint8Array {
  const bytes = allocate(OP_HEADER_SIZE)
  writeOpHeader(bytes, OpCode.REQ_DEVLIST, OpStatus.OK)
  return bytes
}

/**
 * With a non-OK status only the header is sent (devices must be empty): that is where Linux
 * `usbip list` stops reading.
 */
export function encodeOpRepDevlist(status: number, devices: readonly ExportedDevice[]): Uint8Array {
  checkU32('status', status)
  if (status !== OpStatus.OK) {
    if (devices.length !== 0) fail('OP_REP_DEVLIST with an error status carries no devices')
    const bytes = allocate(OP_HEADER_SIZE)
    writeOpHeader(bytes, OpCode.REP_DEVLIST, status)
    return bytes
  }
  if (devices.length > Limits.maxDevices) fail(`at most ${Limits.maxDevices} devices, got ${devices.length}`)
  let size = OP_HEADER_SIZE + 4
  for (const device of devices) {
    if (device.interfaces.length !== device.numInterfaces) {
      fail(
        `device ${device.busid}: numInterfaces ${device.numInterfaces} but ${device.interfaces.length} interfaces`,
      )
    }
    size += DEVICE_RECORD_SIZE + device.interfaces.length * INTERFACE_RECORD_SIZE
  }
  const bytes = allocate(size)
  writeOpHeader(bytes, OpCode.REP_DEVLIST, status)
  write32(bytes, OP_HEADER_SIZE, devices.length)
  let at = OP_HEADER_SIZE + 4
  for (const device of devices) {
    writeDeviceRecord(bytes, at, device)
    at += DEVICE_RECORD_SIZE
    for (const record of device.interfaces) {
      checkU8('interfaceClass', record.interfaceClass)
      checkU8('interfaceSubClass', record.interfaceSubClass)
      checkU8('interfaceProtocol', record.interfaceProtocol)
      writeInterfaceRecord(bytes, at, record)
      at += INTERFACE_RECORD_SIZE
    }
  }
  return bytes
}

export function encodeOpReqImport(busid: string): Uint8Array {
  const bytes = allocate(OP_HEADER_SIZE + BUSID_SIZE)
  writeOpHeader(bytes, OpCode.REQ_IMPORT, OpStatus.OK)
  writeString(bytes, OP_HEADER_SIZE, BUSID_SIZE, 'busid', busid)
  return bytes
}

/** The device record is sent only, and then must be given, when status is OK. */
export function encodeOpRepImport(status: number, device?: DeviceRecord): Uint8Array {
  checkU32('status', status)
  if (status === OpStatus.OK) {
    if (device === undefined) fail('OP_REP_IMPORT with status OK needs the device record')
    const bytes = allocate(OP_HEADER_SIZE + DEVICE_RECORD_SIZE)
    writeOpHeader(bytes, OpCode.REP_IMPORT, status)
    writeDeviceRecord(bytes, OP_HEADER_SIZE, device)
    return bytes
  }
  if (device !== undefined) fail('OP_REP_IMPORT with an error status carries no device record')
  const bytes = allocate(OP_HEADER_SIZE)
  writeOpHeader(bytes, OpCode.REP_IMPORT, status)
  return bytes
}

// ---- URB phase ----

/** OUT: `data` is the transferBufferLength bytes to send. IN: `data` must be empty. */
export function encodeCmdSubmit(msg: CmdSubmit): Uint8Array {
  checkCommandBasic(msg.seqnum, msg.devid, msg.direction, msg.ep)
  checkU32('transferFlags', msg.transferFlags)
  checkTransferLength('transferBufferLength', msg.transferBufferLength)
  checkS32('startFrame', msg.startFrame)
  checkS32('interval', msg.interval)
  if (msg.setup.length !== SETUP_SIZE) fail(`setup must be ${SETUP_SIZE} bytes, got ${msg.setup.length}`)
  const dataLength = msg.direction === 0 ? msg.transferBufferLength : 0
  if (msg.data.length !== dataLength) {
    fail(
      msg.direction === 0
        ? `OUT data is ${msg.data.length} bytes but transferBufferLength is ${msg.transferBufferLength}`
        : 'IN CMD_SUBMIT carries no data',
    )
  }
  const isoCount = checkIsoPackets(msg.numberOfPackets, msg.isoPackets)
  for (const packet of msg.isoPackets) {
    if (packet.offset + packet.length > msg.transferBufferLength) {
      fail(
        `iso packet [${packet.offset}, +${packet.length}) exceeds the ${msg.transferBufferLength}-byte buffer`,
      )
    }
  }

  const bytes = allocate(URB_HEADER_SIZE + dataLength + isoCount * ISO_DESCRIPTOR_SIZE)
  writeUrbBasic(bytes, UrbCommand.CMD_SUBMIT, msg.seqnum, msg.devid, msg.direction, msg.ep)
  write32(bytes, UrbOffset.transferFlags, msg.transferFlags)
  write32(bytes, UrbOffset.transferBufferLength, msg.transferBufferLength)
  write32(bytes, UrbOffset.startFrame, msg.startFrame)
  write32(bytes, UrbOffset.numberOfPackets, msg.numberOfPackets)
  write32(bytes, UrbOffset.interval, msg.interval)
  bytes.set(msg.setup, UrbOffset.setup)
  bytes.set(msg.data, URB_HEADER_SIZE)
  writeIsoDescriptors(bytes, URB_HEADER_SIZE + dataLength, msg.isoPackets)
  return bytes
}

/**
 * `data` is the IN payload: exactly actualLength bytes (for iso, the packets' data packed), or
 * empty for an OUT URB. devid, direction and ep are written as 0, as Linux does and the spec asks;
 * `direction` 1 only makes the encoder insist on the payload.
 */
export function encodeRetSubmit(msg: RetSubmit): Uint8Array {
  checkU32('seqnum', msg.seqnum)
  checkS32('status', msg.status)
  checkTransferLength('actualLength', msg.actualLength)
  checkS32('startFrame', msg.startFrame)
  checkS32('errorCount', msg.errorCount)
  const dataLength = msg.data.length
  if (dataLength !== msg.actualLength && (dataLength !== 0 || msg.direction === 1)) {
    fail(`IN data is ${dataLength} bytes but actualLength is ${msg.actualLength}`)
  }
  const isoCount = checkIsoPackets(msg.numberOfPackets, msg.isoPackets)
  if (isoCount > 0) {
    let sum = 0
    for (const packet of msg.isoPackets) {
      if (packet.actualLength > packet.length) {
        fail(`iso packet actualLength ${packet.actualLength} exceeds its length ${packet.length}`)
      }
      sum += packet.actualLength
    }
    if (sum !== msg.actualLength)
      fail(`iso actual lengths sum to ${sum}, not actualLength ${msg.actualLength}`)
  }

  const bytes = allocate(URB_HEADER_SIZE + dataLength + isoCount * ISO_DESCRIPTOR_SIZE)
  writeUrbBasic(bytes, UrbCommand.RET_SUBMIT, msg.seqnum, 0, 0, 0)
  write32(bytes, UrbOffset.status, msg.status)
  write32(bytes, UrbOffset.actualLength, msg.actualLength)
  write32(bytes, UrbOffset.startFrame, msg.startFrame)
  write32(bytes, UrbOffset.numberOfPackets, msg.numberOfPackets)
  write32(bytes, UrbOffset.errorCount, msg.errorCount)
  bytes.fill(0, UrbOffset.errorCount + 4, URB_HEADER_SIZE)
  bytes.set(msg.data, URB_HEADER_SIZE)
  writeIsoDescriptors(bytes, URB_HEADER_SIZE + dataLength, msg.isoPackets)
  return bytes
}

export function encodeCmdUnlink(msg: CmdUnlink): Uint8Array {
  checkCommandBasic(msg.seqnum, msg.devid, msg.direction, msg.ep)
  checkU32('unlinkSeqnum', msg.unlinkSeqnum)
  const bytes = allocate(URB_HEADER_SIZE)
  writeUrbBasic(bytes, UrbCommand.CMD_UNLINK, msg.seqnum, msg.devid, msg.direction, msg.ep)
  write32(bytes, UrbOffset.unlinkSeqnum, msg.unlinkSeqnum)
  bytes.fill(0, UrbOffset.unlinkSeqnum + 4, URB_HEADER_SIZE)
  return bytes
}

/** devid, direction and ep are written as 0, as Linux does and the spec asks. */
export function encodeRetUnlink(msg: RetUnlink): Uint8Array {
  checkU32('seqnum', msg.seqnum)
  checkS32('status', msg.status)
  const bytes = allocate(URB_HEADER_SIZE)
  writeUrbBasic(bytes, UrbCommand.RET_UNLINK, msg.seqnum, 0, 0, 0)
  write32(bytes, UrbOffset.status, msg.status)
  bytes.fill(0, UrbOffset.status + 4, URB_HEADER_SIZE)
  return bytes
}

export function encodeMessage(msg: UsbipMessage): Uint8Array {
  switch (msg.kind) {
    case 'OP_REQ_DEVLIST':
      return encodeOpReqDevlist()
    case 'OP_REP_DEVLIST':
      return encodeOpRepDevlist(msg.status, msg.devices)
    case 'OP_REQ_IMPORT':
      return encodeOpReqImport(msg.busid)
    case 'OP_REP_IMPORT':
      return encodeOpRepImport(msg.status, msg.device)
    case 'CMD_SUBMIT':
      return encodeCmdSubmit(msg)
    case 'RET_SUBMIT':
      return encodeRetSubmit(msg)
    case 'CMD_UNLINK':
      return encodeCmdUnlink(msg)
    case 'RET_UNLINK':
      return encodeRetUnlink(msg)
    default:
      return fail(`unknown message kind ${String((msg as { kind: unknown }).kind)}`)
  }
}

// ---- helpers ----

/** Not zero-filled: every encoder writes every byte, padding included. */
function allocate(size: number): Uint8Array {
  return Buffer.allocUnsafe(size)
}

function writeDeviceRecord(bytes: Uint8Array, at: number, device: DeviceRecord): void {
  checkU32('busnum', device.busnum)
  checkU32('devnum', device.devnum)
  if (!SPEEDS.has(device.speed)) fail(`speed ${device.speed} is not a USB speed`)
  checkU16('idVendor', device.idVendor)
  checkU16('idProduct', device.idProduct)
  checkU16('bcdDevice', device.bcdDevice)
  checkU8('deviceClass', device.deviceClass)
  checkU8('deviceSubClass', device.deviceSubClass)
  checkU8('deviceProtocol', device.deviceProtocol)
  checkU8('configurationValue', device.configurationValue)
  checkU8('numConfigurations', device.numConfigurations)
  checkU8('numInterfaces', device.numInterfaces)
  if (device.numInterfaces > Limits.maxInterfaces) {
    fail(`at most ${Limits.maxInterfaces} interfaces, got ${device.numInterfaces}`)
  }
  writeString(bytes, at + DeviceOffset.path, PATH_SIZE, 'path', device.path)
  writeString(bytes, at + DeviceOffset.busid, BUSID_SIZE, 'busid', device.busid)
  writeDeviceNumbers(bytes, at, device)
}

const SPEEDS: ReadonlySet<number> = new Set(Object.values(Speed))

function writeString(bytes: Uint8Array, at: number, size: number, name: string, value: string): void {
  // A NUL inside would end the string early for every reader.
  if (value.includes('\0')) fail(`${name} contains a NUL character`)
  if (!writeFixedString(bytes, at, size, value)) {
    fail(`${name} is longer than ${size - 1} UTF-8 bytes: ${JSON.stringify(value)}`)
  }
}

function writeIsoDescriptors(bytes: Uint8Array, at: number, packets: readonly IsoPacketDescriptor[]): void {
  for (const packet of packets) {
    writeIsoDescriptor(bytes, at, packet)
    at += ISO_DESCRIPTOR_SIZE
  }
}

/** Returns the number of descriptors to write. */
function checkIsoPackets(numberOfPackets: number, packets: readonly IsoPacketDescriptor[]): number {
  checkS32('numberOfPackets', numberOfPackets)
  const count = isoDescriptorCount(numberOfPackets, Limits.maxIsoPackets)
  if (count === undefined)
    fail(`numberOfPackets ${numberOfPackets} is not -1, 0 or 1..${Limits.maxIsoPackets}`)
  if (packets.length !== count) fail(`numberOfPackets ${numberOfPackets} but ${packets.length} iso packets`)
  for (const packet of packets) {
    checkU32('iso offset', packet.offset)
    checkU32('iso length', packet.length)
    checkU32('iso actualLength', packet.actualLength)
    checkS32('iso status', packet.status)
  }
  return count
}

function checkCommandBasic(seqnum: number, devid: number, direction: number, ep: number): void {
  checkU32('seqnum', seqnum)
  checkU32('devid', devid)
  if (direction !== 0 && direction !== 1) fail(`direction must be 0 or 1, got ${direction}`)
  if (!Number.isInteger(ep) || ep < 0 || ep > 15) fail(`ep must be 0..15, got ${ep}`)
}

function checkTransferLength(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > Limits.maxTransferLength) {
    fail(`${name} must be 0..${Limits.maxTransferLength}, got ${value}`)
  }
}

// Integer checks are single comparisons so that validation stays cheap on the hot path.
function checkU32(name: string, value: number): void {
  if (value >>> 0 !== value) fail(`${name} must be a u32, got ${value}`)
}

function checkS32(name: string, value: number): void {
  if ((value | 0) !== value) fail(`${name} must be an s32, got ${value}`)
}

function checkU16(name: string, value: number): void {
  if ((value & 0xffff) !== value) fail(`${name} must be a u16, got ${value}`)
}

function checkU8(name: string, value: number): void {
  if ((value & 0xff) !== value) fail(`${name} must be a u8, got ${value}`)
}

function fail(message: string): never {
  throw new TypeError(message)
}
