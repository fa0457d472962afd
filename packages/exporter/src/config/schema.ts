/**
 * The typed form of places.toml, after validation. Paths are absolute (resolved against the
 * file's directory); every USB interface carries the busid it is exported under.
 */

/** Top level: one exporter, its network settings and the places it offers. */
export interface ExporterConfig {
  /** Absolute path of the file this came from (for messages). */
  readonly file: string
  /** Exporter name in the hub's directory. */
  readonly name: string
  readonly hub: HubConfig | undefined
  readonly network: NetworkConfig
  readonly places: readonly PlaceConfig[]
}

export interface HubConfig {
  /** The hub's multiaddr including /p2p/<hub peer id>. */
  readonly address: string
}

export interface NetworkConfig {
  /** Multiaddrs to listen on (default DEFAULT_LISTEN). */
  readonly listen: readonly string[]
  /** Extra multiaddrs to announce (port mappings, NAT). */
  readonly announce: readonly string[]
  /** Absolute identity file path, when the file names one (else the XDG default applies). */
  readonly identity: string | undefined
}

export interface PlaceConfig {
  readonly name: string
  readonly tags: readonly string[]
  readonly parts: readonly PartConfig[]
}

export interface PartConfig {
  readonly name: string
  readonly compatible: readonly string[]
  readonly interfaces: readonly InterfaceConfig[]
}

export type InterfaceConfig = UsbInterfaceConfig | SerialInterfaceConfig

export interface UsbInterfaceConfig {
  readonly kind: 'usb'
  readonly name: string
  /** USB/IP busid, assigned in file order: "1-1", "1-2", … */
  readonly busid: string
  readonly description: string | undefined
  readonly source: UsbSource
}

/** A later issue: serial ports (parsed and validated now, refused at start). */
export interface SerialInterfaceConfig {
  readonly kind: 'serial'
  readonly name: string
  readonly description: string | undefined
  /** The tty to export, e.g. /dev/ttyUSB0. */
  readonly path: string | undefined
}

export type UsbSource = VirtualUsbSource | HostUsbSource

/** A device model from @tether/virtual. */
export interface VirtualUsbSource {
  readonly type: 'virtual'
  readonly model: VirtualModel
}

export const VIRTUAL_MODELS = ['cdc-acm', 'board-console', 'gadget-zero', 'mass-storage'] as const
export type VirtualModelName = (typeof VIRTUAL_MODELS)[number]

export type VirtualModel =
  /** CDC-ACM serial port whose far end echoes every byte. */
  | { readonly name: 'cdc-acm' }
  /** CDC-ACM console of a scripted pretend board (U-Boot/Linux banner, a shell). */
  | {
      readonly name: 'board-console'
      readonly hostname: string | undefined
      readonly prompt: string | undefined
      readonly bootOn: 'dtr' | 'attach' | undefined
    }
  /** Linux Gadget Zero (usbtest source/sink + loopback). */
  | { readonly name: 'gadget-zero'; readonly pattern: 0 | 1 | 2 }
  /** USB mass storage: an existing image file (absolute path) or an in-memory disk of `size` bytes. */
  | {
      readonly name: 'mass-storage'
      readonly image: string | undefined
      readonly size: number | undefined
      readonly readOnly: boolean
    }

/** A later issue: a real USB device on this host, matched by libusb (refused at start for now). */
export interface HostUsbSource {
  readonly type: 'usb'
  readonly match: {
    readonly vendorId: number | undefined
    readonly productId: number | undefined
    readonly serial: string | undefined
    /** Physical port path, e.g. "1-1.4". */
    readonly port: string | undefined
  }
}
