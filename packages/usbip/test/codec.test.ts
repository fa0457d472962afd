/**
 * Golden-byte tests for the USB/IP codec. The expected bytes are written out by hand from the
 * protocol layout (big-endian, 312-byte device record, 48-byte URB header), not produced by the
 * encoder, so a packing bug in wire.ts cannot hide behind a matching decoder bug.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  ClientDecoder,
  type ClientDecoderOptions,
  encodeCmdSubmit,
  encodeCmdUnlink,
  encodeMessage,
  encodeOpRepDevlist,
  encodeOpRepImport,
  encodeOpReqDevlist,
  encodeOpReqImport,
  encodeRetSubmit,
  encodeRetUnlink,
  NEED_DATA,
  ServerDecoder,
} from '../src/codec/index.js'
import { Limits } from '../src/constants.js'
import { UsbipError, type UsbipErrorCode } from '../src/errors.js'
import type { CmdSubmit, DeviceRecord, ExportedDevice, RetSubmit, UsbipMessage } from '../src/messages.js'

// ---- byte helpers (independent of the codec) ----

/** Hex digits; whitespace and `// comments` are ignored. */
function hex(text: string): Uint8Array {
  const digits = text.replace(/\/\/[^\n]*/g, '').replace(/\s+/g, '')
  assert.match(digits, /^([0-9a-f]{2})*$/, 'test bug: malformed hex')
  return Uint8Array.from(Buffer.from(digits, 'hex'))
}

/** `text` as ASCII hex, NUL-padded to `size` bytes. */
function padded(text: string, size: number): string {
  let out = ''
  for (const char of text) out += char.charCodeAt(0).toString(16).padStart(2, '0')
  return out + '00'.repeat(size - text.length)
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts))
}

function with32(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const copy = Uint8Array.from(bytes)
  new DataView(copy.buffer).setUint32(at, value >>> 0)
  return copy
}

// ---- decoding helpers ----

type AnyDecoder = ServerDecoder | ClientDecoder

/** Every message the decoder can produce from what it holds now. */
function drain(decoder: AnyDecoder): UsbipMessage[] {
  const out: UsbipMessage[] = []
  for (let message = decoder.next(); message !== NEED_DATA; message = decoder.next()) out.push(message)
  return out
}

/** Pushes `bytes` in pieces of `chunkSize` and collects every decoded message. */
function decodeAll(decoder: AnyDecoder, bytes: Uint8Array, chunkSize = bytes.length): UsbipMessage[] {
  const out: UsbipMessage[] = []
  const step = Math.max(1, chunkSize)
  for (let at = 0; at < bytes.length; at += step) {
    decoder.push(bytes.slice(at, at + step))
    out.push(...drain(decoder))
  }
  return out
}

const urbs = new Map<number, ReturnType<ClientDecoderOptions['directionOf']>>([
  [1, { direction: 'out', length: 7 }],
  [2, { direction: 'in', length: 512 }],
  [7, 'in'],
])
const lookup: ClientDecoderOptions = { directionOf: (seqnum) => urbs.get(seqnum) }

function server(phase: 'op' | 'urb' = 'op'): ServerDecoder {
  const decoder = new ServerDecoder()
  decoder.setPhase(phase)
  return decoder
}

function client(phase: 'op' | 'urb' = 'op', options: ClientDecoderOptions = lookup): ClientDecoder {
  const decoder = new ClientDecoder(options)
  decoder.setPhase(phase)
  return decoder
}

/** Decodes `bytes` whole, one byte at a time, and split at every position: all must agree. */
function assertDecodes(make: () => AnyDecoder, bytes: Uint8Array, expected: UsbipMessage): void {
  assert.deepEqual(decodeAll(make(), bytes), [expected])
  assert.deepEqual(decodeAll(make(), bytes, 1), [expected])
  for (let split = 1; split < bytes.length; split++) {
    const decoder = make()
    decoder.push(bytes.slice(0, split))
    const messages = drain(decoder)
    decoder.push(bytes.slice(split))
    messages.push(...drain(decoder))
    assert.deepEqual(messages, [expected], `split at ${split}`)
    assert.equal(decoder.bufferedBytes, 0)
    assert.equal(decoder.retainedBytes, 0)
  }
}

