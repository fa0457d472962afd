/** What the exporter announces to the hub's directory: pure, from the config and the devices. */

import type { Multiaddr } from '@multiformats/multiaddr'
import type { ExporterRegistration, InterfaceInfo, PlaceInfo } from '@tether/directory'
import type { ExporterConfig } from './config/schema.js'
import { MAX_DESCRIPTION, MAX_REGISTERED_ADDRESSES } from './constants.js'
import type { ExportedInterface } from './devices.js'

/** Places with their parts and interfaces; usb interfaces carry busid, VID:PID and description. */
export function describePlaces(config: ExporterConfig, exported: readonly ExportedInterface[]): PlaceInfo[] {
  const byPath = new Map(exported.map((e) => [e.path, e]))
  return config.places.map((place, p) => ({
    name: place.name,
    tags: [...place.tags],
    parts: place.parts.map((part, q) => ({
      name: part.name,
      compatible: [...part.compatible],
      interfaces: part.interfaces.map((iface, i): InterfaceInfo => {
        const device = byPath.get(`place[${p}].part[${q}].interface[${i}]`)
        if (iface.kind === 'serial' || !device) {
          return {
            kind: iface.kind,
            name: iface.name,
            ...(iface.description ? { description: clip(iface.description) } : {}),
          }
        }
        return {
          kind: 'usb',
          name: iface.name,
          busid: device.busid,
          vendorId: device.vendorId,
          productId: device.productId,
          description: clip(device.description),
        }
      }),
    })),
  }))
}

/**
 * The node's addresses as the directory wants them: without the trailing /p2p/<self>, relay
 * circuit addresses first (they work from anywhere), duplicates removed, at most MAX_REGISTERED_ADDRESSES.
 */
export function registrationAddresses(addresses: readonly Multiaddr[], self: string): string[] {
  const suffix = `/p2p/${self}`
  const texts = addresses.map((a) => {
    const text = a.toString()
    return text.endsWith(suffix) ? text.slice(0, -suffix.length) : text
  })
  const circuit = texts.filter((t) => t.includes('/p2p-circuit'))
  const direct = texts.filter((t) => !t.includes('/p2p-circuit'))
  return [...new Set([...circuit, ...direct])].slice(0, MAX_REGISTERED_ADDRESSES)
}

export function buildRegistration(
  config: ExporterConfig,
  places: readonly PlaceInfo[],
  addresses: readonly string[],
): ExporterRegistration {
  return { name: config.name, places, addresses }
}

/** The directory takes descriptions of at most MAX_DESCRIPTION characters (image paths can be long). */
function clip(text: string): string {
  return text.length <= MAX_DESCRIPTION ? text : `${text.slice(0, MAX_DESCRIPTION - 1)}…`
}
