/** Hand-written descriptors and a scripted backend for session tests. */
import type { BackendCompletion, BackendRequest, DeviceDescriptors } from '../src/backend.js'
import type { DeviceRecord } from '../src/messages.js'
import type { ClaimedDevice, DeviceCatalog } from '../src/session/server-session.js'

const device = Uint8Array.from([
  18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x34, 0x12, 0x78, 0x56, 0x00, 0x01, 0, 0, 0, 2,
])

function config(value: number, body: number[]): Uint8Array {
  const total = 9 + body.length
  return Uint8Array.from([9, 2, total & 0xff, total >> 8, 1, value, 0, 0x80, 50, ...body])
}

const iface = (number: number, alt: number, endpoints: number) => [
  9,
  4,
  number,
  alt,
  endpoints,
  0xff,
  0,
  0,
  0,
]
const endpoint = (address: number, attributes: number, maxPacket: number) => [
  7,
  5,
  address,
  attributes,
  maxPacket & 0xff,
  maxPacket >> 8,
  attributes === 1 ? 1 : 0,
]

/** Config 1: iface 0 alt 0 = bulk 0x81/0x02 (512); alt 1 = iso 0x83 (1024). Config 2: interrupt 0x84. */
export const testDescriptors: DeviceDescriptors = {
  device,
  configurations: [
    config(1, [
      ...iface(0, 0, 2),
      ...endpoint(0x81, 2, 512),
      ...endpoint(0x02, 2, 512),
      ...iface(0, 1, 1),
      ...endpoint(0x83, 1, 1024),
    ]),
    config(2, [...iface(0, 0, 1), ...endpoint(0x84, 3, 64)]),
  ],
}

export const testRecord: DeviceRecord = {
  path: '/sys/devices/virtual/test',
  busid: '1-1',
  busnum: 1,
  devnum: 2,
  speed: 3,
  idVendor: 0x1234,
  idProduct: 0x5678,
  bcdDevice: 0x0100,
  deviceClass: 0,
  deviceSubClass: 0,
  deviceProtocol: 0,
  configurationValue: 1,
  numConfigurations: 2,
  numInterfaces: 1,
}

export const testDevid = (1 << 16) | 2

export function testCatalog(): DeviceCatalog & { claimed: Set<string> } {
  const claimed = new Set<string>()
  const claimedDevice: ClaimedDevice = { record: testRecord, descriptors: testDescriptors }
  return {
    claimed,
    list: () => [
      { ...testRecord, interfaces: [{ interfaceClass: 0xff, interfaceSubClass: 0, interfaceProtocol: 0 }] },
    ],
    claim(busid) {
      if (busid !== testRecord.busid) return { ok: false, status: 4 }
      if (claimed.has(busid)) return { ok: false, status: 2 }
      claimed.add(busid)
      return { ok: true, device: claimedDevice }
    },
  }
}

export type { BackendCompletion, BackendRequest }
