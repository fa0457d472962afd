/**
 * Property tests for the codec: round trips over arbitrary message sequences split anywhere,
 * robustness against random and mutated input (only UsbipError may escape), and memory bounds.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import {
  ClientDecoder,
  type ClientDecoderOptions,
  encodeMessage,
  NEED_DATA,
  ServerDecoder,
  type SubmittedUrb,
} from '../src/codec/index.js'
import { Limits, Speed, type SpeedValue } from '../src/constants.js'
import { UsbipError } from '../src/errors.js'
import type {
  ClientMessage,
  CmdSubmit,
  CmdUnlink,
  DeviceRecord,
  ExportedDevice,
  IsoPacketDescriptor,
  OpRepDevlist,
  OpRepImport,
  OpReqImport,
  RetSubmit,
  RetUnlink,
  ServerMessage,
  UsbipMessage,
} from '../src/messages.js'

// ---- arbitraries for valid messages ----

/** fc.record with ordinary objects: decoded messages have Object.prototype, and deepEqual checks it. */
function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true })
}

const u8 = fc.integer({ min: 0, max: 0xff })
const u16 = fc.integer({ min: 0, max: 0xffff })
const u32 = fc.integer({ min: 0, max: 0xffffffff })
const s32 = fc.integer({ min: -0x80000000, max: 0x7fffffff })
const direction = fc.constantFrom<0 | 1>(0, 1)
const endpoint = fc.integer({ min: 0, max: 15 })
const nonIsoPackets = fc.constantFrom(0, -1)

/** Any well-formed Unicode without NUL, cut (by code point) to fit a NUL-terminated `size`-byte field. */
function fixedString(size: number, maxLength: number): fc.Arbitrary<string> {
  return fc.string({ unit: 'binary', maxLength, size: 'max' }).map((text) => {
    let fitted = text.replaceAll('\0', '')
    while (Buffer.byteLength(fitted, 'utf8') >= size) fitted = [...fitted].slice(0, -1).join('')
    return fitted
  })
}

const speed = fc.constantFrom<SpeedValue>(...(Object.values(Speed) as SpeedValue[]))

const deviceRecord: fc.Arbitrary<DeviceRecord> = record({
  path: fixedString(256, 80),
  busid: fixedString(32, 12),
  busnum: u32,
  devnum: u32,
  speed,
  idVendor: u16,
  idProduct: u16,
  bcdDevice: u16,
  deviceClass: u8,
  deviceSubClass: u8,
  deviceProtocol: u8,
  configurationValue: u8,
  numConfigurations: u8,
  numInterfaces: fc.integer({ min: 0, max: Limits.maxInterfaces }),
})

const exportedDevice: fc.Arbitrary<ExportedDevice> = fc
  .tuple(
    deviceRecord,
    fc.array(record({ interfaceClass: u8, interfaceSubClass: u8, interfaceProtocol: u8 }), {
      maxLength: Limits.maxInterfaces,
      size: 'small',
    }),
  )
  .map(([record, interfaces]) => ({ ...record, numInterfaces: interfaces.length, interfaces }))

const opRepDevlist: fc.Arbitrary<OpRepDevlist> = fc.oneof(
  fc
    .array(exportedDevice, { maxLength: 4 })
    .map((devices) => ({ kind: 'OP_REP_DEVLIST' as const, status: 0, devices })),
  fc
    .integer({ min: 1, max: 0xffffffff })
    .map((status) => ({ kind: 'OP_REP_DEVLIST' as const, status, devices: [] })),
)

const opRepImport: fc.Arbitrary<OpRepImport> = fc.oneof(
  deviceRecord.map((device) => ({ kind: 'OP_REP_IMPORT' as const, status: 0, device })),
  fc.integer({ min: 1, max: 0xffffffff }).map((status) => ({ kind: 'OP_REP_IMPORT' as const, status })),
)

const opReqImport: fc.Arbitrary<OpReqImport> = fixedString(32, 12).map((busid) => ({
  kind: 'OP_REQ_IMPORT' as const,
  busid,
}))

const bytesOf = (length: number) => fc.uint8Array({ minLength: length, maxLength: length })

/** Packet lengths laid out back to back, as drivers do. */
function isoLayout(lengths: readonly number[]): { offset: number; length: number }[] {
  let offset = 0
  return lengths.map((length) => {
    const packet = { offset, length }
    offset += length
    return packet
  })
}

const isoLengths = fc.array(fc.integer({ min: 0, max: 48 }), { minLength: 1, maxLength: 8, size: 'max' })

