/**
 * Reads configuration descriptors into the endpoint table the session needs: the USB/IP header
 * does not carry the transfer type, so it is looked up in the active configuration/alt setting.
 */
import type { TransferType } from './backend.js'
import { UsbipError } from './errors.js'

export interface EndpointInfo {
  /** Address with direction bit: 0x81 = EP1 IN. */
  readonly address: number
  readonly type: TransferType
  readonly maxPacketSize: number
  readonly interval: number
}

/** A descriptor as it sits in a configuration: its type and all bLength bytes. */
export interface RawDescriptor {
  readonly type: number
  readonly bytes: Uint8Array
}

export interface AltSettingInfo {
  readonly interfaceNumber: number
  readonly alternateSetting: number
  readonly interfaceClass: number
  readonly interfaceSubClass: number
  readonly interfaceProtocol: number
  readonly endpoints: readonly EndpointInfo[]
  /** Class-specific and other descriptors that follow the interface descriptor. */
  readonly extra: readonly RawDescriptor[]
}

export interface InterfaceAssociationInfo {
  readonly firstInterface: number
  readonly interfaceCount: number
  readonly functionClass: number
  readonly functionSubClass: number
  readonly functionProtocol: number
  readonly functionIndex: number
}

export interface ConfigurationInfo {
  readonly totalLength: number
  readonly configurationValue: number
  readonly numInterfaces: number
  readonly attributes: number
  /** In the descriptor's units (2 mA at high speed). */
  readonly maxPower: number
  /** All alt settings of all interfaces, in descriptor order. */
  readonly altSettings: readonly AltSettingInfo[]
  readonly associations: readonly InterfaceAssociationInfo[]
}

export interface DeviceDescriptorInfo {
  readonly usbVersion: number
  readonly deviceClass: number
  readonly deviceSubClass: number
  readonly deviceProtocol: number
  readonly maxPacketSize0: number
  readonly idVendor: number
  readonly idProduct: number
  readonly bcdDevice: number
  readonly numConfigurations: number
}

const DESC_DEVICE = 1
const DESC_CONFIGURATION = 2
const DESC_INTERFACE = 4
const DESC_ENDPOINT = 5
const DESC_INTERFACE_ASSOCIATION = 11
const TRANSFER_TYPES: readonly TransferType[] = ['control', 'isochronous', 'bulk', 'interrupt']

function badDescriptor(message: string): UsbipError {
  return new UsbipError('ERR_BAD_DESCRIPTOR', message, { origin: 'local' })
}

function u16(bytes: Uint8Array, offset: number): number {
  return bytes[offset]! | (bytes[offset + 1]! << 8)
}

export function parseDeviceDescriptor(bytes: Uint8Array): DeviceDescriptorInfo {
  if (bytes.length < 18 || bytes[0]! < 18 || bytes[1] !== DESC_DEVICE) {
    throw badDescriptor(`device descriptor must be 18 bytes of type 1, got ${bytes.length} bytes`)
  }
  return {
    usbVersion: u16(bytes, 2),
    deviceClass: bytes[4]!,
    deviceSubClass: bytes[5]!,
    deviceProtocol: bytes[6]!,
    maxPacketSize0: bytes[7]!,
    idVendor: u16(bytes, 8),
    idProduct: u16(bytes, 10),
    bcdDevice: u16(bytes, 12),
    numConfigurations: bytes[17]!,
  }
}

export function parseConfigurationDescriptor(bytes: Uint8Array): ConfigurationInfo {
  if (bytes.length < 9 || bytes[1] !== DESC_CONFIGURATION) {
    throw badDescriptor('configuration descriptor must start with a 9-byte header of type 2')
  }
  const totalLength = u16(bytes, 2)
  if (totalLength > bytes.length) {
    throw badDescriptor(`configuration wTotalLength ${totalLength} exceeds the ${bytes.length} bytes given`)
  }
  const altSettings: AltSettingInfo[] = []
  const associations: InterfaceAssociationInfo[] = []
  let current: { endpoints: EndpointInfo[]; extra: RawDescriptor[] } | undefined
  let offset = bytes[0]!
  while (offset + 2 <= totalLength) {
    const length = bytes[offset]!
    const type = bytes[offset + 1]!
    if (length < 2 || offset + length > totalLength) {
      throw badDescriptor(`descriptor at offset ${offset} has a bad length ${length}`)
    }
    const at = (i: number) => bytes[offset + i]!
    if (type === DESC_INTERFACE && length >= 9) {
      current = { endpoints: [], extra: [] }
      altSettings.push({
        interfaceNumber: at(2),
        alternateSetting: at(3),
        interfaceClass: at(5),
        interfaceSubClass: at(6),
        interfaceProtocol: at(7),
        ...current, // the arrays filled in below
      })
    } else if (type === DESC_ENDPOINT && length >= 7) {
      if (!current) throw badDescriptor(`endpoint descriptor at offset ${offset} outside an interface`)
      current.endpoints.push({
        address: at(2),
        type: TRANSFER_TYPES[at(3) & 0x3]!,
        // Bits 11-12 are high-bandwidth multipliers, not size.
        maxPacketSize: u16(bytes, offset + 4) & 0x7ff,
        interval: at(6),
      })
    } else if (type === DESC_INTERFACE_ASSOCIATION && length >= 8) {
      associations.push({
        firstInterface: at(2),
        interfaceCount: at(3),
        functionClass: at(4),
        functionSubClass: at(5),
        functionProtocol: at(6),
        functionIndex: at(7),
      })
    } else if (current) {
      current.extra.push({ type, bytes: bytes.subarray(offset, offset + length) })
    }
    offset += length
  }
  return {
    totalLength,
    configurationValue: bytes[5]!,
    numInterfaces: bytes[4]!,
    attributes: bytes[7]!,
    maxPower: bytes[8]!,
    altSettings,
    associations,
  }
}
