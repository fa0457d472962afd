import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { openPcapngFile, PcapngUrbCapture } from '../src/capture/urb-capture.js'
import { importDevice } from '../src/client/usbip-client.js'
import { UsbipServer } from '../src/server/usbip-server.js'
import { LoopbackBackend } from './loopback-backend.js'

const execFileAsync = promisify(execFile)

test('records are pcapng blocks whose lengths chain and whose link type is usbmon (220)', () => {
  const chunks: Uint8Array[] = []
  const capture = new PcapngUrbCapture(
    (bytes) => chunks.push(bytes),
    () => 1_700_000_000_123_456n,
  )
  const device = { busnum: 1, devnum: 2 }
  const request = {
    kind: 'transfer',
    seqnum: 7,
    endpoint: 1,
    direction: 'in',
    type: 'bulk',
    setup: undefined,
    data: new Uint8Array(0),
    length: 64,
    zeroPacket: false,
    shortNotOk: false,
    maxPacketSize: 512,
    isoPackets: [],
    interval: 0,
    startFrame: 0,
  } as const
  capture.submitted(device, request)
  capture.completed(device, request, { status: 0, data: Uint8Array.of(1, 2, 3) })
  const file = Buffer.concat(chunks)
  const types: number[] = []
  for (let at = 0; at < file.length; ) {
    const length = file.readUInt32LE(at + 4)
    assert.equal(file.readUInt32LE(at + length - 4), length, 'trailing block length matches')
    types.push(file.readUInt32LE(at))
    at += length
  }
  assert.deepEqual(types, [0x0a0d0d0a, 1, 6, 6])
  const idb = file.readUInt32LE(4)
  assert.equal(file.readUInt16LE(idb + 8), 220)
  // The completion record: 28-byte EPB head, then the 64-byte usbmon header and 3 data bytes.
  const complete = file.subarray(file.length - file.readUInt32LE(file.length - 4))
  const record = complete.subarray(28)
  assert.equal(String.fromCharCode(record[8]!), 'C')
  assert.equal(record[10], 0x81, 'endpoint with direction bit')
  assert.equal(record.readUInt32LE(36), 3, 'captured data length')
  assert.deepEqual([...record.subarray(64, 67)], [1, 2, 3])
})

test('tshark decodes a capture of a real session as USB URBs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tether-capture-'))
  const path = join(dir, 'session.pcapng')
  const recording = openPcapngFile(path)
  const server = new UsbipServer({ devices: [new LoopbackBackend()], capture: recording.capture })
  try {
    const { port } = await server.listen(0, '127.0.0.1')
    const device = await importDevice({ host: '127.0.0.1', port, busid: '1-1' })
    await device.control({ requestType: 0x80, request: 6, value: 0x0100, index: 0, length: 18 })
    const read = device.submit({ ep: 1, direction: 'in', length: 64 })
    await device.submit({ ep: 2, direction: 'out', data: new TextEncoder().encode('captured') })
    await read
    await device.close()
    await server.close()
    await recording.close()
    const { stdout } = await execFileAsync(
      'tshark',
      [
        '-r',
        path,
        '-T',
        'fields',
        '-e',
        'usb.urb_type',
        '-e',
        'usb.transfer_type',
        '-e',
        'usb.endpoint_address',
        '-e',
        'usb.capdata',
      ],
      { timeout: 60_000 },
    ).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') assert.fail('tshark is not installed; run scripts/vm/install-deps')
      throw err
    })
    const rows = stdout
      .trim()
      .split('\n')
      .map((line) => line.split('\t'))
    assert.equal(rows.length, 6, `three URBs, submit and complete each:\n${stdout}`)
    assert.deepEqual(
      rows.map((r) => `${r[0]} ${r[2]}`),
      ["'S' 0x80", "'C' 0x80", "'S' 0x81", "'S' 0x02", "'C' 0x02", "'C' 0x81"],
      `submit/complete order per endpoint:\n${stdout}`,
    )
    const hex = Buffer.from('captured').toString('hex')
    assert.ok(
      rows.some((r) => r[1] === '0x03' && r[2] === '0x02' && r[3]?.replaceAll(':', '') === hex),
      `bulk OUT carries the data:\n${stdout}`,
    )
    assert.ok(
      rows.some((r) => r[1] === '0x03' && r[2] === '0x81' && r[3]?.replaceAll(':', '') === hex),
      `bulk IN returns it:\n${stdout}`,
    )
    assert.ok(
      rows.some((r) => r[1] === '0x02'),
      `a control transfer is there:\n${stdout}`,
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