const cmdSubmit: fc.Arbitrary<CmdSubmit> = fc
  .record({
    seqnum: u32,
    devid: u32,
    direction,
    ep: endpoint,
    transferFlags: u32,
    startFrame: s32,
    interval: s32,
    setup: bytesOf(8),
    // Either a plain transfer or an iso one whose packets tile the buffer (plus slack).
    shape: fc.oneof(
      record({
        length: fc.integer({ min: 0, max: 700 }),
        numberOfPackets: nonIsoPackets,
        iso: fc.constant([]),
      }),
      record({ lengths: isoLengths, slack: fc.nat(16), actual: u32, status: s32 }).map(
        ({ lengths, slack, actual, status }) => ({
          length: lengths.reduce((a, b) => a + b, 0) + slack,
          numberOfPackets: lengths.length,
          iso: isoLayout(lengths).map((packet) => ({ ...packet, actualLength: actual, status })),
        }),
      ),
    ),
  })
  .chain(({ shape, ...fields }) =>
    bytesOf(fields.direction === 0 ? shape.length : 0).map(
      (data): CmdSubmit => ({
        kind: 'CMD_SUBMIT',
        ...fields,
        transferBufferLength: shape.length,
        numberOfPackets: shape.numberOfPackets,
        data,
        isoPackets: shape.iso,
      }),
    ),
  )

const cmdUnlink: fc.Arbitrary<CmdUnlink> = record({
  kind: fc.constant('CMD_UNLINK' as const),
  seqnum: u32,
  devid: u32,
  direction,
  ep: endpoint,
  unlinkSeqnum: u32,
})

/** seqnum is rewritten per stream so that the client's lookup is unambiguous. */
const retSubmit: fc.Arbitrary<RetSubmit> = fc
  .record({
    direction,
    status: s32,
    startFrame: s32,
    errorCount: s32,
    shape: fc.oneof(
      record({
        actualLength: fc.integer({ min: 0, max: 700 }),
        numberOfPackets: nonIsoPackets,
        iso: fc.constant([]),
      }),
      isoLengths
        .chain((lengths) =>
          fc
            .tuple(
              fc.tuple(...lengths.map((length) => fc.integer({ min: 0, max: length }))),
              fc.array(s32, { minLength: lengths.length, maxLength: lengths.length }),
            )
            .map(([actuals, statuses]) => ({ lengths, actuals, statuses })),
        )
        .map(({ lengths, actuals, statuses }) => ({
          actualLength: actuals.reduce((a, b) => a + b, 0),
          numberOfPackets: lengths.length,
          iso: isoLayout(lengths).map(
            (packet, i): IsoPacketDescriptor => ({
              ...packet,
              actualLength: actuals[i]!,
              status: statuses[i]!,
            }),
          ),
        })),
    ),
  })
  .chain(({ shape, ...fields }) =>
    bytesOf(fields.direction === 1 ? shape.actualLength : 0).map(
      (data): RetSubmit => ({
        kind: 'RET_SUBMIT',
        seqnum: 0,
        devid: 0,
        ep: 0,
        ...fields,
        actualLength: shape.actualLength,
        numberOfPackets: shape.numberOfPackets,
        data,
        isoPackets: shape.iso,
      }),
    ),
  )

const retUnlink: fc.Arbitrary<RetUnlink> = record({
  kind: fc.constant('RET_UNLINK' as const),
  seqnum: u32,
  devid: fc.constant(0),
  direction: fc.constant<0>(0),
  ep: fc.constant(0),
  status: s32,
})

/** What a server receives: a few op requests, then URB commands. */
const clientStream: fc.Arbitrary<{ ops: ClientMessage[]; urbs: ClientMessage[] }> = record({
  ops: fc.array(fc.oneof(fc.constant<ClientMessage>({ kind: 'OP_REQ_DEVLIST' }), opReqImport), {
    maxLength: 3,
  }),
  urbs: fc.array(fc.oneof(cmdSubmit, cmdUnlink), { maxLength: 12, size: 'max' }),
})

/** What a client receives, with the lookup table its submits would have filled. */
interface ServerStream {
  readonly ops: ServerMessage[]
  readonly urbs: ServerMessage[]
  readonly submitted: ReadonlyMap<number, SubmittedUrb>
}

