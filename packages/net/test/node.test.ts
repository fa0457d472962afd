import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Stream } from '@libp2p/interface'
import { TunnelOpen, TunnelOpenResult } from '../src/messages.js'
import type { TetherNode } from '../src/node.js'
import { MessageReader, writeMessage } from '../src/stream-messages.js'
import { loopbackNode, tcpAddress, withTimeout, wsAddress } from './helpers.js'

const ECHO = '/tether/test-echo/1.0.0'
const FRAMED = '/tether/test-framed/1.0.0'

describe('two tether nodes on loopback', () => {
  let a: TetherNode
  let b: TetherNode
  const seenPeers: string[] = []
  before(async () => {
    ;[a, b] = await Promise.all([loopbackNode(), loopbackNode()])
    await a.handle(ECHO, async (stream: Stream, connection) => {
      seenPeers.push(connection.remotePeer.toString())
      for await (const chunk of stream) {
        if (!stream.send(chunk)) await stream.onDrain()
      }
      await stream.close()
    })
    // Answers each TunnelOpen with a TunnelOpenResult echoing the busid; 1 KiB frame limit.
    await a.handle(FRAMED, async (stream: Stream) => {
      const reader = new MessageReader(stream, { maxFrameSize: 1024 })
      try {
        for await (const open of reader.messages(TunnelOpen)) {
          await writeMessage(stream, TunnelOpenResult, { status: 'STATUS_OK', message: open.busid })
        }
        await stream.close()
      } catch {
        // The reader already reset the stream.
      }
    })
  })
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()])
  })

  test('listens on 127.0.0.1 only, TCP and WebSockets', () => {
    for (const address of [...a.getMultiaddrs(), ...b.getMultiaddrs()]) {
      assert.match(address.toString(), /^\/ip4\/127\.0\.0\.1\/tcp\/\d+(\/ws)?\/p2p\//)
    }
  })

  for (const [name, pick] of [
    ['TCP', tcpAddress],
    ['WebSockets', wsAddress],
  ] as const) {
    test(`B dials A over ${name}; A sees B's noise-authenticated peer id`, async () => {
      const stream = await withTimeout(b.dialProtocol(pick(a), ECHO), 5000, 'dial')
      const payload = new Uint8Array(200_000).map((_, i) => i & 0xff)
      const received: Uint8Array[] = []
      const reading = (async () => {
        for await (const chunk of stream) received.push(chunk.subarray())
      })()
      if (!stream.send(payload)) await stream.onDrain()
      await stream.close()
      await withTimeout(reading, 5000, 'echo')
      assert.deepEqual(Buffer.concat(received), Buffer.from(payload))
      assert.equal(seenPeers.at(-1), b.peerId.toString())
      const connection = b.getConnections(a.peerId)[0]
      assert.equal(connection?.remoteAddr.toString().includes('/ws'), name === 'WebSockets')
      assert.equal(connection?.encryption, '/noise')
      assert.equal(connection?.multiplexer, '/yamux/1.0.0')
      await b.hangUp(a.peerId)
    })
  }

  test('framed protobuf exchange; an oversize frame gets the typed error and a reset', async () => {
    const stream = await withTimeout(b.dialProtocol(tcpAddress(a), FRAMED), 5000, 'dial')
    const reader = new MessageReader(stream)
    for (const busid of ['1-1', '2-3.4']) {
      await writeMessage(stream, TunnelOpen, { busid, token: new Uint8Array(16) })
      const result = await withTimeout(reader.read(TunnelOpenResult), 5000, 'result')
      assert.deepEqual(result, { status: 'STATUS_OK', message: busid })
    }
    // Locally, the writer refuses to build a frame above its limit.
    await assert.rejects(
      writeMessage(stream, TunnelOpen, { busid: '1-1', token: new Uint8Array(1000) }, { maxFrameSize: 512 }),
      { code: 'ERR_FRAME_TOO_LARGE', origin: 'local' },
    )
    // The server (1 KiB limit) refuses an oversize frame from its prefix and resets the stream.
    await writeMessage(stream, TunnelOpen, { busid: '1-1', token: new Uint8Array(1024) })
    await assert.rejects(withTimeout(reader.read(TunnelOpenResult), 5000, 'reset'), (err: Error) => {
      assert.match(err.name, /StreamReset/)
      return true
    })
  })

  test('the reader refuses an oversize frame with ERR_FRAME_TOO_LARGE before buffering it', async () => {
    const BIG = '/tether/test-big/1.0.0'
    await a.handle(BIG, async (stream: Stream) => {
      // A 10 MB length prefix, then a little body.
      stream.send(Uint8Array.of(0x80, 0xad, 0xe2, 0x04, 1, 2, 3))
    })
    const stream = await b.dialProtocol(tcpAddress(a), BIG)
    const reader = new MessageReader(stream, { maxFrameSize: 4096 })
    await assert.rejects(withTimeout(reader.read(TunnelOpenResult), 5000, 'read'), {
      code: 'ERR_FRAME_TOO_LARGE',
      origin: 'remote',
    })
    assert.equal(stream.status, 'aborted')
  })

  test('a reader times out with ERR_TIMEOUT on a silent peer', async () => {
    const SILENT = '/tether/test-silent/1.0.0'
    await a.handle(SILENT, () => {})
    const stream = await b.dialProtocol(tcpAddress(a), SILENT)
    const reader = new MessageReader(stream)
    await assert.rejects(reader.read(TunnelOpenResult, { signal: AbortSignal.timeout(100) }), {
      code: 'ERR_TIMEOUT',
    })
    stream.abort(new Error('test done'))
  })
})
