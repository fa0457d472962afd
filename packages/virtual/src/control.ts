/** Control-transfer vocabulary: the 8-byte setup packet and what a handler may answer. */

export const RequestType = {
  DIR_IN: 0x80,
  TYPE_MASK: 0x60,
  TYPE_STANDARD: 0x00,
  TYPE_CLASS: 0x20,
  TYPE_VENDOR: 0x40,
  RECIPIENT_MASK: 0x1f,
  RECIPIENT_DEVICE: 0x00,
  RECIPIENT_INTERFACE: 0x01,
  RECIPIENT_ENDPOINT: 0x02,
} as const

export const StandardRequest = {
  GET_STATUS: 0x00,
  CLEAR_FEATURE: 0x01,
  SET_FEATURE: 0x03,
  SET_ADDRESS: 0x05,
  GET_DESCRIPTOR: 0x06,
  SET_DESCRIPTOR: 0x07,
  GET_CONFIGURATION: 0x08,
  SET_CONFIGURATION: 0x09,
  GET_INTERFACE: 0x0a,
  SET_INTERFACE: 0x0b,
  SYNCH_FRAME: 0x0c,
} as const

export const FeatureSelector = { ENDPOINT_HALT: 0, DEVICE_REMOTE_WAKEUP: 1, TEST_MODE: 2 } as const

export interface SetupPacket {
  readonly requestType: number
  readonly request: number
  readonly value: number
  readonly index: number
  readonly length: number
}

export function parseSetup(bytes: Uint8Array): SetupPacket {
  if (bytes.length < 8) throw new RangeError(`setup packet is ${bytes.length} bytes, need 8`)
  return {
    requestType: bytes[0]!,
    request: bytes[1]!,
    value: bytes[2]! | (bytes[3]! << 8),
    index: bytes[4]! | (bytes[5]! << 8),
    length: bytes[6]! | (bytes[7]! << 8),
  }
}

export function encodeSetup(s: SetupPacket): Uint8Array {
  return Uint8Array.from([
    s.requestType,
    s.request,
    s.value & 0xff,
    s.value >> 8,
    s.index & 0xff,
    s.index >> 8,
    s.length & 0xff,
    s.length >> 8,
  ])
}

export const isDeviceToHost = (s: SetupPacket): boolean => (s.requestType & RequestType.DIR_IN) !== 0
export const requestKind = (s: SetupPacket): number => s.requestType & RequestType.TYPE_MASK
export const recipient = (s: SetupPacket): number => s.requestType & RequestType.RECIPIENT_MASK

/**
 * What a class/vendor control handler answers. `data` is the IN payload (the device layer
 * truncates it to wLength); `ack` finishes a no-data or OUT request; `stall` is a protocol STALL.
 */
export type ControlReply =
  | { readonly kind: 'data'; readonly data: Uint8Array }
  | { readonly kind: 'ack' }
  | { readonly kind: 'stall' }

export const CONTROL_ACK: ControlReply = { kind: 'ack' }
export const CONTROL_STALL: ControlReply = { kind: 'stall' }
export const controlData = (data: Uint8Array): ControlReply => ({ kind: 'data', data })