const serverStream: fc.Arbitrary<ServerStream> = fc
  .record({
    ops: fc.array(fc.oneof(opRepDevlist, opRepImport), { maxLength: 2 }),
    urbs: fc.array(fc.oneof(retSubmit, retUnlink), { maxLength: 12, size: 'max' }),
    slack: fc.nat(64),
  })
  .map(({ ops, urbs, slack }) => {
    const submitted = new Map<number, SubmittedUrb>()
    const numbered = urbs.map((message, i) => {
      if (message.kind !== 'RET_SUBMIT') return message
      const seqnum = i + 1
      const direction = message.direction === 1 ? 'in' : 'out'
      submitted.set(seqnum, { direction, length: message.actualLength + slack })
      return { ...message, seqnum }
    })
    return { ops, urbs: numbered, submitted }
  })

// ---- feeding helpers ----

const cutPoints = fc.array(fc.nat(), { maxLength: 24, size: 'max' })

/** Splits `bytes` at the given points (taken modulo its length), in order. */
function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b)
  const pieces: Uint8Array[] = []
  let start = 0
  for (const point of [...points, bytes.length]) {
    pieces.push(bytes.slice(start, point))
    start = point
  }
  return pieces
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts))
}

type AnyDecoder = ServerDecoder | ClientDecoder

/** Decodes `pieces`, switching to the URB phase right after `opCount` messages. */
function decodeStream(decoder: AnyDecoder, pieces: readonly Uint8Array[], opCount: number): UsbipMessage[] {
  const out: UsbipMessage[] = []
  if (opCount === 0) decoder.setPhase('urb')
  for (const piece of pieces) {
    decoder.push(piece)
    for (let message = decoder.next(); message !== NEED_DATA; message = decoder.next()) {
      out.push(message)
      if (out.length === opCount) decoder.setPhase('urb')
    }
  }
  return out
}

/** A lookup that answers every way the client session might: unknown, bare direction, with length. */
const fuzzLookup: ClientDecoderOptions = {
  directionOf(seqnum) {
    switch (seqnum % 4) {
      case 0:
        return undefined
      case 1:
        return 'in'
      case 2:
        return { direction: 'out', length: seqnum % 4096 }
      default:
        return { direction: 'in', length: seqnum % 4096 }
    }
  },
}

function makeDecoder(side: 'server' | 'client', phase: 'op' | 'urb'): AnyDecoder {
  const decoder = side === 'server' ? new ServerDecoder() : new ClientDecoder(fuzzLookup)
  decoder.setPhase(phase)
  return decoder
}

/**
 * Feeds pieces until the decoder throws. Fails on anything but UsbipError, and checks that the
 * decoder never holds more than it was given.
 */
function feedHostile(decoder: AnyDecoder, pieces: readonly Uint8Array[]): void {
  let pushed = 0
  try {
    for (const piece of pieces) {
      decoder.push(piece)
      pushed += piece.length
      while (decoder.next() !== NEED_DATA) {
        // Decoded garbage that happens to be valid is fine.
      }
      assert.ok(decoder.bufferedBytes <= pushed, 'buffered more than pushed')
      assert.ok(decoder.retainedBytes <= pushed, 'retained more than pushed')
    }
  } catch (error) {
    if (!(error instanceof UsbipError)) throw error
    assert.equal(decoder.retainedBytes, 0, 'a poisoned decoder releases its chunks')
  }
}

function withSeqnumsFrom(messages: readonly ServerMessage[]): ClientDecoderOptions {
  const table = new Map<number, SubmittedUrb>()
  for (const message of messages) {
    if (message.kind === 'RET_SUBMIT') {
      table.set(message.seqnum, {
        direction: message.direction === 1 ? 'in' : 'out',
        length: message.actualLength,
      })
    }
  }
  return { directionOf: (seqnum) => table.get(seqnum) }
}

// ---- (a) round trips ----

