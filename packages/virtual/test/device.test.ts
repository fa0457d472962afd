/**
 * Chapter 9 behaviour of the VirtualDevice base, checked through Gadget Zero the way the
 * host's usbtest driver exercises it (tests 9 and 10), plus cancel/close semantics.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Errno, parseConfigurationDescriptor, Speed } from '@tether/usbip'
import { DescriptorType, GadgetZeroDevice } from '../src/index.js'
import { assertPending, Harness } from './harness.js'

function configured(options: ConstructorParameters<typeof GadgetZeroDevice>[0] = {}): Harness {
  const device = new GadgetZeroDevice(options)
  device.open()
  const h = new Harness(device)
  assert.equal(h.setConfiguration(3).status, 0)
  return h
}

describe('VirtualDevice chapter 9', () => {
  it('reports identity defaults and overrides', () => {
    const d = new GadgetZeroDevice()
    assert.equal(d.identity.busid, '1-1')
    assert.equal(d.identity.speed, Speed.HIGH)
    const e = new GadgetZeroDevice({ busid: '1-4', busnum: 1, devnum: 4 })
    assert.equal(e.identity.busid, '1-4')
    assert.equal(e.identity.devnum, 4)
  })

  it('answers GET_DESCRIPTOR and truncates to wLength', () => {
    const h = configured()
    assert.equal(h.descriptor(DescriptorType.DEVICE, 0, 8).length, 8)
    const config = h.descriptor(DescriptorType.CONFIGURATION, 0)
    assert.equal(config.length, config[2]! | (config[3]! << 8))
    assert.equal(h.descriptor(DescriptorType.CONFIGURATION, 1)[5], 2, 'second config is loopback')
    assert.equal(h.getDescriptor(DescriptorType.CONFIGURATION, 2).status, Errno.EPIPE)
    assert.equal(h.getDescriptor(DescriptorType.STRING, 9).status, Errno.EPIPE)
    assert.equal(h.getDescriptor(DescriptorType.INTERFACE, 0).status, Errno.EPIPE)
    assert.equal(h.getDescriptor(DescriptorType.ENDPOINT, 0).status, Errno.EPIPE)
    assert.equal(h.getDescriptor(DescriptorType.BOS, 0).status, Errno.EPIPE, 'bcdUSB 2.00 has no BOS')
  })

  it('gives a device qualifier and other-speed configs at high speed, and stalls them at full speed', () => {
    const hs = configured()
    const q = hs.descriptor(DescriptorType.DEVICE_QUALIFIER, 0, 10)
    assert.equal(q.length, 10)
    assert.equal(q[8], 2, 'bNumConfigurations')
    const other = hs.descriptor(DescriptorType.OTHER_SPEED_CONFIGURATION, 0, 256)
    assert.equal(other[1], DescriptorType.OTHER_SPEED_CONFIGURATION)
    assert.equal(other[0], 9)
    const full = parseConfigurationDescriptor(Uint8Array.of(9, 2, ...other.subarray(2)))
    assert.equal(full.altSettings[0]?.endpoints[0]?.maxPacketSize, 64)

    const fs = configured({ speed: Speed.FULL })
    assert.equal(fs.getDescriptor(DescriptorType.DEVICE_QUALIFIER, 0, 10).status, Errno.EPIPE)
    assert.equal(fs.getDescriptor(DescriptorType.OTHER_SPEED_CONFIGURATION, 0, 256).status, Errno.EPIPE)
  })

  it('passes the usbtest test 9 checks (ch9_postconfig)', () => {
    const h = configured()
    const config = h.controlNow({ requestType: 0x80, request: 0x08, value: 0, index: 0, length: 1 })
    assert.deepEqual([...(config.data ?? [])], [3])
    for (let i = 0; i < 2; i++) {
      const c = h.descriptor(DescriptorType.CONFIGURATION, i, 256)
      assert.equal(c[0], 9)
      assert.equal(c[7]! & 0x1f, 0, 'reserved bmAttributes bits clear')
      assert.equal(c[2]! | (c[3]! << 8), c.length)
    }
    const deviceStatus = h.controlNow({ requestType: 0x80, request: 0x00, value: 0, index: 0, length: 2 })
    assert.deepEqual([...(deviceStatus.data ?? [])], [1, 0], 'self-powered')
    const ifaceStatus = h.controlNow({ requestType: 0x81, request: 0x00, value: 0, index: 0, length: 2 })
    assert.deepEqual([...(ifaceStatus.data ?? [])], [0, 0])
    const alt = h.controlNow({ requestType: 0x81, request: 0x0a, value: 0, index: 0, length: 1 })
    assert.deepEqual([...(alt.data ?? [])], [0])
    assert.equal(
      h.controlNow({ requestType: 0x81, request: 0x0a, value: 0, index: 5, length: 1 }).status,
      Errno.EPIPE,
    )
  })

  it('handles the usbtest test 10 control queue in order with the expected stalls', () => {
    const h = configured()
    const get = (wValue: number, length: number) => ({
      requestType: 0x80,
      request: 0x06,
      value: wValue,
      index: 0,
      length,
    })
    // The 16 subcases of test_ctrl_queue, with the statuses usbtest accepts (short reads are the session's job).
    const cases: {
      setup: Parameters<Harness['control']>[0]
      ok: (status: number, length: number) => boolean
    }[] = [
      { setup: get(0x0100, 18), ok: (s, n) => s === 0 && n === 18 },
      { setup: get(0x0200, 9), ok: (s, n) => s === 0 && n === 9 },
      {
        setup: { requestType: 0x81, request: 0x0a, value: 0, index: 0, length: 1 },
        ok: (s) => s === 0 || s === Errno.EPIPE,
      },
      {
        setup: { requestType: 0x81, request: 0x00, value: 0, index: 0, length: 2 },
        ok: (s, n) => s === 0 && n === 2,
      },
      {
        setup: { requestType: 0x80, request: 0x00, value: 0, index: 0, length: 2 },
        ok: (s, n) => s === 0 && n === 2,
      },
      { setup: get(0x0600, 10), ok: (s, n) => s === 0 && n === 10 },
      { setup: get(0x0200, 18), ok: (s, n) => s === 0 && n === 18 },
      { setup: get(0x0400, 9), ok: (s) => s === Errno.EPIPE },
      {
        setup: { requestType: 0x02, request: 0x01, value: 0, index: 0, length: 0 },
        ok: (s) => s === 0 || s === Errno.EPIPE,
      },
      {
        setup: { requestType: 0x82, request: 0x00, value: 0, index: 0, length: 2 },
        ok: (s, n) => s === 0 && n === 2,
      },
      { setup: get(0x0200, 1024), ok: (s, n) => s === 0 && n < 1024 },
      { setup: get(0x0500, 9), ok: (s) => s === Errno.EPIPE },
      { setup: get(0x0300, 9), ok: (s, n) => (s === 0 && n < 9) || s === Errno.EPIPE },
      { setup: get(0x0200, 1024 - 64), ok: (s, n) => s === 0 && n < 1024 - 64 },
      { setup: get(0x0100, 64), ok: (s, n) => s === 0 && n === 18 },
      { setup: get(0x0f00, 5), ok: (s) => s === Errno.EPIPE },
    ]
    const before = h.completionOrder.length
    const submitted = cases.map((c) => h.control(c.setup))
    assert.deepEqual(
      h.completionOrder.slice(before),
      submitted.map((s) => s.seqnum),
      'completions in submission order',
    )
    submitted.forEach((s, i) => {
      assert.ok(s.completion, `subcase ${i} pending`)
      const length = s.completion.data?.length ?? s.completion.actualLength ?? 0
      assert.ok(
        cases[i]!.ok(s.completion.status, length),
        `subcase ${i}: status ${s.completion.status} length ${length}`,
      )
    })
    h.assertCompletedAtMostOnce()
  })

  it('sets, reports and clears an endpoint halt (usbtest test 13)', async () => {
    const h = configured()
    const setHalt = { requestType: 0x02, request: 0x03, value: 0, index: 0x81, length: 0 }
    const epStatus = { requestType: 0x82, request: 0x00, value: 0, index: 0x81, length: 2 }
    assert.deepEqual([...(h.controlNow(epStatus).data ?? [])], [0, 0])
    assert.equal(h.controlNow(setHalt).status, 0)
    assert.deepEqual([...(h.controlNow(epStatus).data ?? [])], [1, 0])
    assert.equal((await h.bulkIn(0x81, 512).result).status, Errno.EPIPE)
    assert.equal((await h.bulkIn(0x81, 512).result).status, Errno.EPIPE)
    assert.equal(h.clearHalt(0x81).status, 0)
    assert.deepEqual([...(h.controlNow(epStatus).data ?? [])], [0, 0])
    const ok = await h.bulkIn(0x81, 512).result
    assert.equal(ok.status, 0)
    assert.equal(ok.data?.length, 512)
    // OUT side too, and an endpoint that doesn't exist stalls.
    assert.equal(h.controlNow({ ...setHalt, index: 0x01 }).status, 0)
    assert.equal((await h.bulkOut(0x01, new Uint8Array(512)).result).status, Errno.EPIPE)
    assert.equal(h.clearHalt(0x01).status, 0)
    assert.equal((await h.bulkOut(0x01, new Uint8Array(512)).result).status, 0)
    assert.equal(h.controlNow({ ...epStatus, index: 0x85 }).status, Errno.EPIPE)
    assert.equal(h.clearHalt(0x85).status, Errno.EPIPE)
  })

  it('rejects unknown configurations and interfaces, and transfers while unconfigured', async () => {
    const device = new GadgetZeroDevice()
    device.open()
    const h = new Harness(device)
    assert.equal((await h.bulkIn(0x81, 64).result).status, Errno.EPIPE, 'unconfigured')
    assert.equal(h.setConfiguration(7).status, Errno.EPIPE)
    assert.equal(h.setConfiguration(2).status, 0)
    assert.equal(device.configurationValue, 2)
    assert.equal(h.setInterface(0, 0).status, 0)
    assert.equal(h.setInterface(0, 1).status, Errno.EPIPE)
    assert.equal(h.setInterface(3, 0).status, Errno.EPIPE)
  })

  it('cancel completes a pending transfer once with ECONNRESET; a second cancel does nothing', () => {
    const h = configured()
    h.setConfiguration(2) // loopback: IN waits for data
    const pending = h.bulkIn(0x81, 512)
    assertPending(pending)
    h.device.cancel(pending.seqnum)
    assert.equal(pending.completion?.status, Errno.ECONNRESET)
    assert.equal(pending.completion?.data?.length ?? 0, 0)
    h.device.cancel(pending.seqnum)
    h.device.cancel(9999)
    assert.equal(pending.calls, 1)
  })

  it('close completes everything pending with ECONNRESET and forgets the configuration', () => {
    const h = configured()
    h.setConfiguration(2)
    const a = h.bulkIn(0x81, 512)
    const b = h.bulkIn(0x81, 512)
    h.device.close()
    assert.equal(a.completion?.status, Errno.ECONNRESET)
    assert.equal(b.completion?.status, Errno.ECONNRESET)
    assert.equal((h.device as GadgetZeroDevice).configurationValue, 0)
    assert.equal((h.device as GadgetZeroDevice).pendingCount, 0)
    h.assertCompletedAtMostOnce()
  })

  it('SET_CONFIGURATION ends transfers of the old configuration with ESHUTDOWN', () => {
    const h = configured()
    h.setConfiguration(2)
    const pending = h.bulkIn(0x81, 512)
    h.setConfiguration(3)
    assert.equal(pending.completion?.status, Errno.ESHUTDOWN)
  })
})

describe('VirtualDevice model isolation', () => {
  class Exploding extends GadgetZeroDevice {
    protected override handleTransfer(): void {
      throw new Error('model bug')
    }
  }

  it('turns a throwing model into EPROTO and keeps serving the endpoint', () => {
    const errors: string[] = []
    const logger = {
      debug() {},
      info() {},
      warn() {},
      error: (message: string) => errors.push(message),
      child: () => logger,
    }
    const device = new Exploding({ logger })
    device.open()
    const h = new Harness(device)
    h.setConfiguration(3)
    assert.equal(h.bulkIn(0x81, 64).completion?.status, Errno.EPROTO)
    assert.equal(h.bulkIn(0x81, 64).completion?.status, Errno.EPROTO)
    assert.equal(errors.length, 2)
    assert.equal(h.descriptor(DescriptorType.DEVICE, 0, 18).length, 18, 'ep0 unaffected')
  })
})
