/** USB Mass Storage Bulk-Only Transport wrappers: the CBW and CSW (BOT 1.0, section 5). */

export const CBW_SIGNATURE = 0x43425355
export const CSW_SIGNATURE = 0x53425355
export const CBW_LENGTH = 31
export const CSW_LENGTH = 13

export const CswStatus = { PASSED: 0, FAILED: 1, PHASE_ERROR: 2 } as const
export type CswStatusValue = (typeof CswStatus)[keyof typeof CswStatus]

export interface CommandBlockWrapper {
  readonly tag: number
  readonly dataTransferLength: number
  /** Data phase direction when dataTransferLength > 0 (bmCBWFlags bit 7). */
  readonly dataIn: boolean
  readonly lun: number
  /** The command block, bCBWCBLength bytes. */
  readonly command: Uint8Array
}

export interface CommandStatusWrapper {
  readonly tag: number
  readonly residue: number
  readonly status: number
}

/**
 * A CBW that is both valid (31 bytes, right signature) and meaningful (reserved bits clear,
 * command length 1..16, LUN in range); anything else is undefined and BOT says: stall.
 */
export function parseCbw(bytes: Uint8Array, maxLun: number): CommandBlockWrapper | undefined {
  if (bytes.length !== CBW_LENGTH) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0, true) !== CBW_SIGNATURE) return undefined
  const flags = bytes[12]!
  const lun = bytes[13]!
  const commandLength = bytes[14]!
  if ((flags & 0x7f) !== 0 || lun > maxLun || (lun & 0xf0) !== 0) return undefined
  if (commandLength < 1 || commandLength > 16 || (commandLength & 0xe0) !== 0) return undefined
  return {
    tag: view.getUint32(4, true),
    dataTransferLength: view.getUint32(8, true),
    dataIn: (flags & 0x80) !== 0,
    lun,
    command: bytes.slice(15, 15 + commandLength),
  }
}

export function encodeCbw(cbw: CommandBlockWrapper): Uint8Array {
  const out = new Uint8Array(CBW_LENGTH)
  const view = new DataView(out.buffer)
  view.setUint32(0, CBW_SIGNATURE, true)
  view.setUint32(4, cbw.tag, true)
  view.setUint32(8, cbw.dataTransferLength, true)
  out[12] = cbw.dataIn ? 0x80 : 0
  out[13] = cbw.lun
  out[14] = cbw.command.length
  out.set(cbw.command.subarray(0, 16), 15)
  return out
}

export function encodeCsw(csw: CommandStatusWrapper): Uint8Array {
  const out = new Uint8Array(CSW_LENGTH)
  const view = new DataView(out.buffer)
  view.setUint32(0, CSW_SIGNATURE, true)
  view.setUint32(4, csw.tag, true)
  view.setUint32(8, csw.residue, true)
  out[12] = csw.status
  return out
}

export function parseCsw(bytes: Uint8Array): CommandStatusWrapper | undefined {
  if (bytes.length !== CSW_LENGTH) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0, true) !== CSW_SIGNATURE) return undefined
  return { tag: view.getUint32(4, true), residue: view.getUint32(8, true), status: bytes[12]! }
}
