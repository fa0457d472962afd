import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Errno, parseConfigurationDescriptor } from '@tether/usbip'
import { GadgetZeroConfiguration, GadgetZeroDevice, type GadgetZeroOptions } from '../src/index.js'
import { assertPending, Harness } from './harness.js'

const IN = GadgetZeroDevice.BULK_IN
const OUT = GadgetZeroDevice.BULK_OUT

function attach(
  configuration: number,
  options: GadgetZeroOptions = {},
): { device: GadgetZeroDevice; h: Harness } {
  const device = new GadgetZeroDevice(options)
  device.open()
  const h = new Harness(device)
  assert.equal(h.setConfiguration(configuration).status, 0)
  return { device, h }
}

const mod63 = (length: number, maxPacket = 512) => Uint8Array.from({ length }, (_, i) => (i % maxPacket) % 63)

describe('Gadget Zero identity', () => {
  it('matches usbtest gz_info (0525:a4a0) with source/sink first, loopback second', () => {
    const device = new GadgetZeroDevice()
    device.open()
    const h = new Harness(device)
    const { device: d, configurations } = h.enumerate()
    assert.deepEqual([d[8], d[9], d[10], d[11]], [0x25, 0x05, 0xa0, 0xa4])
    assert.equal(d[4], 0xff)
    const parsed = configurations.map(parseConfigurationDescriptor)
    assert.deepEqual(
      parsed.map((c) => c.configurationValue),
      [GadgetZeroConfiguration.SOURCE_SINK, GadgetZeroConfiguration.LOOPBACK],
    )
    for (const c of parsed) {
      assert.equal(c.numInterfaces, 1)
      assert.equal(c.altSettings[0]?.interfaceClass, 0xff)
      assert.deepEqual(
        c.altSettings[0]?.endpoints.map((e) => [e.address, e.type, e.maxPacketSize]),
        [
          [0x81, 'bulk', 512],
          [0x01, 'bulk', 512],
        ],
      )
    }
    const loopFirst = new Harness(new GadgetZeroDevice({ loopDefault: true })).enumerate()
    assert.equal(
      parseConfigurationDescriptor(loopFirst.configurations[0]!).configurationValue,
      GadgetZeroConfiguration.LOOPBACK,
    )
  })
})

describe('Gadget Zero source/sink', () => {
  it('sources zeroes by default, exactly the requested length', () => {
    const { h } = attach(GadgetZeroConfiguration.SOURCE_SINK)
    const c = h.bulkIn(IN, 4096).completion
    assert.equal(c?.status, 0)
    assert.equal(c?.data?.length, 4096)
    assert.ok(c?.data?.every((b) => b === 0))
    assert.equal(h.bulkIn(IN, 10).completion?.data?.length, 10)
  })

  it('sources the mod-63 pattern restarting at each packet, and checks what it sinks', () => {
    const { device, h } = attach(GadgetZeroConfiguration.SOURCE_SINK, { pattern: 1 })
    const data = h.bulkIn(IN, 1500).completion?.data
    assert.deepEqual([...(data ?? [])], [...mod63(1500)])
    assert.equal(h.bulkOut(OUT, mod63(1024)).completion?.actualLength, 1024)
    assert.equal(device.stats.sinkPatternErrors, 0)
    h.bulkOut(OUT, new Uint8Array(64).fill(7))
    assert.equal(device.stats.sinkPatternErrors, 1)
    assert.equal(device.stats.sunkBytes, 1088)
  })

  it('round-trips the vendor control buffer (0x5b write, 0x5c read) like usbtest test 14', () => {
    const { h } = attach(GadgetZeroConfiguration.SOURCE_SINK)
    for (const length of [1, 64, 65, 512, 4096]) {
      const payload = Uint8Array.from({ length }, (_, j) => (length + j) & 0xff)
      const write = h.controlNow({ requestType: 0x40, request: 0x5b, value: 0, index: 0, length }, payload)
      assert.equal(write.status, 0)
      assert.equal(write.actualLength, length)
      const read = h.controlNow({ requestType: 0xc0, request: 0x5c, value: 0, index: 0, length })
      assert.equal(read.status, 0)
      assert.deepEqual([...(read.data ?? [])], [...payload])
    }
    const tooBig = h.controlNow({ requestType: 0xc0, request: 0x5c, value: 0, index: 0, length: 4097 })
    assert.equal(tooBig.status, Errno.EPIPE)
    const wrongDirection = h.controlNow({ requestType: 0xc0, request: 0x5b, value: 0, index: 0, length: 4 })
    assert.equal(wrongDirection.status, Errno.EPIPE)
    const withValue = h.controlNow({ requestType: 0x40, request: 0x5b, value: 1, index: 0, length: 0 })
    assert.equal(withValue.status, Errno.EPIPE)
  })

  it('survives the usbtest unlink-queued pattern (test 24): all OUT URBs complete', () => {
    const { h } = attach(GadgetZeroConfiguration.SOURCE_SINK)
    const urbs = Array.from({ length: 32 }, () => h.bulkOut(OUT, new Uint8Array(512)))
    h.device.cancel(urbs[28]!.seqnum)
    h.device.cancel(urbs[30]!.seqnum)
    assert.ok(
      urbs.every((u) => u.completion?.status === 0),
      'already completed; cancel is a no-op',
    )
    h.assertCompletedAtMostOnce()
  })
})

