/**
 * USB descriptor builder (USB 2.0 chapter 9). Pure functions over Uint8Array, so models can
 * declare their descriptors as data; @tether/usbip's parseConfigurationDescriptor reads them back.
 */
import type { RawDescriptor, TransferType } from '@tether/usbip'

export const DescriptorType = {
  DEVICE: 0x01,
  CONFIGURATION: 0x02,
  STRING: 0x03,
  INTERFACE: 0x04,
  ENDPOINT: 0x05,
  DEVICE_QUALIFIER: 0x06,
  OTHER_SPEED_CONFIGURATION: 0x07,
  INTERFACE_ASSOCIATION: 0x0b,
  BOS: 0x0f,
  DEVICE_CAPABILITY: 0x10,
  CS_INTERFACE: 0x24,
  CS_ENDPOINT: 0x25,
} as const

export type EndpointTransferType = TransferType

const TRANSFER_TYPE_BITS: Record<EndpointTransferType, number> = {
  control: 0,
  isochronous: 1,
  bulk: 2,
  interrupt: 3,
}

/** Configuration bmAttributes: bit 7 must be set; bit 6 self-powered; bit 5 remote wakeup. */
export const ConfigAttributes = { BUS_POWERED: 0x80, SELF_POWERED: 0xc0, REMOTE_WAKEUP: 0x20 } as const

function u16(value: number): [number, number] {
  return [value & 0xff, (value >> 8) & 0xff]
}

function checkByte(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) {
    throw new RangeError(`${name} must be a byte (0..255), got ${value}`)
  }
  return value
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0
  for (const part of parts) total += part.length
  const out = new Uint8Array(total)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

export interface DeviceDescriptorFields {
  readonly bcdUSB?: number
  readonly deviceClass?: number
  readonly deviceSubClass?: number
  readonly deviceProtocol?: number
  readonly maxPacketSize0?: number
  readonly vendorId: number
  readonly productId: number
  readonly bcdDevice?: number
  readonly manufacturerIndex?: number
  readonly productIndex?: number
  readonly serialNumberIndex?: number
  readonly numConfigurations: number
}

export function deviceDescriptor(f: DeviceDescriptorFields): Uint8Array {
  return Uint8Array.from([
    18,
    DescriptorType.DEVICE,
    ...u16(f.bcdUSB ?? 0x0200),
    checkByte('deviceClass', f.deviceClass ?? 0),
    checkByte('deviceSubClass', f.deviceSubClass ?? 0),
    checkByte('deviceProtocol', f.deviceProtocol ?? 0),
    checkByte('maxPacketSize0', f.maxPacketSize0 ?? 64),
    ...u16(f.vendorId),
    ...u16(f.productId),
    ...u16(f.bcdDevice ?? 0x0100),
    checkByte('manufacturerIndex', f.manufacturerIndex ?? 0),
    checkByte('productIndex', f.productIndex ?? 0),
    checkByte('serialNumberIndex', f.serialNumberIndex ?? 0),
    checkByte('numConfigurations', f.numConfigurations),
  ])
}

export interface ConfigurationFields {
  readonly configurationValue: number
  readonly configurationIndex?: number
  /** bmAttributes; defaults to bus powered. */
  readonly attributes?: number
  readonly maxPowerMilliamps?: number
}

/**
 * A full configuration: the 9-byte header followed by `body` (interfaces, endpoints,
 * class-specific descriptors). wTotalLength and bNumInterfaces are computed from the body.
 */
export function configurationDescriptor(f: ConfigurationFields, body: readonly Uint8Array[]): Uint8Array {
  const bodyBytes = concatBytes(body)
  const interfaceNumbers = new Set<number>()
  for (const d of walkDescriptors(bodyBytes)) {
    if (d.type === DescriptorType.INTERFACE && d.bytes.length >= 3) interfaceNumbers.add(d.bytes[2]!)
  }
  const total = 9 + bodyBytes.length
  if (total > 0xffff) throw new RangeError(`configuration is ${total} bytes; wTotalLength is 16 bits`)
  const header = Uint8Array.from([
    9,
    DescriptorType.CONFIGURATION,
    ...u16(total),
    interfaceNumbers.size,
    checkByte('configurationValue', f.configurationValue),
    checkByte('configurationIndex', f.configurationIndex ?? 0),
    checkByte('attributes', f.attributes ?? ConfigAttributes.BUS_POWERED),
    // bMaxPower counts 2 mA units at USB 2.0 speeds.
    checkByte('maxPower', Math.ceil((f.maxPowerMilliamps ?? 100) / 2)),
  ])
  return concatBytes([header, bodyBytes])
}