function assertProtocolError(fn: () => unknown, code: UsbipErrorCode): UsbipError {
  let caught: unknown
  assert.throws(fn, (error: unknown) => {
    caught = error
    return error instanceof UsbipError && error.code === code && error.origin === 'remote'
  })
  return caught as UsbipError
}

/** Feeds `bytes` whole and expects the first next() that can decide to throw `code`. */
function assertRejects(decoder: AnyDecoder, bytes: Uint8Array, code: UsbipErrorCode): UsbipError {
  decoder.push(bytes)
  return assertProtocolError(() => decoder.next(), code)
}

// ---- golden messages ----

const device1: ExportedDevice = {
  path: '/sys/devices/pci0000:00/0000:00:1d.1/usb2/2-1',
  busid: '2-1',
  busnum: 2,
  devnum: 3,
  speed: 2,
  idVendor: 0x0403,
  idProduct: 0x6001,
  bcdDevice: 0x0600,
  deviceClass: 0,
  deviceSubClass: 0,
  deviceProtocol: 0,
  configurationValue: 1,
  numConfigurations: 1,
  numInterfaces: 1,
  interfaces: [{ interfaceClass: 0xff, interfaceSubClass: 0xff, interfaceProtocol: 0xff }],
}
const device1Hex = `
  ${padded(device1.path, 256)}
  ${padded('2-1', 32)}
  00000002 // busnum
  00000003 // devnum
  00000002 // speed FULL
  0403 6001 0600 // idVendor idProduct bcdDevice
  00 00 00 // class subclass protocol
  01 01 01 // bConfigurationValue bNumConfigurations bNumInterfaces`

const device2: ExportedDevice = {
  path: '/sys/devices/platform/vhci_hcd.0/usb1/1-1.4',
  busid: '1-1.4',
  busnum: 1,
  devnum: 5,
  speed: 3,
  idVendor: 0x1d6b,
  idProduct: 0x0104,
  bcdDevice: 0x0100,
  deviceClass: 0xef,
  deviceSubClass: 0x02,
  deviceProtocol: 0x01,
  configurationValue: 1,
  numConfigurations: 1,
  numInterfaces: 2,
  interfaces: [
    { interfaceClass: 0x02, interfaceSubClass: 0x02, interfaceProtocol: 0x01 },
    { interfaceClass: 0x0a, interfaceSubClass: 0x00, interfaceProtocol: 0x00 },
  ],
}
const device2Hex = `
  ${padded(device2.path, 256)}
  ${padded('1-1.4', 32)}
  00000001 00000005 00000003 // busnum devnum speed HIGH
  1d6b 0104 0100
  ef 02 01
  01 01 02`

const { interfaces: _unused, ...device1Record } = device1
const importedDevice: DeviceRecord = device1Record

const controlOut: CmdSubmit = {
  kind: 'CMD_SUBMIT',
  seqnum: 1,
  devid: 0x00020003,
  direction: 0,
  ep: 0,
  transferFlags: 0,
  transferBufferLength: 7,
  startFrame: 0,
  numberOfPackets: 0,
  interval: 0,
  setup: hex('21 20 0000 0000 0700'),
  data: hex('80250000 000008'),
  isoPackets: [],
}

const bulkIn: CmdSubmit = {
  kind: 'CMD_SUBMIT',
  seqnum: 2,
  devid: 0x00020003,
  direction: 1,
  ep: 1,
  transferFlags: 0x200,
  transferBufferLength: 512,
  startFrame: 0,
  numberOfPackets: -1,
  interval: 0,
  setup: new Uint8Array(8),
  data: new Uint8Array(0),
  isoPackets: [],
}

const retIn: RetSubmit = {
  kind: 'RET_SUBMIT',
  seqnum: 2,
  devid: 0,
  direction: 1,
  ep: 0,
  status: 0,
  actualLength: 5,
  startFrame: 0,
  numberOfPackets: 0,
  errorCount: 0,
  data: hex('68656c6c6f'),
  isoPackets: [],
}

const retOut: RetSubmit = { ...retIn, seqnum: 1, direction: 0, actualLength: 7, data: new Uint8Array(0) }

const retIso: RetSubmit = {
  kind: 'RET_SUBMIT',
  seqnum: 7,
  devid: 0,
  direction: 1,
  ep: 0,
  status: 0,
  actualLength: 5,
  startFrame: 0x1234,
  numberOfPackets: 3,
  errorCount: 1,
  data: hex('010203 0a0b'),
  isoPackets: [
    { offset: 0, length: 4, actualLength: 3, status: 0 },
    { offset: 4, length: 4, actualLength: 0, status: 0 },
    { offset: 8, length: 4, actualLength: 2, status: -71 },
  ],
}

