import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { Errno, parseConfigurationDescriptor } from '@tether/usbip'
import { CswStatus, encodeCbw, MassStorageDevice, MemoryBacking, parseCsw, ScsiOp } from '../src/index.js'
import { assertPending, Harness, settle } from './harness.js'

const IN = MassStorageDevice.BULK_IN
const OUT = MassStorageDevice.BULK_OUT

class Host {
  readonly h: Harness
  #tag = 1

  constructor(readonly device: MassStorageDevice) {
    device.open()
    this.h = new Harness(device)
    this.h.enumerate()
    assert.equal(this.h.setConfiguration(1).status, 0)
  }

  sendCbw(command: number[], dataTransferLength: number, dataIn: boolean): number {
    const tag = this.#tag++
    const cbw = encodeCbw({ tag, dataTransferLength, dataIn, lun: 0, command: Uint8Array.from(command) })
    const c = this.h.bulkOut(OUT, cbw).completion
    assert.equal(c?.status, 0, 'CBW accepted')
    return tag
  }

  async readCsw(tag: number) {
    const c = await this.h.bulkIn(IN, 13).result
    assert.equal(c.status, 0, 'CSW read')
    const csw = parseCsw(c.data!)
    assert.ok(csw, 'valid CSW')
    assert.equal(csw.tag, tag)
    return csw
  }

  /** A whole IN command, data read in URBs of `urb` bytes. */
  async commandIn(command: number[], length: number, urb = length) {
    const tag = this.sendCbw(command, length, true)
    const chunks: Uint8Array[] = []
    let received = 0
    while (received < length) {
      const want = Math.min(urb, length - received)
      const c = await this.h.bulkIn(IN, want).result
      assert.equal(c.status, 0)
      chunks.push(c.data!)
      received += c.data!.length
      if (c.data!.length < want) break // a short URB: the data phase ended
    }
    const data = Buffer.concat(chunks)
    return { data: new Uint8Array(data), csw: await this.readCsw(tag) }
  }

  /** A whole OUT command, data sent in URBs of `urb` bytes. */
  async commandOut(command: number[], payload: Uint8Array, urb = payload.length) {
    const tag = this.sendCbw(command, payload.length, false)
    for (let at = 0; at < payload.length; at += urb) {
      const c = await this.h.bulkOut(OUT, payload.subarray(at, at + urb)).result
      assert.equal(c.status, 0)
    }
    return this.readCsw(tag)
  }

  async requestSense(): Promise<[number, number, number]> {
    const { data, csw } = await this.commandIn([ScsiOp.REQUEST_SENSE, 0, 0, 0, 18, 0], 18)
    assert.equal(csw.status, CswStatus.PASSED)
    return [data[2]! & 0x0f, data[12]!, data[13]!]
  }
}

const rw10 = (op: number, lba: number, blocks: number) => [
  op,
  0,
  (lba >>> 24) & 0xff,
  (lba >>> 16) & 0xff,
  (lba >>> 8) & 0xff,
  lba & 0xff,
  0,
  (blocks >> 8) & 0xff,
  blocks & 0xff,
  0,
]

function memoryHost(blocks = 2048, readOnly = false) {
  const bytes = new Uint8Array(blocks * 512)
  return { bytes, host: new Host(new MassStorageDevice({ backing: new MemoryBacking(bytes), readOnly })) }
}

describe('mass storage descriptors and class requests', () => {
  it('is a SCSI transparent bulk-only interface and reports max LUN 0', () => {
    const { host } = memoryHost()
    const config = parseConfigurationDescriptor(host.h.descriptor(2, 0))
    const iface = config.altSettings[0]!
    assert.deepEqual([iface.interfaceClass, iface.interfaceSubClass, iface.interfaceProtocol], [8, 6, 0x50])
    assert.deepEqual(
      iface.endpoints.map((e) => [e.address, e.maxPacketSize]),
      [
        [0x81, 512],
        [0x02, 512],
      ],
    )
    const maxLun = host.h.controlNow({ requestType: 0xa1, request: 0xfe, value: 0, index: 0, length: 1 })
    assert.deepEqual([...(maxLun.data ?? [])], [0])
  })
})

