import assert from 'node:assert/strict'
import { duplexPair } from 'node:stream'
import { afterEach, describe, test } from 'node:test'
import { importDeviceOver, listDevicesOver } from '../src/client/usbip-client.js'
import { OpStatus } from '../src/constants.js'
import type { StreamRestriction } from '../src/server/catalog.js'
import { UsbipServer } from '../src/server/usbip-server.js'
import { LoopbackBackend } from './loopback-backend.js'

/** A second loopback device on its own busid. */
class SecondBackend extends LoopbackBackend {
  override readonly identity = { ...new LoopbackBackend().identity, busid: '1-2', devnum: 3 }
}

describe('serveStream restrictions (one tunnel, one device)', () => {
  const first = new LoopbackBackend()
  const second = new SecondBackend()
  let server: UsbipServer

  afterEach(async () => {
    await server?.close()
  })

  /** An in-memory connection to the server, served under `restriction`. */
  function connect(restriction?: StreamRestriction) {
    const [client, served] = duplexPair()
    const connection = server.serveStream(served, restriction)
    return { client, connection }
  }

  test('unrestricted streams behave as before: both devices listed', async () => {
    server = new UsbipServer({ devices: [first, second] })
    const { client } = connect()
    const devices = await listDevicesOver(client)
    assert.deepEqual(
      devices.map((d) => d.busid),
      ['1-1', '1-2'],
    )
  })

  test('onlyBusid lists only that device', async () => {
    server = new UsbipServer({ devices: [first, second] })
    const { client } = connect({ onlyBusid: '1-2' })
    const devices = await listDevicesOver(client)
    assert.deepEqual(
      devices.map((d) => d.busid),
      ['1-2'],
    )
  })

  test('visible narrows a device list (a token for one place of an exporter)', async () => {
    server = new UsbipServer({ devices: [first, second] })
    const { client } = connect({ listOnly: true, visible: ['1-1'] })
    const devices = await listDevicesOver(client)
    assert.deepEqual(
      devices.map((d) => d.busid),
      ['1-1'],
    )
  })

  test('onlyBusid refuses importing another busid with ST_NODEV and closes; the device stays free', async () => {
    server = new UsbipServer({ devices: [first, second] })
    const { client, connection } = connect({ onlyBusid: '1-2' })
    await assert.rejects(
      importDeviceOver(client, '1-1'),
      (err: Error & { code?: string; details?: object }) => {
        assert.equal(err.code, 'ERR_IMPORT_REFUSED')
        assert.deepEqual(err.details, { busid: '1-1', status: OpStatus.NODEV })
        return true
      },
    )
    await connection.done
    assert.equal(server.catalog.isClaimed('1-1'), false)
    assert.equal(first.opened, 0)
  })

  test('onlyBusid imports its own device; the claim is shared with other streams', async () => {
    server = new UsbipServer({ devices: [first, second] })
    const { client } = connect({ onlyBusid: '1-2' })
    const device = await importDeviceOver(client, '1-2')
    assert.equal(device.record.busid, '1-2')
    assert.equal(server.catalog.isClaimed('1-2'), true)
    const write = await device.submit({ ep: 2, direction: 'out', data: Uint8Array.of(1, 2, 3) })
    assert.equal(write.status, 0)
    const read = await device.submit({ ep: 1, direction: 'in', length: 64 })
    assert.deepEqual([...read.data], [1, 2, 3])
    // A second restricted stream for the same device finds it busy.
    const other = connect({ onlyBusid: '1-2' })
    await assert.rejects(importDeviceOver(other.client, '1-2'), (err: Error & { details?: object }) => {
      assert.deepEqual(err.details, { busid: '1-2', status: OpStatus.DEV_BUSY })
      return true
    })
    await device.close()
  })

  test('listOnly lists every device and refuses every import with ST_NA', async () => {
    server = new UsbipServer({ devices: [first, second] })
    const listing = connect({ listOnly: true })
    assert.deepEqual(
      (await listDevicesOver(listing.client)).map((d) => d.busid),
      ['1-1', '1-2'],
    )
    for (const busid of ['1-1', '1-2']) {
      const { client, connection } = connect({ listOnly: true })
      await assert.rejects(importDeviceOver(client, busid), (err: Error & { details?: object }) => {
        assert.deepEqual(err.details, { busid, status: OpStatus.NA })
        return true
      })
      await connection.done
    }
    assert.equal(server.catalog.isClaimed('1-1'), false)
    assert.equal(server.catalog.isClaimed('1-2'), false)
  })
})
