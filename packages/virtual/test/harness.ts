/**
 * Drives a UsbDeviceBackend the way the session engine does, without sockets: builds requests,
 * records every `done` call (so tests can assert exactly-once), and offers ch9 shortcuts.
 */
import assert from 'node:assert/strict'
import type {
  BackendCompletion,
  BackendRequest,
  IsoPacketRequest,
  TransferRequest,
  TransferType,
  UsbDeviceBackend,
} from '@tether/usbip'
import { DescriptorType, encodeSetup, type SetupPacket } from '../src/index.js'

export interface Submitted {
  readonly seqnum: number
  readonly result: Promise<BackendCompletion>
  /** Set once `done` ran; undefined while pending. */
  readonly completion: BackendCompletion | undefined
  /** How many times `done` ran (must end up exactly 1). */
  readonly calls: number
}

export class Harness {
  readonly device: UsbDeviceBackend
  readonly submitted: Submitted[] = []
  /** Seqnums in the order their `done` ran. */
  readonly completionOrder: number[] = []
  #seqnum = 1

  constructor(device: UsbDeviceBackend) {
    this.device = device
  }

  submit(request: BackendRequest): Submitted {
    let resolve!: (c: BackendCompletion) => void
    const result = new Promise<BackendCompletion>((r) => {
      resolve = r
    })
    const record = {
      seqnum: request.seqnum,
      result,
      completion: undefined as BackendCompletion | undefined,
      calls: 0,
    }
    this.submitted.push(record)
    this.device.submit(request, (completion) => {
      record.calls++
      this.completionOrder.push(request.seqnum)
      record.completion = completion
      resolve(completion)
    })
    return record
  }

  nextSeqnum(): number {
    return this.#seqnum++
  }

  transfer(fields: {
    endpoint: number
    direction: 'in' | 'out'
    type: TransferType
    length?: number
    data?: Uint8Array
    setup?: Uint8Array
    zeroPacket?: boolean
    isoPackets?: readonly IsoPacketRequest[]
    maxPacketSize?: number
  }): Submitted {
    const data = fields.data ?? new Uint8Array(0)
    const request: TransferRequest = {
      kind: 'transfer',
      seqnum: this.nextSeqnum(),
      endpoint: fields.endpoint,
      direction: fields.direction,
      type: fields.type,
      setup: fields.setup,
      data,
      length: fields.length ?? data.length,
      zeroPacket: fields.zeroPacket ?? false,
      shortNotOk: false,
      maxPacketSize: fields.maxPacketSize ?? (fields.endpoint === 0 ? 64 : 512),
      isoPackets: fields.isoPackets ?? [],
      interval: fields.isoPackets ? 8 : 0,
      startFrame: 0,
    }
    return this.submit(request)
  }

  control(setup: SetupPacket, data?: Uint8Array): Submitted {
    const deviceToHost = (setup.requestType & 0x80) !== 0
    return this.transfer({
      endpoint: 0,
      direction: deviceToHost ? 'in' : 'out',
      type: 'control',
      setup: encodeSetup(setup),
      length: deviceToHost ? setup.length : (data?.length ?? 0),
      ...(deviceToHost ? {} : { data: data ?? new Uint8Array(0) }),
    })
  }

  /** A control request that must complete synchronously; returns its completion. */
  controlNow(setup: SetupPacket, data?: Uint8Array): BackendCompletion {
    const s = this.control(setup, data)
    assert.ok(s.completion, `control request ${JSON.stringify(setup)} did not complete synchronously`)
    return s.completion
  }

  getDescriptor(type: number, index: number, length = 0xffff): BackendCompletion {
    return this.controlNow({ requestType: 0x80, request: 0x06, value: (type << 8) | index, index: 0, length })
  }

  /** Descriptor bytes, asserting success. */
  descriptor(type: number, index = 0, length = 0xffff): Uint8Array {
    const c = this.getDescriptor(type, index, length)
    assert.equal(c.status, 0, `GET_DESCRIPTOR(${type}, ${index}) failed with ${c.status}`)
    assert.ok(c.data)
    return c.data
  }

