/**
 * ExporterConfig → the devices to serve. Virtual models come from @tether/virtual; serial
 * interfaces and host USB devices are refused with ERR_NOT_SUPPORTED (later issues).
 */
import { describeBackend, type Logger, type UsbDeviceBackend } from '@tether/usbip'
import {
  CdcAcmDevice,
  EchoPeer,
  GadgetZeroDevice,
  isVirtualDeviceError,
  MassStorageDevice,
  MemoryBacking,
  ScriptedBoardPeer,
  type VirtualDevice,
} from '@tether/virtual'
import type { ExporterConfig, UsbInterfaceConfig, VirtualModel } from './config/schema.js'
import { type ConfigIssue, ExporterError } from './errors.js'

/** One exported USB interface with where it sits in the config and what it announces. */
export interface ExportedInterface {
  readonly place: string
  readonly part: string
  readonly interface: string
  /** Key path in places.toml, e.g. "place[0].part[1].interface[0]". */
  readonly path: string
  readonly busid: string
  readonly vendorId: number
  readonly productId: number
  readonly description: string
  readonly device: UsbDeviceBackend
}

/**
 * Build every configured device. Throws ExporterError ERR_NOT_SUPPORTED (listing every
 * unsupported interface) or ERR_DEVICE (a model that could not be built, e.g. a missing image).
 */
export function buildDevices(config: ExporterConfig, options: { logger?: Logger } = {}): ExportedInterface[] {
  const unsupported: ConfigIssue[] = []
  const usb: { iface: UsbInterfaceConfig; path: string; place: string; part: string }[] = []
  config.places.forEach((place, p) => {
    place.parts.forEach((part, q) => {
      part.interfaces.forEach((iface, i) => {
        const path = `place[${p}].part[${q}].interface[${i}]`
        if (iface.kind === 'serial') {
          unsupported.push({
            path,
            message:
              'kind = "serial" is not supported yet (a later release exports serial ports); remove it for now',
          })
        } else if (iface.source.type === 'usb') {
          unsupported.push({
            path,
            message:
              'source = "usb" (a real USB device on this host) is not supported yet; use source = "virtual" for now',
          })
        } else {
          usb.push({ iface, path, place: place.name, part: part.name })
        }
      })
    })
  })
  if (unsupported.length > 0) {
    const lines = unsupported.map((u) => `${config.file}: ${u.path}: ${u.message}`)
    throw new ExporterError('ERR_NOT_SUPPORTED', lines.join('\n'), {
      issues: unsupported,
      details: { file: config.file },
    })
  }
  const built: ExportedInterface[] = []
  for (const { iface, path, place, part } of usb) {
    if (iface.source.type !== 'virtual') continue
    let device: VirtualDevice
    try {
      device = buildVirtual(iface.source.model, iface.busid, options.logger)
    } catch (err) {
      for (const done of built) void (done.device as Partial<MassStorageDevice>).dispose?.()
      const why = isVirtualDeviceError(err) ? err.message : String(err)
      throw new ExporterError('ERR_DEVICE', `${config.file}: ${path}: ${why}`, {
        details: { file: config.file, path, code: (err as { code?: string }).code },
        cause: err,
      })
    }
    const exported = describeBackend(device)
    built.push({
      place,
      part,
      interface: iface.name,
      path,
      busid: iface.busid,
      vendorId: exported.idVendor,
      productId: exported.idProduct,
      description: iface.description ?? device.description,
      device,
    })
  }
  return built
}

/** Release what devices hold (disk image file handles). */
export async function disposeDevices(exported: readonly ExportedInterface[]): Promise<void> {
  await Promise.all(
    exported.map((e) => (e.device instanceof MassStorageDevice ? e.device.dispose() : undefined)),
  )
}

function buildVirtual(model: VirtualModel, busid: string, logger: Logger | undefined): VirtualDevice {
  const devnum = Number(busid.split('-')[1])
  const identity = {
    busid,
    busnum: 1,
    devnum,
    ...(logger ? { logger: logger.child(`virtual:${busid}`) } : {}),
  }
  switch (model.name) {
    case 'cdc-acm':
      return new CdcAcmDevice({ ...identity, peer: new EchoPeer(), product: 'Tether Virtual Serial' })
    case 'board-console':
      return new CdcAcmDevice({
        ...identity,
        product: 'Tether Virtual Board Console',
        peer: new ScriptedBoardPeer({
          ...(model.hostname !== undefined ? { hostname: model.hostname } : {}),
          ...(model.prompt !== undefined ? { prompt: model.prompt } : {}),
          ...(model.bootOn !== undefined ? { bootOn: model.bootOn } : {}),
        }),
      })
    case 'gadget-zero':
      return new GadgetZeroDevice({ ...identity, pattern: model.pattern })
    case 'mass-storage':
      if (model.image !== undefined)
        return MassStorageDevice.fromFile(model.image, { ...identity, readOnly: model.readOnly })
      return new MassStorageDevice({
        ...identity,
        backing: new MemoryBacking(new Uint8Array(model.size ?? 0), { readOnly: model.readOnly }),
        readOnly: model.readOnly,
      })
  }
}