describe('round trip: arbitrary sequences, split anywhere', () => {
  test('ServerDecoder decodes what clients encode', () => {
    fc.assert(
      fc.property(clientStream, cutPoints, ({ ops, urbs }, cuts) => {
        const bytes = concat([...ops, ...urbs].map(encodeMessage))
        const decoded = decodeStream(new ServerDecoder(), split(bytes, cuts), ops.length)
        assert.deepEqual(decoded, [...ops, ...urbs])
      }),
      { numRuns: 600 },
    )
  })

  test('ClientDecoder decodes what servers encode', () => {
    fc.assert(
      fc.property(serverStream, cutPoints, ({ ops, urbs, submitted }, cuts) => {
        const bytes = concat([...ops, ...urbs].map(encodeMessage))
        const decoder = new ClientDecoder({ directionOf: (seqnum) => submitted.get(seqnum) })
        const decoded = decodeStream(decoder, split(bytes, cuts), ops.length)
        assert.deepEqual(decoded, [...ops, ...urbs])
      }),
      { numRuns: 600 },
    )
  })

  test('one byte at a time', () => {
    fc.assert(
      fc.property(clientStream, serverStream, (fromClient, fromServer) => {
        const clientBytes = concat([...fromClient.ops, ...fromClient.urbs].map(encodeMessage))
        const bytewise = (bytes: Uint8Array) => Array.from(bytes, (byte) => Uint8Array.of(byte))
        assert.deepEqual(decodeStream(new ServerDecoder(), bytewise(clientBytes), fromClient.ops.length), [
          ...fromClient.ops,
          ...fromClient.urbs,
        ])
        const serverBytes = concat([...fromServer.ops, ...fromServer.urbs].map(encodeMessage))
        const decoder = new ClientDecoder(withSeqnumsFrom(fromServer.urbs))
        assert.deepEqual(decodeStream(decoder, bytewise(serverBytes), fromServer.ops.length), [
          ...fromServer.ops,
          ...fromServer.urbs,
        ])
      }),
      { numRuns: 100 },
    )
  })
})

// ---- (b) hostile input ----

const side = fc.constantFrom<'server' | 'client'>('server', 'client')
const phase = fc.constantFrom<'op' | 'urb'>('op', 'urb')

/** A URB header with a plausible command and fields that are often small, sometimes anything. */
const urbHeaderish = fc
  .tuple(
    fc.integer({ min: 0, max: 5 }),
    fc.array(
      fc.oneof(fc.integer({ min: 0, max: 40 }), u32, fc.constantFrom(0xffffffff, 0x80000000, 0x7fffffff)),
      {
        minLength: 9,
        maxLength: 9,
      },
    ),
    fc.uint8Array({ maxLength: 300, size: 'max' }),
  )
  .map(([command, words, tail]) => {
    const header = new Uint8Array(48)
    const view = new DataView(header.buffer)
    view.setUint32(0, command)
    for (const [i, word] of words.entries()) view.setUint32(4 + i * 4, word)
    return concat([header, tail])
  })

/** An op header with the right version and a plausible code, then random bytes. */
const opHeaderish = fc
  .tuple(
    fc.constantFrom(0x8005, 0x0005, 0x8003, 0x0003, 0x1234),
    u32,
    fc.uint8Array({ maxLength: 700, size: 'max' }),
  )
  .map(([code, status, tail]) => {
    const header = new Uint8Array(12)
    const view = new DataView(header.buffer)
    view.setUint16(0, 0x0111)
    view.setUint16(2, code)
    view.setUint32(4, status % 3 === 0 ? 0 : status)
    view.setUint32(8, status % 7)
    return concat([header, tail])
  })

const mutation = record({ at: fc.nat(), value: u8 })

