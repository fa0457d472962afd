import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { encodeFrame, FrameDecoder } from '../src/framing.js'
import { TunnelOpen, TunnelOpenResult } from '../src/messages.js'

describe('sans-I/O framing and message codecs', () => {
  test('frames survive arbitrary chunking, remainder is handed back', () => {
    const payloads = [new Uint8Array(0), Uint8Array.of(1, 2, 3), new Uint8Array(300).fill(7)]
    const wire = Buffer.concat([...payloads.map((p) => encodeFrame(p)), Buffer.from('raw')])
    for (const step of [1, 2, 5, wire.length]) {
      const decoder = new FrameDecoder()
      const out: Uint8Array[] = []
      for (let i = 0; i < wire.length; i += step) {
        decoder.push(wire.subarray(i, i + step))
        while (out.length < payloads.length) {
          const frame = decoder.next()
          if (!frame) break
          out.push(frame)
        }
      }
      assert.deepEqual(
        out.map((f) => [...f]),
        payloads.map((p) => [...p]),
      )
      assert.equal(Buffer.from(decoder.takeRemainder()).toString(), 'raw')
    }
  })

  test('an oversize prefix is refused before its body arrives', () => {
    const decoder = new FrameDecoder(1024)
    const frame = encodeFrame(new Uint8Array(2000), 4096)
    assert.throws(() => decoder.push(frame.subarray(0, 2)), { code: 'ERR_FRAME_TOO_LARGE' })
    assert.equal(decoder.bufferedBytes, 2)
    assert.throws(() => decoder.next(), { code: 'ERR_FRAME_TOO_LARGE' }, 'the decoder stays failed')
    assert.throws(() => encodeFrame(new Uint8Array(2000), 1024), { code: 'ERR_FRAME_TOO_LARGE' })
  })

  test('malformed prefixes are typed errors', () => {
    assert.throws(() => new FrameDecoder(2 ** 40).push(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 1)), {
      code: 'ERR_BAD_FRAME',
    })
    assert.throws(() => new FrameDecoder().push(Uint8Array.of(0x81, 0x00)), { code: 'ERR_BAD_FRAME' })
  })

  test('TunnelOpen / TunnelOpenResult round trip and validate at the edge', () => {
    const open = TunnelOpen.decode(TunnelOpen.encode({ busid: '1-1', token: Uint8Array.of(9, 8) }))
    assert.equal(open.busid, '1-1')
    assert.deepEqual([...open.token], [9, 8])
    const result = TunnelOpenResult.decode(
      TunnelOpenResult.encode({ status: 'STATUS_BUSY', message: 'in use' }),
    )
    assert.deepEqual(result, { status: 'STATUS_BUSY', message: 'in use' })
    assert.throws(() => TunnelOpen.encode({ busid: '../etc', token: new Uint8Array(0) }), {
      code: 'ERR_BAD_FIELD',
    })
    // An empty message decodes to defaults: busid "" asks for the device list only; status
    // UNSPECIFIED is refused.
    assert.deepEqual(TunnelOpen.decode(new Uint8Array(0)), { busid: '', token: new Uint8Array(0) })
    assert.throws(() => TunnelOpenResult.decode(new Uint8Array(0)), { code: 'ERR_BAD_FIELD' })
    // An unknown enum number from a newer peer is refused too.
    assert.throws(() => TunnelOpenResult.decode(Uint8Array.of(0x08, 0x63)), { code: 'ERR_BAD_FIELD' })
    assert.throws(() => TunnelOpen.decode(Uint8Array.of(0x0a, 0x05, 1)), { code: 'ERR_DECODE' })
  })

  test('TunnelOpenResult.code: round trip, absent from older peers, malformed refused', () => {
    const denied: TunnelOpenResult = {
      status: 'STATUS_DENIED',
      message: 'revoked (ERR_TOKEN_REVOKED)',
      code: 'ERR_TOKEN_REVOKED',
    }
    assert.deepEqual(TunnelOpenResult.decode(TunnelOpenResult.encode(denied)), denied)
    // A result without the field (an exporter older than it): no code key at all.
    const old = TunnelOpenResult.decode(Uint8Array.of(0x08, 0x03, 0x12, 0x01, 0x78))
    assert.deepEqual(old, { status: 'STATUS_DENIED', message: 'x' })
    assert.equal('code' in old, false)
    // The code field (3, length-delimited) as a peer may send it.
    const withCode = (code: string) =>
      Uint8Array.of(0x08, 0x03, 0x1a, code.length, ...Buffer.from(code, 'latin1'))
    assert.equal(TunnelOpenResult.decode(withCode('ERR_TOKEN_EXPIRED')).code, 'ERR_TOKEN_EXPIRED')
    assert.equal(TunnelOpenResult.decode(withCode(`ERR_${'A'.repeat(60)}`)).code, `ERR_${'A'.repeat(60)}`)
    for (const bad of [
      '',
      'ERR_',
      'token revoked',
      'err_token_revoked',
      'ERR_TOKEN-REVOKED',
      `ERR_${'A'.repeat(61)}`,
      'ERR_X\n',
    ]) {
      assert.throws(
        () => TunnelOpenResult.decode(withCode(bad)),
        { code: 'ERR_BAD_FIELD' },
        JSON.stringify(bad),
      )
      assert.throws(
        () => TunnelOpenResult.encode({ status: 'STATUS_DENIED', message: '', code: bad }),
        { code: 'ERR_BAD_FIELD' },
        JSON.stringify(bad),
      )
    }
  })
})