describe('mass storage commands', () => {
  it('answers INQUIRY and READ CAPACITY', async () => {
    const { host } = memoryHost(4096)
    const inquiry = await host.commandIn([ScsiOp.INQUIRY, 0, 0, 0, 36, 0], 36)
    assert.equal(inquiry.csw.status, CswStatus.PASSED)
    assert.equal(inquiry.csw.residue, 0)
    assert.equal(new TextDecoder().decode(inquiry.data.subarray(8, 14)), 'Tether')
    const capacity = await host.commandIn([ScsiOp.READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0], 8)
    assert.deepEqual([...capacity.data], [0, 0, 0x0f, 0xff, 0, 0, 2, 0])
  })

  it('writes then reads back several blocks across URB splits', async () => {
    const { bytes, host } = memoryHost()
    const blocks = 48
    const payload = Uint8Array.from({ length: blocks * 512 }, (_, i) => (i * 31 + 7) & 0xff)
    const wrote = await host.commandOut(rw10(ScsiOp.WRITE_10, 100, blocks), payload, 10 * 1024)
    assert.equal(wrote.status, CswStatus.PASSED)
    assert.equal(wrote.residue, 0)
    assert.deepEqual(bytes.subarray(100 * 512, (100 + blocks) * 512), payload)
    // Odd URB size on purpose: boundaries inside blocks.
    const read = await host.commandIn(rw10(ScsiOp.READ_10, 100, blocks), payload.length, 7000)
    assert.equal(read.csw.status, CswStatus.PASSED)
    assert.deepEqual(read.data, payload)
  })

  it('serves a data phase whose URBs were all queued before the CBW', async () => {
    const { bytes, host } = memoryHost()
    bytes.fill(0x5a, 0, 4096)
    const urbs = [host.h.bulkIn(IN, 2048), host.h.bulkIn(IN, 2048), host.h.bulkIn(IN, 13)]
    const tag = host.sendCbw(rw10(ScsiOp.READ_10, 0, 8), 4096, true)
    const [a, b, csw] = await Promise.all(urbs.map((u) => u.result))
    assert.ok(a?.data?.every((x) => x === 0x5a) && a.data.length === 2048)
    assert.ok(b?.data?.every((x) => x === 0x5a) && b.data.length === 2048)
    assert.deepEqual(parseCsw(csw!.data!), { tag, residue: 0, status: CswStatus.PASSED })
  })

  it('fails an out-of-range READ with CHECK CONDITION and reports why via REQUEST SENSE', async () => {
    const { host } = memoryHost(2048)
    const tag = host.sendCbw(rw10(ScsiOp.READ_10, 2047, 2), 1024, true)
    // The host still expects data: the device stalls the data pipe, then sends the CSW.
    assert.equal((await host.h.bulkIn(IN, 1024).result).status, Errno.EPIPE)
    assert.equal(host.h.clearHalt(IN).status, 0)
    const csw = await host.readCsw(tag)
    assert.equal(csw.status, CswStatus.FAILED)
    assert.equal(csw.residue, 1024)
    assert.deepEqual(await host.requestSense(), [0x05, 0x21, 0x00])
    assert.deepEqual(await host.requestSense(), [0x00, 0x00, 0x00])
  })

  it('reports a short response with a short URB and the residue', async () => {
    const { host } = memoryHost()
    const tag = host.sendCbw([ScsiOp.INQUIRY, 0, 0, 0, 96, 0], 96, true)
    const data = await host.h.bulkIn(IN, 96).result
    assert.equal(data.data?.length, 36)
    const csw = await host.readCsw(tag)
    assert.equal(csw.status, CswStatus.PASSED)
    assert.equal(csw.residue, 60)
  })

  it('stalls after short data the host could not see end (full URB)', async () => {
    const { host } = memoryHost()
    const tag = host.sendCbw([ScsiOp.INQUIRY, 0, 0, 0, 96, 0], 96, true)
    assert.equal((await host.h.bulkIn(IN, 36).result).data?.length, 36)
    assert.equal((await host.h.bulkIn(IN, 60).result).status, Errno.EPIPE)
    host.h.clearHalt(IN)
    assert.equal((await host.readCsw(tag)).residue, 60)
  })

  it('takes and drops the data of a refused WRITE, then fails it', async () => {
    const { bytes, host } = memoryHost(64, true)
    const csw = await host.commandOut(rw10(ScsiOp.WRITE_10, 0, 2), new Uint8Array(1024).fill(9), 512)
    assert.equal(csw.status, CswStatus.FAILED)
    assert.equal(csw.residue, 1024)
    assert.ok(bytes.every((x) => x === 0))
    assert.deepEqual(await host.requestSense(), [0x07, 0x27, 0x00])
  })

  it('reports a phase error when host and device disagree on direction', async () => {
    const { host } = memoryHost()
    const tag = host.sendCbw(rw10(ScsiOp.WRITE_10, 0, 1), 512, true)
    assert.equal((await host.h.bulkIn(IN, 512).result).status, Errno.EPIPE)
    host.h.clearHalt(IN)
    assert.equal((await host.readCsw(tag)).status, CswStatus.PHASE_ERROR)
  })

  it('handles no-data commands and SYNCHRONIZE CACHE', async () => {
    const { host } = memoryHost()
    const tur = host.sendCbw([ScsiOp.TEST_UNIT_READY, 0, 0, 0, 0, 0], 0, false)
    assert.equal((await host.readCsw(tur)).status, CswStatus.PASSED)
    const sync = host.sendCbw([ScsiOp.SYNCHRONIZE_CACHE_10, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0, false)
    assert.equal((await host.readCsw(sync)).status, CswStatus.PASSED)
    const unknown = host.sendCbw([0xa1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0, false)
    assert.equal((await host.readCsw(unknown)).status, CswStatus.FAILED)
    assert.deepEqual(await host.requestSense(), [0x05, 0x20, 0x00])
  })

  it('stalls both pipes after an invalid CBW until a Bulk-Only reset and clear-halts', async () => {
    const { host } = memoryHost()
    const garbage = host.h.bulkOut(OUT, new Uint8Array(31).fill(0x41))
    assert.equal(garbage.completion?.status, 0, 'the bytes are taken')
    assert.equal((await host.h.bulkIn(IN, 13).result).status, Errno.EPIPE)
    assert.equal((await host.h.bulkOut(OUT, new Uint8Array(31)).result).status, Errno.EPIPE)
    const status = { requestType: 0x82, request: 0, value: 0, index: IN, length: 2 }
    assert.deepEqual([...(host.h.controlNow(status).data ?? [])], [1, 0])
    // Clearing the halt alone is not enough (BOT 6.6.1)...
    host.h.clearHalt(IN)
    assert.equal((await host.h.bulkIn(IN, 13).result).status, Errno.EPIPE)
    // ...Reset Recovery is: class reset, then clear both halts.
    const reset = host.h.controlNow({ requestType: 0x21, request: 0xff, value: 0, index: 0, length: 0 })
    assert.equal(reset.status, 0)
    host.h.clearHalt(IN)
    host.h.clearHalt(OUT)
    const tag = host.sendCbw([ScsiOp.TEST_UNIT_READY, 0, 0, 0, 0, 0], 0, false)
    assert.equal((await host.readCsw(tag)).status, CswStatus.PASSED)
  })

  it('cancels a pending CSW read with ECONNRESET', async () => {
    const { host } = memoryHost()
    const waiting = host.h.bulkIn(IN, 13)
    assertPending(waiting)
    host.device.cancel(waiting.seqnum)
    assert.equal(waiting.completion?.status, Errno.ECONNRESET)
    await settle()
    host.h.assertCompletedAtMostOnce()
  })
})

describe('mass storage on a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tether-virtual-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('writes through to the image and reads it back', async () => {
    const path = join(dir, 'disk.img')
    writeFileSync(path, new Uint8Array(1024 * 1024))
    const device = MassStorageDevice.fromFile(path)
    const host = new Host(device)
    const payload = Uint8Array.from({ length: 64 * 1024 }, (_, i) => (i >> 3) & 0xff)
    const csw = await host.commandOut(rw10(ScsiOp.WRITE_10, 8, 128), payload, 24 * 1024)
    assert.equal(csw.status, CswStatus.PASSED)
    const read = await host.commandIn(rw10(ScsiOp.READ_10, 8, 128), payload.length, 40 * 1024)
    assert.deepEqual(read.data, payload)
    await device.dispose()
    assert.deepEqual(new Uint8Array(readFileSync(path).subarray(8 * 512, 8 * 512 + payload.length)), payload)
  })

  it('refuses a missing image with an error naming the path', () => {
    const missing = join(dir, 'nope.img')
    assert.throws(
      () => MassStorageDevice.fromFile(missing),
      (err: Error & { code?: string }) => err.code === 'ERR_DISK_NOT_FOUND' && err.message.includes(missing),
    )
  })
})
