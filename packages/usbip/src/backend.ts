/**
 * The interface every device backend implements (virtual models now; libusb and the Linux
 * usbip-host stub later). The session engine drives it; it never sees the wire format.
 */
import type { SpeedValue } from './constants.js'

export type TransferType = 'control' | 'isochronous' | 'bulk' | 'interrupt'

/** Raw descriptors as the device would return them to GET_DESCRIPTOR. */
export interface DeviceDescriptors {
  /** 18-byte device descriptor. */
  readonly device: Uint8Array
  /** Full configuration descriptors (config + interfaces + endpoints + class-specific), index order. */
  readonly configurations: readonly Uint8Array[]
  /** String descriptors by index (0 = language table), already in descriptor form. */
  readonly strings?: ReadonlyMap<number, Uint8Array>
  /** BOS and device qualifier, when the device has them. */
  readonly deviceQualifier?: Uint8Array
  readonly bos?: Uint8Array
}

export interface IsoPacketRequest {
  readonly offset: number
  readonly length: number
}

export interface IsoPacketResult {
  readonly actualLength: number
  readonly status: number
}

/** One transfer, as the session hands it to the backend. */
export interface TransferRequest {
  readonly kind: 'transfer'
  readonly seqnum: number
  readonly endpoint: number
  readonly direction: 'in' | 'out'
  readonly type: TransferType
  /** 8 raw setup bytes for control transfers. */
  readonly setup: Uint8Array | undefined
  /** OUT: the payload. IN: empty. */
  readonly data: Uint8Array
  /** Bytes requested (IN) or carried (OUT). */
  readonly length: number
  /** OUT: finish with a zero-length packet when length is a multiple of wMaxPacketSize. */
  readonly zeroPacket: boolean
  /** IN: a short transfer is an error (-EREMOTEIO); the session applies it, backends may too. */
  readonly shortNotOk: boolean
  readonly maxPacketSize: number
  readonly isoPackets: readonly IsoPacketRequest[]
  readonly interval: number
  readonly startFrame: number
}

/** Standard requests that the kernel stub handles itself; routed to the backend, not the wire. */
export interface SetConfigurationRequest {
  readonly kind: 'set-configuration'
  readonly seqnum: number
  readonly configurationValue: number
}
export interface SetInterfaceRequest {
  readonly kind: 'set-interface'
  readonly seqnum: number
  readonly interfaceNumber: number
  readonly alternateSetting: number
}
export interface ClearHaltRequest {
  readonly kind: 'clear-halt'
  readonly seqnum: number
  /** Endpoint address with direction bit (0x81 = EP1 IN). */
  readonly endpointAddress: number
}

export type BackendRequest =
  | TransferRequest
  | SetConfigurationRequest
  | SetInterfaceRequest
  | ClearHaltRequest

export interface BackendCompletion {
  /** 0 or a negative errno (Errno). */
  readonly status: number
  /** IN: the bytes read. OUT: ignored (use actualLength). */
  readonly data?: Uint8Array
  /** OUT: bytes written. IN: defaults to data.length. */
  readonly actualLength?: number
  readonly isoPackets?: readonly IsoPacketResult[]
  readonly startFrame?: number
  readonly errorCount?: number
}

export type CompletionCallback = (completion: BackendCompletion) => void

export interface DeviceIdentity {
  readonly busid: string
  readonly path: string
  readonly busnum: number
  readonly devnum: number
  readonly speed: SpeedValue
}

/**
 * A device a server can export. `submit` must call `done` exactly once per request, possibly
 * synchronously. `cancel` asks for early completion: the backend then calls `done` with
 * -ECONNRESET if it cancelled, or with the real result if the transfer had already finished.
 */
export interface UsbDeviceBackend {
  readonly identity: DeviceIdentity
  readonly descriptors: DeviceDescriptors
  /** A short human description for listings ("CDC-ACM board console"). */
  readonly description: string
  submit(request: BackendRequest, done: CompletionCallback): void
  cancel(seqnum: number): void
  /** Called when an importer attaches (fresh device state) and detaches (drop pending work). */
  open(): void
  close(): void
  /** Register a listener for the device going away (unplugged, backend failure). */
  onGone(listener: (reason: string) => void): () => void
}