interface Golden {
  readonly name: string
  readonly message: UsbipMessage
  readonly bytes: Uint8Array
  readonly decoder: () => AnyDecoder
}

const goldens: Golden[] = [
  {
    name: 'OP_REQ_DEVLIST',
    message: { kind: 'OP_REQ_DEVLIST' },
    bytes: hex('0111 8005 00000000'),
    decoder: () => server('op'),
  },
  {
    name: 'OP_REP_DEVLIST with two devices and their interfaces',
    message: { kind: 'OP_REP_DEVLIST', status: 0, devices: [device1, device2] },
    bytes: hex(`
      0111 0005 00000000 // version, OP_REP_DEVLIST, status OK
      00000002 // two devices
      ${device1Hex}
      ff ff ff 00 // interface 0: vendor specific
      ${device2Hex}
      02 02 01 00 // interface 0: CDC ACM
      0a 00 00 00 // interface 1: CDC data`),
    decoder: () => client('op'),
  },
  {
    name: 'OP_REP_DEVLIST empty',
    message: { kind: 'OP_REP_DEVLIST', status: 0, devices: [] },
    bytes: hex('0111 0005 00000000 00000000'),
    decoder: () => client('op'),
  },
  {
    name: 'OP_REQ_IMPORT',
    message: { kind: 'OP_REQ_IMPORT', busid: '2-1' },
    bytes: hex(`0111 8003 00000000 ${padded('2-1', 32)}`),
    decoder: () => server('op'),
  },
  {
    name: 'OP_REP_IMPORT OK',
    message: { kind: 'OP_REP_IMPORT', status: 0, device: importedDevice },
    bytes: hex(`0111 0003 00000000 ${device1Hex}`),
    decoder: () => client('op'),
  },
  {
    name: 'OP_REP_IMPORT NODEV (header only)',
    message: { kind: 'OP_REP_IMPORT', status: 4 },
    bytes: hex('0111 0003 00000004'),
    decoder: () => client('op'),
  },
  {
    name: 'CMD_SUBMIT OUT control with setup and data',
    message: controlOut,
    bytes: hex(`
      00000001 // CMD_SUBMIT
      00000001 // seqnum
      00020003 // devid (busnum 2, devnum 3)
      00000000 // direction OUT
      00000000 // ep 0
      00000000 // transfer_flags
      00000007 // transfer_buffer_length
      00000000 // start_frame
      00000000 // number_of_packets (Linux vhci, non-iso)
      00000000 // interval
      2120000000000700 // setup: SET_LINE_CODING, wLength 7
      80250000000008 // data: 9600 8N1`),
    decoder: () => server('urb'),
  },
  {
    name: 'CMD_SUBMIT IN bulk',
    message: bulkIn,
    bytes: hex(`
      00000001 00000002 00020003
      00000001 // direction IN
      00000001 // ep 1
      00000200 // URB_DIR_IN
      00000200 // 512 bytes
      00000000
      ffffffff // number_of_packets -1 (spec, non-iso)
      00000000
      0000000000000000`),
    decoder: () => server('urb'),
  },
  {
    name: 'RET_SUBMIT IN with data',
    message: retIn,
    bytes: hex(`
      00000003 00000002 // RET_SUBMIT, seqnum 2
      00000000 00000000 00000000 // devid, direction, ep: zero on the wire
      00000000 // status
      00000005 // actual_length
      00000000 00000000 00000000 // start_frame, number_of_packets, error_count
      0000000000000000 // padding
      68656c6c6f // "hello"`),
    decoder: () => client('urb'),
  },
  {
    name: 'RET_SUBMIT OUT (no payload)',
    message: retOut,
    bytes: hex(`
      00000003 00000001 00000000 00000000 00000000
      00000000 00000007 00000000 00000000 00000000
      0000000000000000`),
    decoder: () => client('urb'),
  },
  {
    name: 'RET_SUBMIT iso IN with three descriptors',
    message: retIso,
    bytes: hex(`
      00000003 00000007 00000000 00000000 00000000
      00000000 // status
      00000005 // actual_length = 3 + 0 + 2
      00001234 // start_frame
      00000003 // number_of_packets
      00000001 // error_count
      0000000000000000
      0102030a0b // packed IN data
      00000000 00000004 00000003 00000000 // offset length actual_length status
      00000004 00000004 00000000 00000000
      00000008 00000004 00000002 ffffffb9 // -EPROTO`),
    decoder: () => client('urb'),
  },
  {
    name: 'CMD_UNLINK',
    message: { kind: 'CMD_UNLINK', seqnum: 9, devid: 0x00020003, direction: 0, ep: 0, unlinkSeqnum: 2 },
    bytes: hex(`
      00000002 00000009 00020003 00000000 00000000
      00000002 // unlink_seqnum
      ${'00'.repeat(24)}`),
    decoder: () => server('urb'),
  },
  {
    name: 'RET_UNLINK',
    message: { kind: 'RET_UNLINK', seqnum: 9, devid: 0, direction: 0, ep: 0, status: -104 },
    bytes: hex(`
      00000004 00000009 00000000 00000000 00000000
      ffffff98 // -ECONNRESET
      ${'00'.repeat(24)}`),
    decoder: () => client('urb'),
  },
]

