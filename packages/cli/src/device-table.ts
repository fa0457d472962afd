/** Renders exported devices for people (table) and programs (--json). */
import type { ExportedDevice } from '@tether/usbip'
import { hex4, speedName, usbClassName } from './usb-names.js'

export function deviceToJson(device: ExportedDevice, description?: string) {
  return {
    busid: device.busid,
    vid: hex4(device.idVendor),
    pid: hex4(device.idProduct),
    speed: speedName(device.speed),
    ...(description ? { description } : {}),
    interfaces: device.interfaces.map((i, n) => ({
      number: n,
      class: usbClassName(i.interfaceClass),
      classCode: i.interfaceClass,
      subclass: i.interfaceSubClass,
      protocol: i.interfaceProtocol,
    })),
  }
}

export function formatDeviceTable(
  devices: readonly ExportedDevice[],
  descriptions?: ReadonlyMap<string, string>,
): string {
  if (devices.length === 0) return 'no devices exported\n'
  const lines: string[] = []
  for (const device of devices) {
    const description = descriptions?.get(device.busid)
    lines.push(
      `${device.busid.padEnd(6)} ${hex4(device.idVendor)}:${hex4(device.idProduct)}  ${speedName(device.speed)} speed${description ? `  ${description}` : ''}`,
    )
    device.interfaces.forEach((i, n) => {
      lines.push(
        `         ${n}: ${usbClassName(i.interfaceClass)} (${i.interfaceSubClass}/${i.interfaceProtocol})`,
      )
    })
  }
  return `${lines.join('\n')}\n`
}
