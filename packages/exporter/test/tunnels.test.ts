import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { openTunnel, type TetherNode } from '@tether/net'
import { importDeviceOver, listDevicesOver, OpStatus } from '@tether/usbip'
import { type Exporter, parsePlacesToml, startExporter } from '../src/index.js'
import { importerNode, recordingLogger, tcpAddress, waitFor, withTimeout } from './helpers.js'

const PLACES = `
name = "lab-test"
[network]
listen = ["/ip4/127.0.0.1/tcp/0"]

[[place]]
name = "bench"
tags = ["test"]
  [[place.part]]
  name = "uart"
    [[place.part.interface]]
    name = "echo"
    model = "cdc-acm"
  [[place.part]]
  name = "dut"
    [[place.part.interface]]
    name = "zero"
    model = "gadget-zero"
    [[place.part.interface]]
    name = "ram"
    model = "mass-storage"
    size = "1MiB"
`

const CDC_BULK_IN_EP = 1
const CDC_BULK_OUT_EP = 2
const encoder = new TextEncoder()
const decoder = new TextDecoder()

describe('exporter tunnels over real libp2p on 127.0.0.1 (no hub)', () => {
  let exporter: Exporter
  let importer: TetherNode
  const log = recordingLogger()

  before(async () => {
    const config = parsePlacesToml(PLACES, '/tmp/places.toml')
    exporter = await startExporter({
      config,
      privateKey: await generateKeyPair('Ed25519'),
      openMode: true,
      logger: log,
    })
    importer = await importerNode()
  })
  after(async () => {
    await exporter?.stop()
    await importer?.stop()
  })

  const dial = (busid: string) =>
    openTunnel(importer, tcpAddress(exporter.node), { busid }, { timeoutMs: 5000 })

  test('starts in INSECURE OPEN MODE, loudly, with busids in file order', () => {
    const warning = log.lines.find((l) => l.level === 'warn' && l.message.startsWith('INSECURE OPEN MODE'))
    assert.ok(warning, 'an INSECURE OPEN MODE warning')
    assert.deepEqual(
      exporter.interfaces.map((i) => [i.place, i.part, i.interface, i.busid]),
      [
        ['bench', 'uart', 'echo', '1-1'],
        ['bench', 'dut', 'zero', '1-2'],
        ['bench', 'dut', 'ram', '1-3'],
      ],
    )
    assert.deepEqual(
      exporter.server.catalog.all().map((d) => d.busid),
      ['1-1', '1-2', '1-3'],
    )
    assert.ok(exporter.addresses().some((a) => a.endsWith(`/p2p/${exporter.node.peerId.toString()}`)))
  })

  test('a tunnel to the CDC-ACM echo device carries a line both ways; the tunnel is listed while open', async () => {
    const duplex = await withTimeout(dial('1-1'), 5000, 'open tunnel')
    const device = await withTimeout(importDeviceOver(duplex, '1-1'), 5000, 'import')
    assert.equal(device.record.busid, '1-1')
    const setConfiguration = await device.control({
      requestType: 0x00,
      request: 0x09,
      value: 1,
      index: 0,
      length: 0,
    })
    assert.equal(setConfiguration.status, 0)

    const reply = device.submit({ ep: CDC_BULK_IN_EP, direction: 'in', length: 512 })
    const line = 'hello through the tunnel\r\n'
    const write = await device.submit({ ep: CDC_BULK_OUT_EP, direction: 'out', data: encoder.encode(line) })
    assert.equal(write.status, 0)
    assert.equal(write.actualLength, line.length)
    const echoed = await withTimeout(reply, 5000, 'echo')
    assert.equal(echoed.status, 0)
    assert.equal(decoder.decode(echoed.data), line)

    const [tunnel, ...others] = exporter.tunnels()
    assert.deepEqual(others, [])
    assert.equal(tunnel!.peer, importer.peerId.toString())
    assert.equal(tunnel!.busid, '1-1')
    assert.equal(tunnel!.path, 'direct')
    assert.ok(tunnel!.bytesIn > line.length && tunnel!.bytesOut > line.length, 'bytes counted both ways')

    await device.close()
    await waitFor(() => exporter.tunnels().length === 0, 'tunnel gone after close')
    assert.equal(exporter.server.catalog.isClaimed('1-1'), false)
    const closed = log.lines.find((l) => l.message === 'tunnel closed' && l.fields.busid === '1-1')
    assert.equal(closed?.fields.peer, importer.peerId.toString())
  })

  test('an unknown busid is refused with STATUS_NO_SUCH_DEVICE', async () => {
    await assert.rejects(dial('9-9'), (err: Error & { code?: string; details?: Record<string, unknown> }) => {
      assert.equal(err.code, 'ERR_TUNNEL_REFUSED')
      assert.equal(err.details?.status, 'STATUS_NO_SUCH_DEVICE')
      assert.match(String(err.details?.message), /no device 9-9 here \(devices: 1-1, 1-2, 1-3\)/)
      return true
    })
    const refusal = log.lines.find((l) => l.message === 'tunnel refused' && l.fields.busid === '9-9')
    assert.equal(refusal?.fields.peer, importer.peerId.toString())
  })

  test('a second tunnel to a busid in use is refused with STATUS_BUSY, and accepted again after release', async () => {
    const first = await dial('1-2')
    // The tunnel holds the busid from accept on, before any OP_REQ_IMPORT.
    await assert.rejects(dial('1-2'), (err: Error & { details?: Record<string, unknown> }) => {
      assert.equal(err.details?.status, 'STATUS_BUSY')
      assert.match(String(err.details?.message), new RegExp(`1-2 is in use by ${importer.peerId.toString()}`))
      return true
    })
    const device = await importDeviceOver(first, '1-2')
    await assert.rejects(dial('1-2'), (err: Error & { details?: Record<string, unknown> }) => {
      assert.equal(err.details?.status, 'STATUS_BUSY')
      return true
    })
    await device.close()
    await waitFor(() => exporter.tunnels().length === 0, 'released')
    const again = await importDeviceOver(await dial('1-2'), '1-2')
    assert.equal(again.record.idVendor, 0x0525)
    await again.close()
    await waitFor(() => exporter.tunnels().length === 0, 'released again')
  })

  test('a list-only tunnel (empty busid) lists every device and cannot import', async () => {
    const devices = await listDevicesOver(await dial(''))
    assert.deepEqual(
      devices.map((d) => d.busid),
      ['1-1', '1-2', '1-3'],
    )
    await assert.rejects(
      importDeviceOver(await dial(''), '1-1'),
      (err: Error & { details?: Record<string, unknown> }) => {
        assert.deepEqual(err.details, { busid: '1-1', status: OpStatus.NA })
        return true
      },
    )
    await waitFor(() => exporter.tunnels().length === 0, 'list tunnels closed')
    assert.equal(exporter.server.catalog.isClaimed('1-1'), false)
  })

  test('a tunnel opened for one busid cannot import another', async () => {
    await assert.rejects(
      importDeviceOver(await dial('1-3'), '1-1'),
      (err: Error & { details?: Record<string, unknown> }) => {
        assert.deepEqual(err.details, { busid: '1-1', status: OpStatus.NODEV })
        return true
      },
    )
    await waitFor(() => exporter.tunnels().length === 0, 'restricted tunnel closed')
    assert.equal(exporter.server.catalog.isClaimed('1-1'), false)
    // …and its device list shows only its own device.
    const listed = await listDevicesOver(await dial('1-3'))
    assert.deepEqual(
      listed.map((d) => d.busid),
      ['1-3'],
    )
  })

  test('startExporter refuses to run without auth or openMode, naming the fix', async () => {
    const config = parsePlacesToml(PLACES, '/tmp/places.toml')
    await assert.rejects(startExporter({ config, privateKey: await generateKeyPair('Ed25519') }), {
      code: 'ERR_OPEN_MODE_REQUIRED',
      message: /a hub with \[auth\].*--insecure-open/,
    })
  })

  test('serial and host-USB interfaces are parsed but refused at start as not supported yet', async () => {
    const config = parsePlacesToml(
      `${PLACES}
    [[place.part.interface]]
    name = "tty"
    kind = "serial"
    path = "/dev/ttyUSB0"
    [[place.part.interface]]
    name = "ftdi"
    source = "usb"
    vendor-id = 0x0403
`,
      '/tmp/places.toml',
    )
    await assert.rejects(
      startExporter({ config, privateKey: await generateKeyPair('Ed25519'), openMode: true }),
      (err: Error & { code?: string; issues?: { path: string }[] }) => {
        assert.equal(err.code, 'ERR_NOT_SUPPORTED')
        assert.deepEqual(
          err.issues?.map((i) => i.path),
          ['place[0].part[1].interface[2]', 'place[0].part[1].interface[3]'],
        )
        assert.match(err.message, /kind = "serial" is not supported yet/)
        assert.match(err.message, /source = "usb" .* is not supported yet/)
        return true
      },
    )
  })
})