describe('golden bytes', () => {
  for (const golden of goldens) {
    test(`${golden.name}: encode`, () => {
      assert.equal(toHex(encodeMessage(golden.message)), toHex(golden.bytes))
    })
    test(`${golden.name}: decode whole, byte by byte and at every split`, () => {
      assertDecodes(golden.decoder, golden.bytes, golden.message)
    })
  }

  test('the specific encoders match encodeMessage', () => {
    assert.equal(toHex(encodeOpReqDevlist()), '0111800500000000')
    assert.equal(toHex(encodeOpReqImport('2-1')), toHex(goldens[3]!.bytes))
    assert.equal(toHex(encodeOpRepImport(4)), '0111000300000004')
    assert.equal(toHex(encodeOpRepImport(0, importedDevice)), toHex(goldens[4]!.bytes))
    assert.equal(toHex(encodeOpRepDevlist(0, [device1, device2])), toHex(goldens[1]!.bytes))
    assert.equal(toHex(encodeCmdSubmit(controlOut)), toHex(goldens[6]!.bytes))
    assert.equal(toHex(encodeRetSubmit(retIso)), toHex(goldens[10]!.bytes))
    const unlink = goldens[11]!
    const retUnlink = goldens[12]!
    assert.equal(unlink.message.kind, 'CMD_UNLINK')
    assert.equal(retUnlink.message.kind, 'RET_UNLINK')
    if (unlink.message.kind === 'CMD_UNLINK')
      assert.equal(toHex(encodeCmdUnlink(unlink.message)), toHex(unlink.bytes))
    if (retUnlink.message.kind === 'RET_UNLINK') {
      assert.equal(toHex(encodeRetUnlink(retUnlink.message)), toHex(retUnlink.bytes))
    }
  })

  test('RET_SUBMIT/RET_UNLINK: devid, direction and ep are zeroed on the wire', () => {
    const bytes = encodeRetSubmit({ ...retIn, devid: 0x20003, ep: 3 })
    assert.equal(toHex(bytes), toHex(goldens[8]!.bytes))
    const unlink = encodeRetUnlink({
      kind: 'RET_UNLINK',
      seqnum: 9,
      devid: 5,
      direction: 1,
      ep: 2,
      status: -104,
    })
    assert.equal(toHex(unlink), toHex(goldens[12]!.bytes))
  })

  test('RET_SUBMIT with direction 0 but IN data is encoded with its payload', () => {
    assert.equal(toHex(encodeRetSubmit({ ...retIn, direction: 0 })), toHex(goldens[8]!.bytes))
  })

  test('strings: UTF-8 (invalid bytes become U+FFFD, a BOM is kept), trimmed at the first NUL; a full field without NUL is read whole', () => {
    const bytes = encodeOpReqImport('bus-é')
    assert.equal(toHex(bytes.subarray(8, 16)), '6275732dc3a90000')
    assert.deepEqual(decodeAll(server(), bytes), [{ kind: 'OP_REQ_IMPORT', busid: 'bus-é' }])
    const garbageAfterNul = hex(`0111 8003 00000000 41 00 42 ${'43'.repeat(29)}`)
    assert.deepEqual(decodeAll(server(), garbageAfterNul), [{ kind: 'OP_REQ_IMPORT', busid: 'A' }])
    const invalidUtf8 = hex(`0111 8003 00000000 efbbbf 41 ff 42 ${'00'.repeat(26)}`)
    assert.deepEqual(decodeAll(server(), invalidUtf8), [{ kind: 'OP_REQ_IMPORT', busid: '\ufeffA\ufffdB' }])
    const noNul = hex(`0111 8003 00000000 ${'41'.repeat(32)}`)
    assert.deepEqual(decodeAll(server(), noNul), [{ kind: 'OP_REQ_IMPORT', busid: 'A'.repeat(32) }])
  })
})

