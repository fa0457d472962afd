import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ExportedDevice } from '@tether/usbip'
import { deviceToJson, formatDeviceTable } from '../src/device-table.js'

const device: ExportedDevice = {
  path: '/sys/devices/virtual/tether/1-1',
  busid: '1-1',
  busnum: 1,
  devnum: 2,
  speed: 3,
  idVendor: 0x0525,
  idProduct: 0xa4a0,
  bcdDevice: 0x0100,
  deviceClass: 0,
  deviceSubClass: 0,
  deviceProtocol: 0,
  configurationValue: 3,
  numConfigurations: 2,
  numInterfaces: 1,
  interfaces: [{ interfaceClass: 0xff, interfaceSubClass: 0, interfaceProtocol: 0 }],
}

test('table shows busid, VID:PID, speed and interface classes', () => {
  const text = formatDeviceTable([device], new Map([['1-1', 'Gadget Zero']]))
  assert.match(text, /^1-1 +0525:a4a0 +high speed +Gadget Zero$/m)
  assert.match(text, /0: Vendor Specific \(0\/0\)/)
  assert.equal(formatDeviceTable([]), 'no devices exported\n')
})

test('json form is stable for scripts', () => {
  assert.deepEqual(deviceToJson(device), {
    busid: '1-1',
    vid: '0525',
    pid: 'a4a0',
    speed: 'high',
    interfaces: [{ number: 0, class: 'Vendor Specific', classCode: 255, subclass: 0, protocol: 0 }],
  })
})