describe('hostile input: only UsbipError, bounded memory', () => {
  test('random bytes', () => {
    fc.assert(
      fc.property(
        side,
        phase,
        fc.uint8Array({ maxLength: 2000, size: 'max' }),
        cutPoints,
        (who, when, bytes, cuts) => {
          feedHostile(makeDecoder(who, when), split(bytes, cuts))
        },
      ),
      { numRuns: 1000 },
    )
  })

  test('plausible headers with random fields', () => {
    fc.assert(
      fc.property(side, fc.oneof(urbHeaderish, opHeaderish), cutPoints, (who, bytes, cuts) => {
        feedHostile(makeDecoder(who, 'urb'), split(bytes, cuts))
        feedHostile(makeDecoder(who, 'op'), split(bytes, cuts))
      }),
      { numRuns: 2000 },
    )
  })

  test('mutated valid streams', () => {
    fc.assert(
      fc.property(
        clientStream,
        serverStream,
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        fc.nat(),
        cutPoints,
        (fromClient, fromServer, mutations, truncateAt, cuts) => {
          const streams: [ServerDecoder | ClientDecoder, UsbipMessage[], number][] = [
            [new ServerDecoder(), [...fromClient.ops, ...fromClient.urbs], fromClient.ops.length],
            [
              new ClientDecoder(withSeqnumsFrom(fromServer.urbs)),
              [...fromServer.ops, ...fromServer.urbs],
              fromServer.ops.length,
            ],
          ]
          for (const [decoder, messages, opCount] of streams) {
            const bytes = concat(messages.map(encodeMessage))
            if (bytes.length === 0) continue
            for (const { at, value } of mutations) bytes[at % bytes.length] = value
            const kept = bytes.subarray(0, truncateAt % (bytes.length + 1))
            try {
              decodeStream(decoder, split(kept, cuts), opCount)
              decoder.end()
            } catch (error) {
              if (!(error instanceof UsbipError)) throw error
            }
            assert.ok(decoder.retainedBytes <= kept.length)
          }
        },
      ),
      { numRuns: 1000 },
    )
  })

  test('a header announcing a huge payload is rejected as soon as it is in, before any allocation', () => {
    const before = process.memoryUsage().arrayBuffers
    const header = (command: number, at: number, value: number, direction = 0) => {
      const bytes = new Uint8Array(48)
      const view = new DataView(bytes.buffer)
      view.setUint32(0, command)
      view.setUint32(4, 2)
      view.setUint32(12, direction)
      view.setUint32(at, value >>> 0)
      return bytes
    }
    const cases: [AnyDecoder, Uint8Array, string][] = [
      [makeDecoder('server', 'urb'), header(1, 24, 0x7fffffff), 'ERR_TRANSFER_TOO_LONG'], // 2 GiB - 1 OUT
      [makeDecoder('server', 'urb'), header(1, 24, 0x80000000), 'ERR_BAD_FIELD'], // 2 GiB, negative s32
      [makeDecoder('server', 'urb'), header(1, 24, Limits.maxTransferLength + 1, 1), 'ERR_TRANSFER_TOO_LONG'],
      [makeDecoder('server', 'urb'), header(1, 32, 0x7fffffff), 'ERR_TOO_MANY_PACKETS'],
      [makeDecoder('client', 'urb'), header(3, 24, 0x7fffffff), 'ERR_TRANSFER_TOO_LONG'], // seqnum 2: OUT
      [makeDecoder('client', 'urb'), header(3, 32, 0x7fffffff), 'ERR_TOO_MANY_PACKETS'],
      [
        makeDecoder('client', 'op'),
        Uint8Array.of(1, 0x11, 0, 5, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff),
        'ERR_TOO_MANY_DEVICES',
      ],
    ]
    for (const [decoder, bytes, code] of cases) {
      decoder.push(bytes)
      assert.throws(
        () => decoder.next(),
        (error: unknown) => error instanceof UsbipError && error.code === code,
      )
    }
    const grown = process.memoryUsage().arrayBuffers - before
    assert.ok(grown < 16 * 1024 * 1024, `array buffers grew by ${grown} bytes`)
  })
})

// ---- (c) steady state ----

describe('steady state', () => {
  test('decoding 10,000 messages does not grow what the decoder retains', () => {
    const samples = fc.sample(fc.oneof(cmdSubmit, cmdUnlink), { numRuns: 64, seed: 42 })
    const encoded = samples.map(encodeMessage)
    const largest = Math.max(...encoded.map((bytes) => bytes.length))
    const decoder = new ServerDecoder()
    decoder.setPhase('urb')
    let maxRetained = 0
    for (let i = 0; i < 10_000; i++) {
      const bytes = encoded[i % encoded.length]!
      // Alternate whole pushes with a split inside the header or the payload.
      const cut = i % 3 === 0 ? bytes.length : (i * 7919) % bytes.length
      decoder.push(bytes.subarray(0, cut))
      const early = decoder.next()
      maxRetained = Math.max(maxRetained, decoder.retainedBytes)
      decoder.push(bytes.subarray(cut))
      const message = early === NEED_DATA ? decoder.next() : early
      assert.notEqual(message, NEED_DATA)
      assert.equal(decoder.next(), NEED_DATA)
      assert.equal(decoder.retainedBytes, 0)
      assert.equal(decoder.bufferedBytes, 0)
    }
    assert.ok(maxRetained <= largest, `retained ${maxRetained} > largest message ${largest}`)
  })

  test('the same holds on the client side with a long-lived lookup', () => {
    const samples = fc
      .sample(retSubmit, { numRuns: 64, seed: 7 })
      .map((message, i): RetSubmit => ({ ...message, seqnum: i + 1 }))
    const encoded = samples.map(encodeMessage)
    const decoder = new ClientDecoder(withSeqnumsFrom(samples))
    decoder.setPhase('urb')
    for (let i = 0; i < 10_000; i++) {
      const bytes = encoded[i % encoded.length]!
      const cut = (i * 104729) % (bytes.length + 1)
      decoder.push(bytes.subarray(0, cut))
      decoder.push(bytes.subarray(cut))
      assert.deepEqual(decoder.next(), samples[i % samples.length])
      assert.equal(decoder.retainedBytes, 0)
    }
  })
})