describe('Gadget Zero loopback', () => {
  it('returns what was written; IN waits for data', async () => {
    const { h } = attach(GadgetZeroConfiguration.LOOPBACK)
    const read = h.bulkIn(IN, 512)
    assertPending(read)
    const payload = Uint8Array.from({ length: 100 }, (_, i) => i * 3)
    assert.equal(h.bulkOut(OUT, payload).completion?.status, 0)
    const got = await read.result
    assert.deepEqual([...(got.data ?? [])], [...payload])
  })

  it('respects the IN length and keeps reading across full-packet transfers', () => {
    const { h } = attach(GadgetZeroConfiguration.LOOPBACK)
    const a = Uint8Array.from({ length: 512 }, (_, i) => i & 0xff)
    const b = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff)
    const c = Uint8Array.of(1, 2, 3)
    h.bulkOut(OUT, a)
    h.bulkOut(OUT, b)
    h.bulkOut(OUT, c)
    const first = h.bulkIn(IN, 600).completion?.data
    assert.deepEqual(
      [...(first ?? [])],
      [...a, ...b.subarray(0, 88)],
      'a full packet does not end the transfer',
    )
    const second = h.bulkIn(IN, 4096).completion?.data
    assert.deepEqual([...(second ?? [])], [...b.subarray(88)], 'the short remainder of b ends it')
    assert.deepEqual([...(h.bulkIn(IN, 4096).completion?.data ?? [])], [...c])
  })

  it('ends an IN transfer at a zero-length packet and passes a lone one through', () => {
    const { h } = attach(GadgetZeroConfiguration.LOOPBACK)
    h.bulkOut(OUT, new Uint8Array(512), true)
    h.bulkOut(OUT, new Uint8Array(0))
    assert.equal(h.bulkIn(IN, 4096).completion?.data?.length, 512)
    const zlp = h.bulkIn(IN, 4096).completion
    assert.equal(zlp?.status, 0)
    assert.equal(zlp?.data?.length, 0)
  })

  it('holds OUT transfers while the loop is full, and releases them as IN drains', () => {
    const { h } = attach(GadgetZeroConfiguration.LOOPBACK, { loopbackCapacity: 1024 })
    const w1 = h.bulkOut(OUT, new Uint8Array(1000).fill(1))
    const w2 = h.bulkOut(OUT, new Uint8Array(100).fill(2))
    assert.equal(w1.completion?.status, 0)
    assertPending(w2, 'no room: the device NAKs')
    assert.equal(h.bulkIn(IN, 1000).completion?.data?.length, 1000)
    assert.equal(w2.completion?.status, 0)
    assert.ok(h.bulkIn(IN, 1000).completion?.data?.every((x) => x === 2))
  })

  it('drops looped data on SET_INTERFACE', () => {
    const { h } = attach(GadgetZeroConfiguration.LOOPBACK)
    h.bulkOut(OUT, new Uint8Array(10))
    assert.equal(h.setInterface(0, 0).status, 0)
    assert.equal(h.bulkIn(IN, 64).completion, undefined)
  })
})