export interface InterfaceFields {
  readonly interfaceNumber: number
  readonly alternateSetting?: number
  readonly interfaceClass: number
  readonly interfaceSubClass?: number
  readonly interfaceProtocol?: number
  readonly interfaceIndex?: number
}

export function interfaceDescriptor(f: InterfaceFields & { readonly numEndpoints: number }): Uint8Array {
  return Uint8Array.from([
    9,
    DescriptorType.INTERFACE,
    checkByte('interfaceNumber', f.interfaceNumber),
    checkByte('alternateSetting', f.alternateSetting ?? 0),
    checkByte('numEndpoints', f.numEndpoints),
    checkByte('interfaceClass', f.interfaceClass),
    checkByte('interfaceSubClass', f.interfaceSubClass ?? 0),
    checkByte('interfaceProtocol', f.interfaceProtocol ?? 0),
    checkByte('interfaceIndex', f.interfaceIndex ?? 0),
  ])
}

/**
 * An interface descriptor followed by its class-specific descriptors and endpoints, with
 * bNumEndpoints counted from `endpoints` so the two can't disagree.
 */
export function interfaceBlock(
  f: InterfaceFields,
  parts: { readonly classSpecific?: readonly Uint8Array[]; readonly endpoints?: readonly Uint8Array[] },
): Uint8Array {
  const endpoints = parts.endpoints ?? []
  return concatBytes([
    interfaceDescriptor({ ...f, numEndpoints: endpoints.length }),
    ...(parts.classSpecific ?? []),
    ...endpoints,
  ])
}

export interface EndpointFields {
  /** bEndpointAddress, direction bit included (0x81 = EP1 IN). */
  readonly address: number
  readonly type: EndpointTransferType
  readonly maxPacketSize: number
  /** bInterval; 0 for bulk. */
  readonly interval?: number
}

export function endpointDescriptor(f: EndpointFields): Uint8Array {
  return Uint8Array.from([
    7,
    DescriptorType.ENDPOINT,
    checkByte('address', f.address),
    TRANSFER_TYPE_BITS[f.type],
    ...u16(f.maxPacketSize),
    checkByte('interval', f.interval ?? 0),
  ])
}

export interface InterfaceAssociationFields {
  readonly firstInterface: number
  readonly interfaceCount: number
  readonly functionClass: number
  readonly functionSubClass?: number
  readonly functionProtocol?: number
  readonly functionIndex?: number
}

export function interfaceAssociationDescriptor(f: InterfaceAssociationFields): Uint8Array {
  return Uint8Array.from([
    8,
    DescriptorType.INTERFACE_ASSOCIATION,
    checkByte('firstInterface', f.firstInterface),
    checkByte('interfaceCount', f.interfaceCount),
    checkByte('functionClass', f.functionClass),
    checkByte('functionSubClass', f.functionSubClass ?? 0),
    checkByte('functionProtocol', f.functionProtocol ?? 0),
    checkByte('functionIndex', f.functionIndex ?? 0),
  ])
}

/** Any descriptor given its type and payload: bLength is prepended. Used for class-specific blobs. */
export function rawDescriptor(type: number, payload: ArrayLike<number>): Uint8Array {
  const length = 2 + payload.length
  if (length > 0xff) throw new RangeError(`descriptor of ${length} bytes exceeds bLength`)
  const out = new Uint8Array(length)
  out[0] = length
  out[1] = checkByte('type', type)
  out.set(Array.from(payload), 2)
  return out
}

/** A class-specific interface descriptor (CS_INTERFACE) with its subtype byte. */
export function classInterfaceDescriptor(subtype: number, payload: ArrayLike<number> = []): Uint8Array {
  return rawDescriptor(DescriptorType.CS_INTERFACE, [checkByte('subtype', subtype), ...Array.from(payload)])
}

