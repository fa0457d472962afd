import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Errno, parseConfigurationDescriptor } from '@tether/usbip'
import {
  CdcAcmDevice,
  type CdcAcmOptions,
  CdcRequest,
  DescriptorType,
  decodeLineCoding,
  encodeLineCoding,
  ScriptedBoardPeer,
} from '../src/index.js'
import { ascii, assertPending, Harness } from './harness.js'

const IN = CdcAcmDevice.BULK_IN
const OUT = CdcAcmDevice.BULK_OUT
const text = (s: string) => new TextEncoder().encode(s)
const classOut = (request: number, value: number, length = 0) => ({
  requestType: 0x21,
  request,
  value,
  index: 0,
  length,
})

function attach(options: CdcAcmOptions = {}): { device: CdcAcmDevice; h: Harness } {
  const device = new CdcAcmDevice(options)
  device.open()
  const h = new Harness(device)
  const { configurations } = h.enumerate()
  const value = parseConfigurationDescriptor(configurations[0]!).configurationValue
  assert.equal(h.setConfiguration(value).status, 0)
  return { device, h }
}

describe('CDC-ACM descriptors', () => {
  it('enumerates as two interfaces tied by a Union descriptor', () => {
    const { h } = attach()
    const { device, configurations } = h.enumerate()
    assert.deepEqual([device[4], device[5], device[6]], [0xef, 0x02, 0x01], 'IAD device class triple')
    const raw = configurations[0]!
    const config = parseConfigurationDescriptor(raw)
    assert.equal(config.totalLength, raw.length)
    assert.equal(config.numInterfaces, 2)
    assert.deepEqual(config.associations[0], {
      firstInterface: 0,
      interfaceCount: 2,
      functionClass: 2,
      functionSubClass: 2,
      functionProtocol: 1,
      functionIndex: 0,
    })
    const [comm, data] = config.altSettings
    assert.deepEqual([comm?.interfaceClass, comm?.interfaceSubClass, comm?.interfaceProtocol], [2, 2, 1])
    const functional = comm!.extra.filter((d) => d.type === DescriptorType.CS_INTERFACE)
    assert.deepEqual(
      functional.map((d) => d.bytes[2]),
      [0x00, 0x01, 0x02, 0x06],
      'header, call management, ACM, union',
    )
    const union = functional.find((d) => d.bytes[2] === 0x06)!
    assert.deepEqual([...union.bytes], [5, 0x24, 0x06, 0, 1])
    assert.deepEqual(comm?.endpoints, [{ address: 0x83, type: 'interrupt', maxPacketSize: 16, interval: 9 }])
    assert.equal(data?.interfaceClass, 0x0a)
    assert.deepEqual(
      data?.endpoints.map((e) => [e.address, e.type, e.maxPacketSize]),
      [
        [0x81, 'bulk', 512],
        [0x02, 'bulk', 512],
      ],
    )
  })

  it('can leave out the interface association', () => {
    const { h } = attach({ interfaceAssociation: false })
    const { device, configurations } = h.enumerate()
    assert.equal(device[4], 0x02)
    assert.equal(parseConfigurationDescriptor(configurations[0]!).associations.length, 0)
  })
})

describe('CDC-ACM data path', () => {
  it('echoes bytes into IN URBs that were submitted before the data existed', async () => {
    const { h } = attach()
    const reads = [h.bulkIn(IN, 1024), h.bulkIn(IN, 1024), h.bulkIn(IN, 1024)]
    assert.ok(
      reads.every((r) => r.completion === undefined),
      'IN URBs wait for data',
    )
    const write = h.bulkOut(OUT, text('hello'))
    assert.equal(write.completion?.status, 0)
    assert.equal(write.completion?.actualLength, 5)
    const first = await reads[0]!.result
    assert.equal(first.status, 0)
    assert.equal(ascii(first.data), 'hello')
    assertPending(reads[1]!, 'later URBs still pending')
    h.bulkOut(OUT, text('world'))
    assert.equal(ascii((await reads[1]!.result).data), 'world')
    h.assertCompletedAtMostOnce()
  })

  it('splits data larger than one URB across URBs in order', () => {
    const { h } = attach()
    const big = new Uint8Array(2500).map((_, i) => i & 0xff)
    h.bulkOut(OUT, big)
    const a = h.bulkIn(IN, 1024)
    const b = h.bulkIn(IN, 1024)
    const c = h.bulkIn(IN, 1024)
    const got = [a, b, c].map((r) => r.completion?.data?.length)
    assert.deepEqual(got, [1024, 1024, 452])
    assert.deepEqual([...(c.completion?.data ?? [])], [...big.subarray(2048)])
  })

  it('completes cancelled IN URBs with ECONNRESET (cdc_acm unlinks its reads on close)', () => {
    const { device, h } = attach()
    const reads = Array.from({ length: 16 }, () => h.bulkIn(IN, 1024))
    for (const r of reads.slice(0, 8)) h.device.cancel(r.seqnum)
    for (const r of reads.slice(0, 8)) assert.equal(r.completion?.status, Errno.ECONNRESET)
    device.writeToHost('x')
    assert.equal(ascii(reads[8]!.completion?.data), 'x', 'the oldest live URB gets the data')
    device.close()
    for (const r of reads.slice(9)) assert.equal(r.completion?.status, Errno.ECONNRESET)
    h.assertCompletedAtMostOnce()
  })

  it('keeps the notification URB pending, and reports SERIAL_STATE when DTR rises', () => {
    const { h } = attach()
    const notify = h.interruptIn(0x83, 16)
    assertPending(notify)
    assert.equal(h.controlNow(classOut(CdcRequest.SET_CONTROL_LINE_STATE, 0x03)).status, 0)
    assert.deepEqual([...(notify.completion?.data ?? [])], [0xa1, 0x20, 0, 0, 0, 0, 2, 0, 0x03, 0])
    const next = h.interruptIn(0x83, 16)
    assertPending(next)
    h.device.cancel(next.seqnum)
    assert.equal(next.completion?.status, Errno.ECONNRESET)
  })

  it('lets tests inject board bytes and observe host bytes', () => {
    const { device, h } = attach({ peer: { attach() {}, detach() {}, receive() {} } })
    const seen: string[] = []
    device.onHostData((bytes) => seen.push(ascii(bytes)))
    h.bulkOut(OUT, text('AT\r'))
    assert.deepEqual(seen, ['AT\r'])
    device.writeToHost('OK\r\n')
    assert.equal(device.bufferedToHost, 4)
    assert.equal(ascii(h.bulkIn(IN, 64).completion?.data), 'OK\r\n')
  })

  it('bounds what it buffers for a host that is not reading', () => {
    const { device } = attach({ maxBufferedBytes: 8 })
    device.writeToHost('0123456789ab')
    assert.equal(device.bufferedToHost, 8)
    assert.equal(device.droppedBytes, 4)
  })
})

