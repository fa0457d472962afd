/** The exported device list and who holds which device: shared by every connection of a server. */
import type { UsbDeviceBackend } from '../backend.js'
import { OpStatus } from '../constants.js'
import { parseConfigurationDescriptor, parseDeviceDescriptor } from '../descriptor-parser.js'
import type { DeviceRecord, ExportedDevice } from '../messages.js'
import type { ClaimedDevice, DeviceCatalog } from '../session/server-session.js'

/**
 * Narrows what one connection may see and import (a tunnel opened for one device). Listing and
 * import refusals look exactly like the server's own: OP_REP_DEVLIST without the hidden devices,
 * OP_REP_IMPORT with ST_NODEV (another busid) or ST_NA (a list-only stream), then close.
 */
export interface StreamRestriction {
  /** Only this busid is listed and importable. */
  readonly onlyBusid?: string
  /** OP_REQ_DEVLIST only: every OP_REQ_IMPORT is refused. */
  readonly listOnly?: boolean
  /** Only these busids are listed (e.g. the devices of the place a token is for). */
  readonly visible?: readonly string[]
}

/** A view of `catalog` that applies `restriction`; claims still go to (and are held by) `catalog`. */
export function restrictCatalog(catalog: DeviceCatalog, restriction: StreamRestriction): DeviceCatalog {
  const { onlyBusid, listOnly = false, visible } = restriction
  if (onlyBusid === undefined && !listOnly && visible === undefined) return catalog
  const shown = (busid: string) =>
    (onlyBusid === undefined || busid === onlyBusid) && (visible === undefined || visible.includes(busid))
  return {
    list: () => catalog.list().filter((d) => shown(d.busid)),
    claim: (busid) => {
      if (listOnly) return { ok: false as const, status: OpStatus.NA }
      if ((onlyBusid !== undefined && busid !== onlyBusid) || !shown(busid)) {
        return { ok: false as const, status: OpStatus.NODEV }
      }
      return catalog.claim(busid)
    },
  }
}

/** The record and interface list USB/IP announces for a backend, in its first configuration. */
export function describeBackend(backend: UsbDeviceBackend): ExportedDevice {
  const device = parseDeviceDescriptor(backend.descriptors.device)
  const firstConfiguration = backend.descriptors.configurations[0]
  const configuration = firstConfiguration ? parseConfigurationDescriptor(firstConfiguration) : undefined
  const interfaces = (configuration?.altSettings ?? [])
    .filter((alt) => alt.alternateSetting === 0)
    .map((alt) => ({
      interfaceClass: alt.interfaceClass,
      interfaceSubClass: alt.interfaceSubClass,
      interfaceProtocol: alt.interfaceProtocol,
    }))
  const { identity } = backend
  const record: DeviceRecord = {
    path: identity.path,
    busid: identity.busid,
    busnum: identity.busnum,
    devnum: identity.devnum,
    speed: identity.speed,
    idVendor: device.idVendor,
    idProduct: device.idProduct,
    bcdDevice: device.bcdDevice,
    deviceClass: device.deviceClass,
    deviceSubClass: device.deviceSubClass,
    deviceProtocol: device.deviceProtocol,
    configurationValue: configuration?.configurationValue ?? 0,
    numConfigurations: device.numConfigurations,
    numInterfaces: interfaces.length,
  }
  return { ...record, interfaces }
}

export class BackendCatalog implements DeviceCatalog {
  private readonly entries = new Map<string, { backend: UsbDeviceBackend; exported: ExportedDevice }>()
  private readonly claimed = new Set<string>()

  constructor(backends: readonly UsbDeviceBackend[]) {
    for (const backend of backends) {
      const busid = backend.identity.busid
      if (this.entries.has(busid)) throw new TypeError(`two devices share busid ${busid}`)
      this.entries.set(busid, { backend, exported: describeBackend(backend) })
    }
  }

  backend(busid: string): UsbDeviceBackend | undefined {
    return this.entries.get(busid)?.backend
  }

  isClaimed(busid: string): boolean {
    return this.claimed.has(busid)
  }

  /** Devices already imported by someone are not listed, as with the kernel's usbipd. */
  list(): readonly ExportedDevice[] {
    return [...this.entries.values()]
      .filter((e) => !this.claimed.has(e.exported.busid))
      .map((e) => e.exported)
  }

  all(): readonly ExportedDevice[] {
    return [...this.entries.values()].map((e) => e.exported)
  }

  claim(busid: string) {
    const entry = this.entries.get(busid)
    if (!entry) return { ok: false as const, status: OpStatus.NODEV }
    if (this.claimed.has(busid)) return { ok: false as const, status: OpStatus.DEV_BUSY }
    this.claimed.add(busid)
    const device: ClaimedDevice = { record: entry.exported, descriptors: entry.backend.descriptors }
    return { ok: true as const, device }
  }

  release(busid: string): void {
    this.claimed.delete(busid)
  }
}
