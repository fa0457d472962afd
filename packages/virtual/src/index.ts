/** Virtual USB device models behind the USB/IP backend interface. */
export { type BlockBacking, FileBacking, MemoryBacking } from './block-backing.js'
export { type ScriptedBoardOptions, ScriptedBoardPeer } from './board-peer.js'
export {
  CBW_LENGTH,
  CBW_SIGNATURE,
  type CommandBlockWrapper,
  type CommandStatusWrapper,
  CSW_LENGTH,
  CSW_SIGNATURE,
  CswStatus,
  type CswStatusValue,
  encodeCbw,
  encodeCsw,
  parseCbw,
  parseCsw,
} from './bot.js'
export {
  CdcAcmDevice,
  type CdcAcmOptions,
  CdcRequest,
  DEFAULT_LINE_CODING,
  decodeLineCoding,
  encodeLineCoding,
  SerialStateBits,
} from './cdc-acm.js'
export * from './control.js'
export * from './descriptors.js'
export { VirtualDevice, type VirtualDeviceOptions } from './device.js'
export {
  isVirtualDeviceError,
  VirtualDeviceError,
  /** The name the CLI uses for errors from createVirtualDevice. */
  VirtualDeviceError as VirtualDeviceSpecError,
  type VirtualDeviceErrorCode,
} from './errors.js'
export { type CreateVirtualDeviceOptions, createVirtualDevice, DEVICE_SPEC_HELP } from './factory.js'
export {
  GadgetZeroConfiguration,
  GadgetZeroDevice,
  type GadgetZeroOptions,
  type GadgetZeroPattern,
  type GadgetZeroStats,
} from './gadget-zero.js'
export { BLOCK_SIZE, MassStorageDevice, type MassStorageOptions } from './mass-storage.js'
export { PendingTransfer } from './pending.js'
export {
  fixedSense,
  planDataLength,
  ScsiDisk,
  type ScsiDiskInfo,
  ScsiOp,
  type ScsiPlan,
  type Sense,
  SenseKey,
  Senses,
} from './scsi.js'
export {
  type ControlLines,
  EchoPeer,
  type LineCoding,
  type SerialPeer,
  type SerialPort,
  toBytes,
} from './serial.js'
