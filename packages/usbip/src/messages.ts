/** Typed USB/IP messages: what the codec produces and consumes. */
import type { SpeedValue } from './constants.js'

export interface InterfaceRecord {
  readonly interfaceClass: number
  readonly interfaceSubClass: number
  readonly interfaceProtocol: number
}

/** The 312-byte device record of OP_REP_DEVLIST / OP_REP_IMPORT. */
export interface DeviceRecord {
  readonly path: string
  readonly busid: string
  readonly busnum: number
  readonly devnum: number
  readonly speed: SpeedValue
  readonly idVendor: number
  readonly idProduct: number
  readonly bcdDevice: number
  readonly deviceClass: number
  readonly deviceSubClass: number
  readonly deviceProtocol: number
  readonly configurationValue: number
  readonly numConfigurations: number
  readonly numInterfaces: number
}

export interface ExportedDevice extends DeviceRecord {
  readonly interfaces: readonly InterfaceRecord[]
}

export interface IsoPacketDescriptor {
  readonly offset: number
  readonly length: number
  readonly actualLength: number
  readonly status: number
}

// ---- operation phase ----
export interface OpReqDevlist {
  readonly kind: 'OP_REQ_DEVLIST'
}
export interface OpRepDevlist {
  readonly kind: 'OP_REP_DEVLIST'
  readonly status: number
  readonly devices: readonly ExportedDevice[]
}
export interface OpReqImport {
  readonly kind: 'OP_REQ_IMPORT'
  readonly busid: string
}
export interface OpRepImport {
  readonly kind: 'OP_REP_IMPORT'
  readonly status: number
  /** Present only when status is OK. */
  readonly device?: DeviceRecord
}

// ---- URB phase ----
export interface UrbBase {
  readonly seqnum: number
  readonly devid: number
  /** 0 = OUT, 1 = IN. */
  readonly direction: 0 | 1
  readonly ep: number
}

export interface CmdSubmit extends UrbBase {
  readonly kind: 'CMD_SUBMIT'
  readonly transferFlags: number
  readonly transferBufferLength: number
  readonly startFrame: number
  /** As received; Linux vhci sends 0 for non-iso, the spec says 0xffffffff (-1). */
  readonly numberOfPackets: number
  readonly interval: number
  readonly setup: Uint8Array
  /** OUT payload (transferBufferLength bytes); empty for IN. */
  readonly data: Uint8Array
  readonly isoPackets: readonly IsoPacketDescriptor[]
}

export interface RetSubmit extends UrbBase {
  readonly kind: 'RET_SUBMIT'
  readonly status: number
  readonly actualLength: number
  readonly startFrame: number
  readonly numberOfPackets: number
  readonly errorCount: number
  /** IN payload (actualLength bytes; for iso, the packed packet data); empty for OUT. */
  readonly data: Uint8Array
  readonly isoPackets: readonly IsoPacketDescriptor[]
}

export interface CmdUnlink extends UrbBase {
  readonly kind: 'CMD_UNLINK'
  readonly unlinkSeqnum: number
}

export interface RetUnlink extends UrbBase {
  readonly kind: 'RET_UNLINK'
  readonly status: number
}

/** What a server (exporter) receives. */
export type ClientMessage = OpReqDevlist | OpReqImport | CmdSubmit | CmdUnlink
/** What a client (importer) receives. */
export type ServerMessage = OpRepDevlist | OpRepImport | RetSubmit | RetUnlink
export type UsbipMessage = ClientMessage | ServerMessage
