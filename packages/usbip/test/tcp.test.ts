import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { importDevice, listDevices } from '../src/client/usbip-client.js'
import { Errno } from '../src/constants.js'
import { UsbipServer } from '../src/server/usbip-server.js'
import { LoopbackBackend } from './loopback-backend.js'

describe('server and userspace client over loopback TCP', () => {
  const backend = new LoopbackBackend()
  const server = new UsbipServer({ devices: [backend] })
  let port = 0
  before(async () => {
    port = (await server.listen(0, '127.0.0.1')).port
  })
  after(() => server.close())

  test('lists the device with its interfaces', async () => {
    const devices = await listDevices({ host: '127.0.0.1', port })
    assert.equal(devices.length, 1)
    assert.equal(devices[0]?.busid, '1-1')
    assert.equal(devices[0]?.idVendor, 0x1234)
    assert.deepEqual(devices[0]?.interfaces, [
      { interfaceClass: 0xff, interfaceSubClass: 0, interfaceProtocol: 0 },
    ])
  })

  test('import, OUT then IN round trip, a busy second import, release on close', async () => {
    const device = await importDevice({ host: '127.0.0.1', port, busid: '1-1' })
    assert.equal(backend.opened, 1)
    await assert.rejects(importDevice({ host: '127.0.0.1', port, busid: '1-1' }), {
      code: 'ERR_IMPORT_REFUSED',
    })
    assert.deepEqual(await listDevices({ host: '127.0.0.1', port }), [], 'an imported device is not listed')
    const read = device.submit({ ep: 1, direction: 'in', length: 64 })
    const write = await device.submit({ ep: 2, direction: 'out', data: new TextEncoder().encode('hello') })
    assert.equal(write.status, 0)
    assert.equal(write.actualLength, 5)
    const result = await read
    assert.equal(new TextDecoder().decode(result.data), 'hello')
    await device.close()
    await waitFor(() => backend.closed === 1)
    assert.equal((await listDevices({ host: '127.0.0.1', port })).length, 1, 'released after close')
  })

  test('aborting a pending URB sends CMD_UNLINK and settles it as unlinked', async () => {
    const device = await importDevice({ host: '127.0.0.1', port, busid: '1-1' })
    const controller = new AbortController()
    const pending = device.submit({ ep: 1, direction: 'in', length: 64 }, { signal: controller.signal })
    controller.abort()
    const result = await pending
    assert.equal(result.unlinked, true)
    assert.equal(result.status, Errno.ECONNRESET)
    // The link is still healthy afterwards.
    const again = device.submit({ ep: 1, direction: 'in', length: 64 })
    await device.submit({ ep: 2, direction: 'out', data: Uint8Array.of(7) })
    assert.deepEqual([...(await again).data], [7])
    await device.close()
  })

  test('device gone: pending URBs get -ESHUTDOWN and the server closes the connection', async () => {
    const device = await importDevice({ host: '127.0.0.1', port, busid: '1-1' })
    const pending = device.submit({ ep: 1, direction: 'in', length: 64 })
    await waitFor(() => backend.pendingReads === 1)
    backend.unplug()
    const result = await pending
    assert.equal(result.status, Errno.ESHUTDOWN)
    await assert.rejects(device.submit({ ep: 1, direction: 'in', length: 1 }), { code: 'ERR_CLOSED' })
  })

  test('garbage from a client closes only that connection', async () => {
    const { connect } = await import('node:net')
    const socket = connect({ host: '127.0.0.1', port })
    socket.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'))
    await new Promise((resolve) => socket.once('close', resolve))
    assert.equal((await listDevices({ host: '127.0.0.1', port })).length, 1)
  })
})

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 5))
  }
}