describe('decoder behaviour', () => {
  test('several messages in one chunk, and a phase switch between two of them', () => {
    const stream = concat(goldens[4]!.bytes, goldens[8]!.bytes, goldens[12]!.bytes)
    const decoder = client('op')
    decoder.push(stream)
    assert.deepEqual(decoder.next(), goldens[4]!.message)
    decoder.setPhase('urb')
    assert.deepEqual(decoder.next(), retIn)
    assert.deepEqual(decoder.next(), goldens[12]!.message)
    assert.equal(decoder.next(), NEED_DATA)
    assert.equal(decoder.bufferedBytes, 0)
    assert.equal(decoder.retainedBytes, 0)
  })

  test('NEED_DATA until whole; bufferedBytes counts unconsumed bytes', () => {
    const decoder = server('urb')
    assert.equal(decoder.next(), NEED_DATA)
    decoder.push(goldens[6]!.bytes.slice(0, 50))
    assert.equal(decoder.next(), NEED_DATA)
    assert.equal(decoder.bufferedBytes, 2, 'the header is consumed once validated')
    decoder.push(goldens[6]!.bytes.slice(50))
    assert.deepEqual(decoder.next(), controlOut)
    assert.equal(decoder.bufferedBytes, 0)
  })

  test('setPhase in the middle of a message is a TypeError, but fine while waiting for a header', () => {
    const waiting = server('op')
    waiting.push(goldens[0]!.bytes.slice(0, 3))
    assert.equal(waiting.next(), NEED_DATA)
    waiting.setPhase('urb')
    const decoder = server('urb')
    decoder.push(goldens[6]!.bytes.slice(0, 50))
    assert.equal(decoder.next(), NEED_DATA)
    assert.throws(() => decoder.setPhase('op'), TypeError)
  })

  test('end(): fine between messages, ERR_TRUNCATED inside one', () => {
    const idle = server('urb')
    decodeAll(idle, goldens[6]!.bytes)
    idle.end()
    const cut = server('urb')
    cut.push(goldens[6]!.bytes.slice(0, 10))
    assert.equal(cut.next(), NEED_DATA)
    assertProtocolError(() => cut.end(), 'ERR_TRUNCATED')
    const cutAfterHeader = server('urb')
    cutAfterHeader.push(goldens[6]!.bytes.slice(0, 48))
    assert.equal(cutAfterHeader.next(), NEED_DATA)
    assertProtocolError(() => cutAfterHeader.end(), 'ERR_TRUNCATED')
  })

  test('payloads and setup are plain Uint8Arrays that later pushes never change', () => {
    const decoder = server('urb')
    const chunk = Buffer.from(goldens[6]!.bytes)
    decoder.push(chunk)
    const message = decoder.next()
    assert.ok(message !== NEED_DATA && message.kind === 'CMD_SUBMIT')
    assert.equal(Object.getPrototypeOf(message.data), Uint8Array.prototype)
    assert.equal(Object.getPrototypeOf(message.setup), Uint8Array.prototype)
    decoder.push(Buffer.from(goldens[6]!.bytes))
    decoder.next()
    assert.equal(toHex(message.data), '80250000000008')
    assert.equal(toHex(message.setup), '2120000000000700')
    // setup is always a copy, even though the header was read straight from the chunk.
    chunk.fill(0xee)
    assert.equal(toHex(message.setup), '2120000000000700')
  })

  test('a large payload inside one chunk is a zero-copy view; a small one in a big chunk is copied', () => {
    const payload = new Uint8Array(4096).fill(7)
    const big = encodeRetSubmit({ ...retIn, actualLength: payload.length, data: payload })
    const own = Uint8Array.from(big)
    const decoder = client('urb', { directionOf: () => 'in' })
    decoder.push(own)
    const message = decoder.next()
    assert.ok(message !== NEED_DATA && message.kind === 'RET_SUBMIT')
    assert.equal(message.data.buffer, own.buffer)
    assert.equal(message.data.byteOffset, 48)

    const small = new Uint8Array(64 * 1024)
    small.set(goldens[8]!.bytes)
    const decoder2 = client('urb')
    decoder2.push(small.subarray(0, goldens[8]!.bytes.length))
    const message2 = decoder2.next()
    assert.ok(message2 !== NEED_DATA && message2.kind === 'RET_SUBMIT')
    assert.notEqual(message2.data.buffer, small.buffer, 'must not pin 64 KiB for 5 bytes')
    assert.equal(toHex(message2.data), '68656c6c6f')
  })

  test('directionOf is called as a method of the options object', () => {
    class InFlight implements ClientDecoderOptions {
      private readonly urbs = new Map([[2, { direction: 'in' as const, length: 512 }]])
      directionOf(seqnum: number) {
        return this.urbs.get(seqnum)
      }
    }
    assert.deepEqual(decodeAll(client('urb', new InFlight()), goldens[8]!.bytes), [retIn])
  })

  test('directionOf may return a bare direction; the length check is then skipped', () => {
    const decoder = client('urb', { directionOf: () => 'in' })
    assert.deepEqual(decodeAll(decoder, goldens[8]!.bytes), [retIn])
  })
})