  /** Enumerate the way Linux does: device descriptor, then each configuration (header, then whole). */
  enumerate(): { device: Uint8Array; configurations: Uint8Array[] } {
    const device = this.descriptor(DescriptorType.DEVICE, 0, 18)
    const configurations: Uint8Array[] = []
    for (let i = 0; i < device[17]!; i++) {
      const header = this.descriptor(DescriptorType.CONFIGURATION, i, 9)
      const total = header[2]! | (header[3]! << 8)
      configurations.push(this.descriptor(DescriptorType.CONFIGURATION, i, total))
    }
    return { device, configurations }
  }

  setConfiguration(configurationValue: number): BackendCompletion {
    return this.submitNow({ kind: 'set-configuration', seqnum: this.nextSeqnum(), configurationValue })
  }

  setInterface(interfaceNumber: number, alternateSetting: number): BackendCompletion {
    return this.submitNow({
      kind: 'set-interface',
      seqnum: this.nextSeqnum(),
      interfaceNumber,
      alternateSetting,
    })
  }

  clearHalt(endpointAddress: number): BackendCompletion {
    return this.submitNow({ kind: 'clear-halt', seqnum: this.nextSeqnum(), endpointAddress })
  }

  submitNow(request: BackendRequest): BackendCompletion {
    const s = this.submit(request)
    assert.ok(s.completion, `${request.kind} did not complete synchronously`)
    return s.completion
  }

  bulkIn(endpoint: number, length: number): Submitted {
    return this.transfer({ endpoint: endpoint & 0x7f, direction: 'in', type: 'bulk', length })
  }

  bulkOut(endpoint: number, data: Uint8Array, zeroPacket = false): Submitted {
    return this.transfer({ endpoint, direction: 'out', type: 'bulk', data, zeroPacket })
  }

  interruptIn(endpoint: number, length: number): Submitted {
    return this.transfer({ endpoint: endpoint & 0x7f, direction: 'in', type: 'interrupt', length })
  }

  /** Iso IN of packets with these lengths, laid out back to back like usbtest's iso URBs. */
  isoIn(endpoint: number, packetLengths: readonly number[], maxPacketSize = 1024): Submitted {
    const isoPackets = isoLayout(packetLengths)
    const length = packetLengths.reduce((a, b) => a + b, 0)
    return this.transfer({
      endpoint: endpoint & 0x7f,
      direction: 'in',
      type: 'isochronous',
      length,
      isoPackets,
      maxPacketSize,
    })
  }

  /** Iso OUT: `data` split into packets of the given lengths, in order. */
  isoOut(
    endpoint: number,
    data: Uint8Array,
    packetLengths: readonly number[],
    maxPacketSize = 1024,
  ): Submitted {
    return this.transfer({
      endpoint,
      direction: 'out',
      type: 'isochronous',
      data,
      isoPackets: isoLayout(packetLengths),
      maxPacketSize,
    })
  }

  /** Every `done` so far ran exactly once (pending ones: zero times). */
  assertCompletedAtMostOnce(): void {
    for (const s of this.submitted) assert.ok(s.calls <= 1, `seqnum ${s.seqnum} completed ${s.calls} times`)
  }
}

/** Let promise callbacks (file or memory I/O) run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r))
}

export const ascii = (bytes: Uint8Array | undefined): string =>
  new TextDecoder().decode(bytes ?? new Uint8Array(0))

/** Assert a transfer is still pending (a helper, so TypeScript doesn't narrow `completion` to never). */
export function assertPending(s: Submitted, message = `seqnum ${s.seqnum} should be pending`): void {
  assert.equal(s.completion, undefined, message)
}

function isoLayout(lengths: readonly number[]): IsoPacketRequest[] {
  let offset = 0
  return lengths.map((length) => {
    const packet = { offset, length }
    offset += length
    return packet
  })
}
