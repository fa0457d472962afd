/**
 * Isochronous transfers through the VirtualDevice base and PendingTransfer.completeIso, with a
 * model that holds its transfers so cancel, close and ordering can be checked.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type DeviceDescriptors, Errno } from '@tether/usbip'
import {
  configurationDescriptor,
  deviceDescriptor,
  endpointDescriptor,
  interfaceBlock,
  type PendingTransfer,
  VirtualDevice,
} from '../src/index.js'
import { assertPending, Harness } from './harness.js'

class HoldingIsoDevice extends VirtualDevice {
  readonly description = 'iso test device'
  readonly descriptors: DeviceDescriptors = {
    device: deviceDescriptor({ vendorId: 0x1234, productId: 0x5678, numConfigurations: 1 }),
    configurations: [
      configurationDescriptor({ configurationValue: 1 }, [
        interfaceBlock(
          { interfaceNumber: 0, interfaceClass: 0xff },
          {
            endpoints: [
              endpointDescriptor({ address: 0x81, type: 'isochronous', maxPacketSize: 1024, interval: 1 }),
              endpointDescriptor({ address: 0x01, type: 'isochronous', maxPacketSize: 1024, interval: 1 }),
            ],
          },
        ),
      ]),
    ],
  }
  readonly held: PendingTransfer[] = []

  protected override handleTransfer(transfer: PendingTransfer): void {
    if (!this.held.includes(transfer)) this.held.push(transfer)
  }
}

function attach(): { device: HoldingIsoDevice; h: Harness } {
  const device = new HoldingIsoDevice()
  device.open()
  const h = new Harness(device)
  assert.equal(h.setConfiguration(1).status, 0)
  return { device, h }
}

describe('isochronous transfers in the device base', () => {
  it('completeIso sums packet lengths, counts packet errors and passes IN data through', () => {
    const { device, h } = attach()
    const s = h.isoIn(0x81, [100, 100, 100])
    assertPending(s)
    const data = new Uint8Array(150).fill(9)
    assert.ok(
      device.held[0]?.completeIso(
        [
          { actualLength: 100, status: 0 },
          { actualLength: 0, status: Errno.EPROTO },
          { actualLength: 50, status: 0 },
        ],
        data,
      ),
    )
    assert.deepEqual(s.completion, {
      status: 0,
      actualLength: 150,
      errorCount: 1,
      isoPackets: [
        { actualLength: 100, status: 0 },
        { actualLength: 0, status: Errno.EPROTO },
        { actualLength: 50, status: 0 },
      ],
      data,
    })
  })

  it('completeIso throws (a model bug) on results that do not line up with the request', () => {
    const { device, h } = attach()
    const wrongCount = h.isoOut(0x01, new Uint8Array(200), [100, 100])
    assert.throws(() => device.held[0]?.completeIso([{ actualLength: 100, status: 0 }]), RangeError)
    assertPending(wrongCount, 'a rejected completion leaves the transfer pending')
    assert.throws(
      () =>
        device.held[0]?.completeIso([
          { actualLength: 100, status: 0 },
          { actualLength: 101, status: 0 },
        ]),
      RangeError,
    )
    const packedWrong = h.isoIn(0x81, [10])
    assert.throws(
      () => device.held[1]?.completeIso([{ actualLength: 10, status: 0 }], new Uint8Array(9)),
      RangeError,
    )
    assertPending(packedWrong)
  })

  it('cancel fails a held iso URB with ECONNRESET and hands the next queued one to the model', () => {
    const { device, h } = attach()
    const first = h.isoIn(0x81, [1024, 1024])
    const second = h.isoIn(0x81, [1024, 1024])
    assert.equal(device.held.length, 1, 'one active transfer per endpoint')
    h.device.cancel(first.seqnum)
    assert.equal(first.completion?.status, Errno.ECONNRESET)
    assert.equal(device.held.length, 2)
    device.held[1]?.completeIso(
      [
        { actualLength: 1024, status: 0 },
        { actualLength: 1024, status: 0 },
      ],
      new Uint8Array(2048),
    )
    assert.equal(second.completion?.status, 0)
    assert.equal(device.held[0]?.completeIso([], new Uint8Array(0)), false, 'already finished')
    h.assertCompletedAtMostOnce()
  })

  it('close fails every pending iso URB with ECONNRESET', () => {
    const { h } = attach()
    const a = h.isoOut(0x01, new Uint8Array(1024), [1024])
    const b = h.isoOut(0x01, new Uint8Array(1024), [1024])
    h.device.close()
    assert.equal(a.completion?.status, Errno.ECONNRESET)
    assert.equal(b.completion?.status, Errno.ECONNRESET)
    h.assertCompletedAtMostOnce()
  })
})