describe('protocol errors', () => {
  const cmdSubmitHeader = goldens[7]!.bytes // CMD_SUBMIT IN bulk, header only
  const retInBytes = goldens[8]!.bytes
  const retIsoBytes = goldens[10]!.bytes

  test('ERR_BAD_VERSION on both sides', () => {
    assertRejects(server(), hex('0110 8005 00000000'), 'ERR_BAD_VERSION')
    assertRejects(client(), hex('0000 0005 00000000'), 'ERR_BAD_VERSION')
  })

  test('ERR_UNKNOWN_OP', () => {
    assertRejects(server(), hex('0111 8004 00000000'), 'ERR_UNKNOWN_OP')
    assertRejects(client(), hex('0111 0000 00000000'), 'ERR_UNKNOWN_OP')
  })

  test('ERR_UNEXPECTED_MESSAGE: replies to a server, requests to a client, in both phases', () => {
    assertRejects(server(), hex('0111 0005 00000000'), 'ERR_UNEXPECTED_MESSAGE')
    assertRejects(server(), hex('0111 0003 00000000'), 'ERR_UNEXPECTED_MESSAGE')
    assertRejects(client(), hex('0111 8005 00000000'), 'ERR_UNEXPECTED_MESSAGE')
    assertRejects(client(), hex('0111 8003 00000000'), 'ERR_UNEXPECTED_MESSAGE')
    assertRejects(server('urb'), retInBytes, 'ERR_UNEXPECTED_MESSAGE')
    assertRejects(server('urb'), goldens[12]!.bytes, 'ERR_UNEXPECTED_MESSAGE')
    assertRejects(client('urb'), cmdSubmitHeader, 'ERR_UNEXPECTED_MESSAGE')
    assertRejects(client('urb'), goldens[11]!.bytes, 'ERR_UNEXPECTED_MESSAGE')
  })

  test('ERR_UNKNOWN_COMMAND', () => {
    for (const command of [0, 5, 0x80000001]) {
      assertRejects(server('urb'), with32(cmdSubmitHeader, 0, command), 'ERR_UNKNOWN_COMMAND')
      assertRejects(client('urb'), with32(retInBytes, 0, command), 'ERR_UNKNOWN_COMMAND')
    }
  })

  test('ERR_TRANSFER_TOO_LONG as soon as the header is in, for 16 MiB + 1 and 2 GiB - 1', () => {
    for (const length of [Limits.maxTransferLength + 1, 0x7fffffff]) {
      const out = with32(with32(cmdSubmitHeader, 12, 0), 24, length) // OUT: payload would follow
      assertRejects(server('urb'), out.subarray(0, 48), 'ERR_TRANSFER_TOO_LONG')
      assertRejects(server('urb'), with32(cmdSubmitHeader, 24, length), 'ERR_TRANSFER_TOO_LONG')
      const ret = with32(retInBytes, 24, length)
      assertRejects(client('urb', { directionOf: () => 'in' }), ret.subarray(0, 48), 'ERR_TRANSFER_TOO_LONG')
    }
  })

  test('ERR_BAD_FIELD: negative lengths, direction, endpoint, interfaces, speed', () => {
    assertRejects(server('urb'), with32(cmdSubmitHeader, 24, 0x80000000), 'ERR_BAD_FIELD')
    assertRejects(server('urb'), with32(cmdSubmitHeader, 12, 2), 'ERR_BAD_FIELD')
    assertRejects(server('urb'), with32(cmdSubmitHeader, 16, 16), 'ERR_BAD_FIELD')
    assertRejects(server('urb'), with32(goldens[11]!.bytes, 12, 7), 'ERR_BAD_FIELD')
    assertRejects(client('urb'), with32(retInBytes, 24, -5), 'ERR_BAD_FIELD')
    const devlist = goldens[1]!.bytes
    const numInterfacesAt = 12 + 311
    const tooManyInterfaces = Uint8Array.from(devlist)
    tooManyInterfaces[numInterfacesAt] = Limits.maxInterfaces + 1
    assertRejects(client(), tooManyInterfaces, 'ERR_BAD_FIELD')
    assertRejects(client(), with32(devlist, 12 + 296, 7), 'ERR_BAD_FIELD')
    assertRejects(client(), with32(goldens[4]!.bytes, 8 + 296, 0xffffffff), 'ERR_BAD_FIELD')
  })

  test('ERR_BAD_FIELD: IN actual_length above the requested length (as the kernel checks)', () => {
    const decoder = client('urb', { directionOf: () => ({ direction: 'in', length: 4 }) })
    const error = assertRejects(decoder, retInBytes.subarray(0, 48), 'ERR_BAD_FIELD')
    assert.equal(error.details.requested, 4)
  })

  test('ERR_BAD_FIELD: iso actual lengths that do not add up, or exceed their packet', () => {
    const firstActualLength = 48 + 5 + 8 // after the header and the 5 data bytes
    const sum = assertRejects(client('urb'), with32(retIsoBytes, firstActualLength, 4), 'ERR_BAD_FIELD')
    assert.equal(sum.details.sum, 6)
    // 5 + 0 + 2 = 7 = actual_length, but packet 0 only asked for 4; two more data bytes follow.
    const overfull = with32(with32(retIsoBytes, firstActualLength, 5), 24, 7)
    const packed = concat(overfull.subarray(0, 53), hex('0000'), overfull.subarray(53))
    const packet = assertRejects(client('urb'), packed, 'ERR_BAD_FIELD')
    assert.equal(packet.details.length, 4)
  })

  test('ERR_BAD_FIELD: CMD_SUBMIT iso packet outside the transfer buffer', () => {
    const iso: CmdSubmit = {
      ...bulkIn,
      transferBufferLength: 8,
      numberOfPackets: 2,
      isoPackets: [
        { offset: 0, length: 4, actualLength: 0, status: 0 },
        { offset: 4, length: 4, actualLength: 0, status: 0 },
      ],
    }
    const bytes = encodeCmdSubmit(iso)
    assert.deepEqual(decodeAll(server('urb'), bytes), [iso])
    assertRejects(server('urb'), with32(bytes, 48 + 16 + 4, 5), 'ERR_BAD_FIELD')
  })

  test('ERR_TOO_MANY_PACKETS', () => {
    for (const count of [Limits.maxIsoPackets + 1, -2, 0x7fffffff]) {
      assertRejects(server('urb'), with32(cmdSubmitHeader, 32, count), 'ERR_TOO_MANY_PACKETS')
      assertRejects(client('urb'), with32(retInBytes, 32, count).subarray(0, 48), 'ERR_TOO_MANY_PACKETS')
    }
  })

  test('ERR_TOO_MANY_DEVICES as soon as the count is in', () => {
    assertRejects(client(), hex('0111 0005 00000000 00001001'), 'ERR_TOO_MANY_DEVICES')
    assertRejects(client(), hex('0111 0005 00000000 ffffffff'), 'ERR_TOO_MANY_DEVICES')
  })

  test('ERR_UNKNOWN_SEQNUM', () => {
    const error = assertRejects(client('urb'), with32(retInBytes, 4, 99), 'ERR_UNKNOWN_SEQNUM')
    assert.equal(error.details.seqnum, 99)
  })

  test('poisoning: same error object on every later next() and end(), even after valid bytes', () => {
    const decoder = server('urb')
    decoder.push(with32(cmdSubmitHeader, 0, 9))
    decoder.push(goldens[6]!.bytes.subarray(0, 10))
    let first: unknown
    assert.throws(
      () => decoder.next(),
      (error: unknown) => {
        first = error
        return error instanceof UsbipError && error.code === 'ERR_UNKNOWN_COMMAND'
      },
    )
    assert.equal(decoder.bufferedBytes, 0)
    assert.equal(decoder.retainedBytes, 0)
    decoder.push(goldens[6]!.bytes)
    assert.equal(decoder.bufferedBytes, 0)
    for (let i = 0; i < 3; i++)
      assert.throws(
        () => decoder.next(),
        (error: unknown) => error === first,
      )
    assert.throws(
      () => decoder.end(),
      (error: unknown) => error === first,
    )
  })
})