describe('CDC-ACM class requests', () => {
  it('stores SET_LINE_CODING and returns it from GET_LINE_CODING', () => {
    const { device, h } = attach()
    const getCoding = {
      requestType: 0xa1,
      request: CdcRequest.GET_LINE_CODING,
      value: 0,
      index: 0,
      length: 7,
    }
    assert.deepEqual(decodeLineCoding(h.controlNow(getCoding).data!), {
      baudRate: 115200,
      stopBits: 0,
      parity: 0,
      dataBits: 8,
    })
    const coding = { baudRate: 9600, stopBits: 2, parity: 2, dataBits: 7 }
    const set = h.controlNow(classOut(CdcRequest.SET_LINE_CODING, 0, 7), encodeLineCoding(coding))
    assert.equal(set.status, 0)
    assert.equal(set.actualLength, 7)
    assert.deepEqual(decodeLineCoding(h.controlNow(getCoding).data!), coding)
    assert.deepEqual(device.lineCoding, coding)
    assert.equal(
      h.controlNow(classOut(CdcRequest.SET_LINE_CODING, 0, 3), new Uint8Array(3)).status,
      Errno.EPIPE,
    )
  })

  it('tracks DTR/RTS, passes SEND_BREAK to the peer, and stalls unknown requests', () => {
    const events: string[] = []
    const { device, h } = attach({
      peer: {
        attach() {},
        detach() {},
        receive() {},
        controlLines: (l) => events.push(`dtr=${l.dtr} rts=${l.rts}`),
        sendBreak: (ms) => events.push(`break ${ms}`),
      },
    })
    h.controlNow(classOut(CdcRequest.SET_CONTROL_LINE_STATE, 0x01))
    assert.deepEqual(device.controlLines, { dtr: true, rts: false })
    h.controlNow(classOut(CdcRequest.SEND_BREAK, 250))
    assert.deepEqual(events, ['dtr=true rts=false', 'break 250'])
    assert.equal(h.controlNow(classOut(0x42, 0)).status, Errno.EPIPE)
    assert.equal(
      h.controlNow({ ...classOut(CdcRequest.SET_CONTROL_LINE_STATE, 1), index: 1 }).status,
      Errno.EPIPE,
    )
    assert.equal(
      h.controlNow({ requestType: 0x40, request: 0x01, value: 0, index: 0, length: 0 }).status,
      Errno.EPIPE,
    )
  })
})

describe('CDC-ACM with the scripted board', () => {
  it('boots when the host opens the port, then answers a command', () => {
    const board = new ScriptedBoardPeer({ clock: () => 0 })
    const { h } = attach({ peer: board })
    const read = () => ascii(h.bulkIn(IN, 4096).completion?.data)
    h.controlNow(classOut(CdcRequest.SET_CONTROL_LINE_STATE, 0x03))
    const banner = read()
    assert.match(banner, /U-Boot 2024\.01-tether/)
    assert.ok(banner.endsWith('board$ '), 'ends at the prompt')
    h.bulkOut(OUT, text('uname -a\r'))
    const answer = read()
    assert.equal(
      answer,
      'uname -a\r\nLinux tether-board 6.1.0-tether #1 SMP PREEMPT Mon Jan  1 00:00:00 UTC 2024 armv7l GNU/Linux\r\nboard$ ',
    )
  })
})
