import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Stream } from '@libp2p/interface'
import { importDeviceOver, UsbipServer } from '@tether/usbip'
import { createVirtualDevice } from '@tether/virtual'
import { USBIP_TUNNEL_PROTOCOL } from '../src/constants.js'
import type { TetherNode } from '../src/node.js'
import { openTunnel, receiveTunnelOpen } from '../src/tunnel.js'
import { loopbackNode, tcpAddress, withTimeout } from './helpers.js'

const BULK_IN_EP = 1
const URB_BYTES = 64 * 1024
/** Gadget Zero pattern 1: (i % wMaxPacketSize) % 63, high speed bulk wMaxPacketSize 512. */
const patternByte = (i: number) => (i % 512) % 63

describe('USB/IP through a noise+yamux libp2p stream', () => {
  let exporter: TetherNode
  let importer: TetherNode
  let usbip: UsbipServer
  const tunnelPeers: string[] = []

  before(async () => {
    ;[exporter, importer] = await Promise.all([loopbackNode(), loopbackNode()])
    usbip = new UsbipServer({ devices: [createVirtualDevice('gadget-zero', { pattern: 1 })] })
    await exporter.handle(USBIP_TUNNEL_PROTOCOL, async (stream: Stream, connection) => {
      const request = await receiveTunnelOpen(stream, connection, { timeoutMs: 5000 }).catch(() => undefined)
      if (!request) return
      tunnelPeers.push(request.remotePeer.toString())
      if (request.open.busid === '8-8') {
        await request.refuse('STATUS_DENIED', 'capability revoked (ERR_TOKEN_REVOKED)', 'ERR_TOKEN_REVOKED')
        return
      }
      if (!usbip.catalog.backend(request.open.busid)) {
        await request.refuse('STATUS_NO_SUCH_DEVICE', `no device ${request.open.busid}`)
        return
      }
      usbip.serveStream(await request.accept())
    })
  })
  after(async () => {
    await usbip?.close()
    await Promise.all([exporter?.stop(), importer?.stop()])
  })

  test('import gadget-zero, set configuration 3, bulk IN 64 KiB URBs and GET_DESCRIPTOR', async (t) => {
    const duplex = await withTimeout(
      openTunnel(importer, tcpAddress(exporter), { busid: '1-1', token: Uint8Array.of(1, 2, 3) }),
      5000,
      'open tunnel',
    )
    const device = await withTimeout(importDeviceOver(duplex, '1-1'), 5000, 'import')
    assert.equal(device.record.idVendor, 0x0525)
    assert.equal(device.record.idProduct, 0xa4a0)
    assert.deepEqual(tunnelPeers, [importer.peerId.toString()], 'exporter saw the importer, authenticated')

    const setConfig = await device.control({
      requestType: 0x00,
      request: 0x09,
      value: 3,
      index: 0,
      length: 0,
    })
    assert.equal(setConfig.status, 0)

    for (let i = 0; i < 4; i++) {
      const urb = await withTimeout(
        device.submit({ ep: BULK_IN_EP, direction: 'in', length: URB_BYTES }),
        5000,
        'bulk IN',
      )
      assert.equal(urb.status, 0)
      assert.equal(urb.actualLength, URB_BYTES)
      assert.equal(urb.data.length, URB_BYTES)
      for (let j = 0; j < URB_BYTES; j += 4099) assert.equal(urb.data[j], patternByte(j), `byte ${j}`)
    }

    const descriptor = await device.control({
      requestType: 0x80,
      request: 0x06,
      value: 0x0100,
      index: 0,
      length: 18,
    })
    assert.equal(descriptor.status, 0)
    assert.equal(descriptor.data.length, 18)
    assert.equal(descriptor.data[1], 1, 'DEVICE descriptor')
    assert.equal(descriptor.data[8]! | (descriptor.data[9]! << 8), 0x0525)
    assert.equal(descriptor.data[10]! | (descriptor.data[11]! << 8), 0xa4a0)

    // Throughput, one URB in flight (a figure, not an assertion).
    const started = performance.now()
    let bytes = 0
    for (let i = 0; i < 128; i++) {
      const urb = await device.submit({ ep: BULK_IN_EP, direction: 'in', length: URB_BYTES })
      assert.equal(urb.status, 0)
      bytes += urb.actualLength
    }
    const seconds = (performance.now() - started) / 1000
    t.diagnostic(`bulk IN through the tunnel: ${(bytes / 1e6 / seconds).toFixed(0)} MB/s (${bytes} bytes)`)

    // Closing the importer's side releases the device on the exporter.
    assert.equal(usbip.catalog.isClaimed('1-1'), true)
    await withTimeout(device.close(), 5000, 'close')
    await waitFor(() => !usbip.catalog.isClaimed('1-1'))
  })

  test('the device can be imported again after release, and an unknown busid is refused', async () => {
    const duplex = await openTunnel(importer, tcpAddress(exporter), { busid: '1-1' })
    const device = await withTimeout(importDeviceOver(duplex, '1-1'), 5000, 'import')
    await device.close()
    await waitFor(() => !usbip.catalog.isClaimed('1-1'))
    await assert.rejects(openTunnel(importer, tcpAddress(exporter), { busid: '9-9' }), (err: Error) => {
      assert.equal((err as { code?: string }).code, 'ERR_TUNNEL_REFUSED')
      assert.match(err.message, /STATUS_NO_SUCH_DEVICE/)
      assert.equal(
        'code' in (err as Error & { details: object }).details,
        false,
        'a refusal without a code has none',
      )
      return true
    })
    await assert.rejects(openTunnel(importer, tcpAddress(exporter), { busid: '8-8' }), (err: Error) => {
      const e = err as Error & { code?: string; details?: Record<string, unknown> }
      assert.equal(e.code, 'ERR_TUNNEL_REFUSED')
      assert.deepEqual(e.details, {
        busid: '8-8',
        status: 'STATUS_DENIED',
        message: 'capability revoked (ERR_TOKEN_REVOKED)',
        code: 'ERR_TOKEN_REVOKED',
      })
      return true
    })
  })

  test('the exporter stopping mid-session fails further URBs and releases the device', async () => {
    const duplex = await openTunnel(importer, tcpAddress(exporter), { busid: '1-1' })
    const device = await withTimeout(importDeviceOver(duplex, '1-1'), 5000, 'import')
    await device.control({ requestType: 0x00, request: 0x09, value: 3, index: 0, length: 0 })
    await importer.hangUp(exporter.peerId)
    await assert.rejects(
      withTimeout(device.submit({ ep: BULK_IN_EP, direction: 'in', length: URB_BYTES }), 5000, 'submit'),
      // The Duplex has ended under the client: ERR_CLOSED, or Node's write-after-end if the submit
      // raced the close.
      (err: Error & { code?: string }) =>
        ['ERR_CLOSED', 'ERR_STREAM_WRITE_AFTER_END'].includes(err.code ?? ''),
    )
    await waitFor(() => !usbip.catalog.isClaimed('1-1'))
  })
})

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}