describe('encoder misuse is a TypeError', () => {
  const cases: [string, () => unknown][] = [
    ['busid of 32 bytes', () => encodeOpReqImport('x'.repeat(32))],
    ['busid of 32 UTF-8 bytes', () => encodeOpReqImport(`${'x'.repeat(30)}é`)],
    ['busid with NUL', () => encodeOpReqImport('1-1\0')],
    ['path of 256 bytes', () => encodeOpRepImport(0, { ...importedDevice, path: 'p'.repeat(256) })],
    ['import OK without device', () => encodeOpRepImport(0)],
    ['import error with device', () => encodeOpRepImport(4, importedDevice)],
    ['devlist error with devices', () => encodeOpRepDevlist(1, [device1])],
    [
      'interfaces disagree with numInterfaces',
      () => encodeOpRepDevlist(0, [{ ...device1, numInterfaces: 2 }]),
    ],
    ['speed 9', () => encodeOpRepImport(0, { ...importedDevice, speed: 9 as 0 })],
    ['idVendor 0x10000', () => encodeOpRepImport(0, { ...importedDevice, idVendor: 0x10000 })],
    [
      'OUT data shorter than transferBufferLength',
      () => encodeCmdSubmit({ ...controlOut, transferBufferLength: 8 }),
    ],
    ['IN submit with data', () => encodeCmdSubmit({ ...bulkIn, data: new Uint8Array(1) })],
    ['setup of 7 bytes', () => encodeCmdSubmit({ ...controlOut, setup: new Uint8Array(7) })],
    ['ep 16', () => encodeCmdSubmit({ ...bulkIn, ep: 16 })],
    [
      'direction 2',
      () =>
        encodeCmdUnlink({
          kind: 'CMD_UNLINK',
          seqnum: 1,
          devid: 0,
          direction: 2 as 1,
          ep: 0,
          unlinkSeqnum: 1,
        }),
    ],
    ['seqnum 1.5', () => encodeCmdSubmit({ ...bulkIn, seqnum: 1.5 })],
    [
      'seqnum -1',
      () => encodeRetUnlink({ kind: 'RET_UNLINK', seqnum: -1, devid: 0, direction: 0, ep: 0, status: 0 }),
    ],
    [
      'transferBufferLength over the limit',
      () => encodeCmdSubmit({ ...bulkIn, transferBufferLength: 16 * 1024 * 1024 + 1 }),
    ],
    ['numberOfPackets 1025', () => encodeCmdSubmit({ ...bulkIn, numberOfPackets: 1025 })],
    ['numberOfPackets without descriptors', () => encodeCmdSubmit({ ...bulkIn, numberOfPackets: 2 })],
    ['IN RET_SUBMIT data != actualLength', () => encodeRetSubmit({ ...retIn, actualLength: 6 })],
    ['RET_SUBMIT data of the wrong length', () => encodeRetSubmit({ ...retOut, data: new Uint8Array(3) })],
    [
      'iso actual lengths do not add up',
      () => encodeRetSubmit({ ...retIso, actualLength: 4, data: new Uint8Array(4) }),
    ],
    [
      'iso packet actualLength > length',
      () =>
        encodeRetSubmit({
          ...retIso,
          isoPackets: [
            { offset: 0, length: 1, actualLength: 5, status: 0 },
            retIso.isoPackets[1]!,
            { ...retIso.isoPackets[2]!, actualLength: 0 },
          ],
        }),
    ],
    ['status 2^31', () => encodeRetSubmit({ ...retIn, status: 0x80000000 })],
  ]
  for (const [name, run] of cases) {
    test(name, () => assert.throws(run, TypeError))
  }
})
