/** Wire constants of the USB/IP protocol (Linux Documentation/usb/usbip_protocol.rst). */

export const USBIP_VERSION = 0x0111
export const USBIP_DEFAULT_PORT = 3240

export const OpCode = {
  REQ_DEVLIST: 0x8005,
  REP_DEVLIST: 0x0005,
  REQ_IMPORT: 0x8003,
  REP_IMPORT: 0x0003,
} as const

export const OpStatus = {
  OK: 0,
  NA: 1,
  DEV_BUSY: 2,
  DEV_ERR: 3,
  NODEV: 4,
  ERROR: 5,
} as const

export const UrbCommand = {
  CMD_SUBMIT: 1,
  CMD_UNLINK: 2,
  RET_SUBMIT: 3,
  RET_UNLINK: 4,
} as const

export const Direction = { OUT: 0, IN: 1 } as const

export const TransferFlag = {
  SHORT_NOT_OK: 0x1,
  ISO_ASAP: 0x2,
  NO_TRANSFER_DMA_MAP: 0x4,
  ZERO_PACKET: 0x40,
  NO_INTERRUPT: 0x80,
  FREE_BUFFER: 0x100,
  DIR_IN: 0x200,
} as const

/** Negative Linux errno values carried in RET_SUBMIT / RET_UNLINK status. */
export const Errno = {
  EPIPE: -32,
  ETIME: -62,
  EPROTO: -71,
  EOVERFLOW: -75,
  ECONNRESET: -104,
  ESHUTDOWN: -108,
  EREMOTEIO: -121,
  ENOENT: -2,
  EINVAL: -22,
  ENODEV: -19,
} as const

export const Speed = {
  UNKNOWN: 0,
  LOW: 1,
  FULL: 2,
  HIGH: 3,
  WIRELESS: 4,
  SUPER: 5,
  SUPER_PLUS: 6,
} as const
export type SpeedValue = (typeof Speed)[keyof typeof Speed]

export const OP_HEADER_SIZE = 8
export const URB_HEADER_SIZE = 48
export const DEVICE_RECORD_SIZE = 312
export const INTERFACE_RECORD_SIZE = 4
export const ISO_DESCRIPTOR_SIZE = 16
export const PATH_SIZE = 256
export const BUSID_SIZE = 32

/**
 * Bounds that keep a hostile or broken peer from making us allocate without limit.
 * Linux caps a single URB buffer well below this in practice (usbfs: 16 MiB total by default).
 */
export const Limits = {
  maxTransferLength: 16 * 1024 * 1024,
  maxIsoPackets: 1024,
  maxDevices: 4096,
  maxInterfaces: 32,
} as const