/** String descriptor: UTF-16LE text. At most 126 UTF-16 code units fit in bLength. */
export function stringDescriptor(text: string): Uint8Array {
  if (text.length > 126) throw new RangeError(`string descriptor text is ${text.length} code units (max 126)`)
  const out = new Uint8Array(2 + text.length * 2)
  out[0] = out.length
  out[1] = DescriptorType.STRING
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    out[2 + i * 2] = unit & 0xff
    out[3 + i * 2] = unit >> 8
  }
  return out
}

/** String descriptor 0: the supported LANGIDs (default US English). */
export function languageTableDescriptor(languageIds: readonly number[] = [0x0409]): Uint8Array {
  return rawDescriptor(
    DescriptorType.STRING,
    languageIds.flatMap((id) => u16(id)),
  )
}

/** Strings numbered from 1 in the order given, plus the language table at index 0. */
export function stringTable(texts: readonly string[]): Map<number, Uint8Array> {
  const table = new Map<number, Uint8Array>([[0, languageTableDescriptor()]])
  texts.forEach((text, i) => {
    table.set(i + 1, stringDescriptor(text))
  })
  return table
}

export function decodeStringDescriptor(bytes: Uint8Array): string {
  let text = ''
  const end = Math.min(bytes.length, bytes[0] ?? 0)
  for (let i = 2; i + 1 < end; i += 2) text += String.fromCharCode(bytes[i]! | (bytes[i + 1]! << 8))
  return text
}

/**
 * The device qualifier a high-speed device reports: what would change at the other speed.
 * Derived from the device descriptor; other-speed configurations are derived separately.
 */
export function deviceQualifierFrom(device: Uint8Array): Uint8Array {
  if (device.length < 18) throw new RangeError('device descriptor must be 18 bytes')
  return Uint8Array.from([
    10,
    DescriptorType.DEVICE_QUALIFIER,
    device[2]!,
    device[3]!,
    device[4]!,
    device[5]!,
    device[6]!,
    device[7]!,
    device[17]!,
    0,
  ])
}

/**
 * Turn a high-speed configuration into its full-speed twin (OTHER_SPEED_CONFIGURATION):
 * bulk endpoints drop to 64-byte packets and interrupt intervals go from 2^(n-1) microframes
 * to frames. Everything else is copied.
 */
export function fullSpeedConfigurationFrom(config: Uint8Array): Uint8Array {
  const out = Uint8Array.from(config)
  out[1] = DescriptorType.OTHER_SPEED_CONFIGURATION
  for (const d of walkDescriptors(out)) {
    if (d.type !== DescriptorType.ENDPOINT || d.bytes.length < 7) continue
    const at = d.offset
    const type = out[at + 3]! & 0x03
    const maxPacket = (out[at + 4]! | (out[at + 5]! << 8)) & 0x7ff
    if (type === TRANSFER_TYPE_BITS.bulk) {
      out.set(u16(Math.min(maxPacket, 64)), at + 4)
    } else if (type === TRANSFER_TYPE_BITS.interrupt) {
      out.set(u16(Math.min(maxPacket, 64)), at + 4)
      const microframes = 2 ** Math.max(0, Math.min(15, out[at + 6]! - 1))
      out[at + 6] = Math.max(1, Math.min(255, Math.round(microframes / 8)))
    } else if (type === TRANSFER_TYPE_BITS.isochronous) {
      out.set(u16(Math.min(maxPacket, 1023)), at + 4)
    }
  }
  return out
}

/** A descriptor found by walkDescriptors: usbip's RawDescriptor plus where it starts. */
export interface LocatedDescriptor extends RawDescriptor {
  readonly offset: number
}

/** Walk concatenated descriptors by bLength. Stops at a zero or truncated length. */
export function* walkDescriptors(bytes: Uint8Array): Generator<LocatedDescriptor> {
  let offset = 0
  while (offset + 2 <= bytes.length) {
    const length = bytes[offset]!
    if (length < 2 || offset + length > bytes.length) return
    yield { offset, type: bytes[offset + 1]!, bytes: bytes.subarray(offset, offset + length) }
    offset += length
  }
}