describe('Gadget Zero isochronous (source/sink alt setting 1)', () => {
  const ISO_IN = GadgetZeroDevice.ISO_IN
  const ISO_OUT = GadgetZeroDevice.ISO_OUT

  function attachIso(options: GadgetZeroOptions = {}): { device: GadgetZeroDevice; h: Harness } {
    const attached = attach(GadgetZeroConfiguration.SOURCE_SINK, options)
    assert.equal(attached.h.setInterface(0, 1).status, 0)
    assert.equal(attached.device.alternateSetting(0), 1)
    return attached
  }

  it("declares g_zero's alt 1: the bulk pair plus iso IN/OUT, 1024 bytes every 8 microframes", () => {
    const h = new Harness(new GadgetZeroDevice())
    const [sourceSink, loopback] = h.enumerate().configurations.map(parseConfigurationDescriptor)
    assert.equal(sourceSink?.numInterfaces, 1)
    assert.deepEqual(
      sourceSink?.altSettings.map((a) => [a.interfaceNumber, a.alternateSetting]),
      [
        [0, 0],
        [0, 1],
      ],
    )
    const alt1 = sourceSink?.altSettings[1]
    assert.equal(alt1?.interfaceClass, 0xff)
    assert.deepEqual(
      alt1?.endpoints.map((e) => [e.address, e.type, e.maxPacketSize, e.interval]),
      [
        [0x81, 'bulk', 512, 0],
        [0x01, 'bulk', 512, 0],
        [0x82, 'isochronous', 1024, 4],
        [0x02, 'isochronous', 1024, 4],
      ],
    )
    assert.equal(loopback?.altSettings.length, 1, 'loopback has no iso alt setting')
  })

  it('has no iso endpoints in alt 0', async () => {
    const { h } = attach(GadgetZeroConfiguration.SOURCE_SINK)
    assert.equal((await h.isoIn(ISO_IN, [1024]).result).status, Errno.EPIPE)
    assert.equal((await h.isoOut(ISO_OUT, new Uint8Array(1024), [1024]).result).status, Errno.EPIPE)
  })

  it('iso IN fills every packet in full, packed, with results lined up with the request', () => {
    const { device, h } = attachIso({ pattern: 1 })
    const lengths = [1024, 1024, 1024, 200]
    const c = h.isoIn(ISO_IN, lengths).completion
    assert.ok(c, 'completes at once')
    assert.equal(c.status, 0)
    assert.equal(c.errorCount, 0)
    assert.equal(c.actualLength, 3272)
    assert.deepEqual(
      c.isoPackets,
      lengths.map((length) => ({ actualLength: length, status: 0 })),
    )
    assert.equal(c.data?.length, 3272, 'IN data is the packets packed back to back')
    const expected = lengths.flatMap((length) => [...mod63(length, 1024)])
    assert.deepEqual([...(c.data ?? [])], expected, 'the pattern restarts with every packet')
    assert.equal(device.stats.isoSourcedPackets, 4)
    assert.equal(device.stats.sourcedBytes, 3272)
    // The bulk pair works alongside in alt 1.
    assert.equal(h.bulkIn(IN, 512).completion?.data?.length, 512)
  })

  it('iso OUT accepts every packet and reports per-packet lengths', () => {
    const { device, h } = attachIso()
    const lengths = [1024, 512, 0, 1000]
    const c = h.isoOut(ISO_OUT, new Uint8Array(2536), lengths).completion
    assert.ok(c)
    assert.equal(c.status, 0)
    assert.equal(c.actualLength, 2536)
    assert.equal(c.errorCount, 0)
    assert.equal(c.data, undefined)
    assert.deepEqual(
      c.isoPackets,
      lengths.map((length) => ({ actualLength: length, status: 0 })),
    )
    assert.equal(device.stats.isoSunkPackets, 4)
    assert.equal(device.stats.sunkBytes, 2536)
    assert.equal(device.stats.sinkPatternErrors, 0)
  })

  it('handles a usbtest-sized queue (8 URBs of 8 packets) in submission order', () => {
    const { h } = attachIso()
    const urbs = Array.from({ length: 8 }, (_, i) =>
      i % 2 === 0
        ? h.isoIn(ISO_IN, Array(8).fill(1024))
        : h.isoOut(ISO_OUT, new Uint8Array(8192), Array(8).fill(1024)),
    )
    for (const urb of urbs) {
      assert.equal(urb.completion?.status, 0)
      assert.equal(urb.completion?.actualLength, 8192)
    }
    h.assertCompletedAtMostOnce()
  })

  it('SET_INTERFACE back to alt 0 takes the iso endpoints away', async () => {
    const { h } = attachIso()
    assert.equal(h.setInterface(0, 0).status, 0)
    assert.equal((await h.isoIn(ISO_IN, [1024]).result).status, Errno.EPIPE)
  })
})
