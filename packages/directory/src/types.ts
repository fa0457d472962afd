/** What exporters announce and importers find. */

export type InterfaceKind = 'usb' | 'serial'

/** One interface of a part, as announced. */
export interface InterfaceInfo {
  readonly kind: InterfaceKind
  /** Unique within the part, e.g. "usb", "console". */
  readonly name: string
  /** usb: the USB/IP busid on that exporter, e.g. "1-1". */
  readonly busid?: string
  readonly vendorId?: number
  readonly productId?: number
  /** Free text, e.g. "CDC-ACM board console". */
  readonly description?: string
}

export interface PartInfo {
  readonly name: string
  readonly compatible: readonly string[]
  readonly interfaces: readonly InterfaceInfo[]
}

export interface PlaceInfo {
  readonly name: string
  readonly tags: readonly string[]
  readonly parts: readonly PartInfo[]
}

export interface ExporterRegistration {
  /** Exporter name, e.g. "lab-a" ([a-z0-9][a-z0-9._-]{0,62}). */
  readonly name: string
  readonly places: readonly PlaceInfo[]
  /**
   * Multiaddrs to dial the exporter (no /p2p/<self> suffix needed; relay circuit addresses like
   * <hub>/p2p-circuit are allowed).
   */
  readonly addresses: readonly string[]
}

export interface DirectoryEntry extends ExporterRegistration {
  /** Noise-authenticated PeerId of the registering exporter. */
  readonly peerId: string
  /** The address the hub saw the exporter connect from. */
  readonly observedAddress?: string
  readonly registeredAt: Date
  readonly expiresAt: Date
}

/** All given fields must match (AND); an empty query matches everything. */
export interface DirectoryQuery {
  /** Exact exporter name. */
  readonly exporter?: string
  /** Exact place name. */
  readonly place?: string
  /** The place has every listed tag. */
  readonly tags?: readonly string[]
  /** Some part of the place has every listed compatible. */
  readonly compatible?: readonly string[]
  /** Case-insensitive substring of the exporter, place, part or tag names. */
  readonly text?: string
}
