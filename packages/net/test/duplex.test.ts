import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import type { Duplex } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import type { Stream } from '@libp2p/interface'
import { DUPLEX_SEND_CHUNK, STREAM_MAX_READ_BUFFER, YAMUX_MAX_STREAM_WINDOW } from '../src/constants.js'
import { streamToDuplex } from '../src/duplex.js'
import type { TetherNode } from '../src/node.js'
import { loopbackNode, tcpAddress, withTimeout } from './helpers.js'

const PROTOCOL = '/tether/test-duplex/1.0.0'
const MiB = 1024 * 1024

describe('libp2p stream as a Node Duplex', () => {
  let a: TetherNode
  let b: TetherNode
  /** Each inbound stream on A, for the test to drive. */
  const inbound: Stream[] = []
  let arrived: (() => void) | undefined

  before(async () => {
    ;[a, b] = await Promise.all([loopbackNode({ webSockets: false }), loopbackNode({ webSockets: false })])
    await a.handle(PROTOCOL, (stream: Stream) => {
      inbound.push(stream)
      arrived?.()
    })
  })
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()])
  })

  async function pair(): Promise<{ local: Duplex; stream: Stream; remote: Stream }> {
    const waiting = new Promise<void>((resolve) => {
      arrived = resolve
    })
    const stream = await b.dialProtocol(tcpAddress(a), PROTOCOL)
    const local = streamToDuplex(stream, { closeTimeoutMs: 1000 })
    // The stream only reaches A's handler once B has written to it.
    local.write(Uint8Array.of(0))
    await withTimeout(waiting, 5000, 'inbound stream')
    const remote = inbound.at(-1)!
    const first = await withTimeout(once(remote, 'message'), 5000, 'first byte')
    assert.equal(first[0].data.byteLength, 1)
    return { local, stream, remote }
  }

  test('read backpressure: an unread Duplex pauses the stream and bounds its buffer', async () => {
    const { local, stream, remote } = await pair()
    const chunk = new Uint8Array(64 * 1024).fill(0x5a)
    const total = 24 * MiB
    let sent = 0
    const sending = (async () => {
      for (; sent < total; sent += chunk.length) {
        if (!remote.send(chunk)) await remote.onDrain()
      }
      await remote.close()
    })()
    // Nobody reads `local` for a while: the sender must stall, not overrun anything.
    await new Promise((r) => setTimeout(r, 300))
    assert.ok(sent < total, `sender stalled (${sent} of ${total} sent)`)
    assert.equal(stream.readStatus, 'paused')
    assert.ok(stream.readBufferLength <= STREAM_MAX_READ_BUFFER)
    assert.ok(sent <= local.readableLength + stream.readBufferLength + 2 * YAMUX_MAX_STREAM_WINDOW)
    let received = 0
    for await (const data of local) received += (data as Buffer).length
    await withTimeout(sending, 5000, 'sender')
    assert.equal(received, total)
    assert.equal(stream.status === 'open', false)
  })

  test('write backpressure: writes wait for the peer to read', async () => {
    const { local, stream, remote } = await pair()
    remote.pause()
    const chunk = new Uint8Array(64 * 1024)
    let accepted = 0
    let stalled = false
    while (accepted < 16 * MiB) {
      accepted += chunk.length
      if (!local.write(chunk)) {
        const drained = await Promise.race([
          once(local, 'drain').then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 200)),
        ])
        if (!drained) {
          stalled = true
          break
        }
      }
    }
    assert.equal(stalled, true, `writes stalled (after ${accepted} bytes)`)
    assert.ok(accepted <= 2 * YAMUX_MAX_STREAM_WINDOW, `accepted ${accepted}`)
    // The Duplex keeps what libp2p has not taken: at most one piece sits in libp2p's buffer.
    assert.ok(
      stream.writeBufferLength <= DUPLEX_SEND_CHUNK,
      `libp2p write buffer ${stream.writeBufferLength}`,
    )
    let received = 0
    remote.addEventListener('message', (event) => {
      received += event.data.byteLength
    })
    remote.resume()
    local.end()
    await withTimeout(once(remote, 'end'), 5000, 'remote end')
    assert.equal(received, accepted)
    await remote.close()
    local.resume() // 'end', and so 'close', need the readable side consumed (as for a socket)
    await withTimeout(once(local, 'close'), 5000, 'local close')
  })

  test('a corked burst reaches the peer as few messages, in pieces of DUPLEX_SEND_CHUNK', async () => {
    const { local, remote } = await pair()
    const sizes: number[] = []
    const total = 8 * 65_584
    const all = new Promise<void>((resolve) => {
      let received = 0
      remote.addEventListener('message', (event) => {
        sizes.push(event.data.byteLength)
        received += event.data.byteLength
        if (received === total) resolve()
      })
    })
    local.cork()
    for (let i = 0; i < 8; i++) local.write(new Uint8Array(65_584).fill(i))
    local.uncork()
    await withTimeout(all, 5000, 'burst')
    // One yamux frame per piece; unbatched it would be 8 frames of 65584 bytes.
    assert.ok(sizes.length <= Math.ceil(total / DUPLEX_SEND_CHUNK), `message sizes ${sizes.join(',')}`)
    assert.ok(Math.max(...sizes) > 65_584, `message sizes ${sizes.join(',')}`)
    assert.ok(Math.max(...sizes) <= DUPLEX_SEND_CHUNK, `message sizes ${sizes.join(',')}`)
    local.destroy()
  })

  test('bytes arrive intact and in order across batches and pieces', async () => {
    const { local, remote } = await pair()
    const sizes = [1, 48, 65_584, DUPLEX_SEND_CHUNK + 1, 300 * 1024, 7, 2 * DUPLEX_SEND_CHUNK, 65_536]
    const sent = sizes.map((n) => randomBytes(n))
    const total = sent.reduce((n, b) => n + b.length, 0)
    const chunks: Uint8Array[] = []
    let received = 0
    const all = new Promise<void>((resolve) => {
      remote.addEventListener('message', (event) => {
        for (const chunk of event.data instanceof Uint8Array ? [event.data] : event.data) {
          chunks.push(chunk.slice())
          received += chunk.byteLength
        }
        if (received >= total) resolve()
      })
    })
    // Some writes share a tick, some follow a drain or a macrotask.
    for (const [i, bytes] of sent.entries()) {
      if (!local.write(bytes)) await once(local, 'drain')
      if (i % 3 === 2) await new Promise((r) => setImmediate(r))
    }
    await withTimeout(all, 5000, 'all bytes')
    assert.equal(received, total)
    assert.deepEqual(Buffer.concat(chunks), Buffer.concat(sent))
    local.destroy()
  })

  test('clean close both ways: end() is a FIN, the peer FIN ends and closes the Duplex', async () => {
    const { local, remote } = await pair()
    const chunks: Buffer[] = []
    local.on('data', (c: Buffer) => chunks.push(c))
    remote.send(new TextEncoder().encode('bye'))
    await remote.close()
    await withTimeout(once(local, 'end'), 5000, 'local end')
    assert.equal(Buffer.concat(chunks).toString(), 'bye')
    assert.equal(local.writable, true, 'half-open: we can still write')
    local.end(Uint8Array.of(7))
    await withTimeout(once(local, 'close'), 5000, 'local close')
    await withTimeout(once(remote, 'close'), 5000, 'remote close')
    assert.equal(remote.status, 'closed')
  })

  test('abort: destroy(err) resets the peer; a peer reset errors the Duplex', async () => {
    const first = await pair()
    const closed = once(first.remote, 'close')
    first.local.on('error', () => {})
    first.local.destroy(new Error('local failure'))
    const [event] = await withTimeout(closed, 5000, 'remote close')
    assert.ok(event.error, 'the peer sees a reset')

    const second = await pair()
    const failed = once(second.local, 'error')
    second.remote.abort(new Error('remote failure'))
    const [err] = await withTimeout(failed, 5000, 'local error')
    assert.match((err as Error).name, /StreamReset/)
    assert.equal(second.local.destroyed, true)
  })

  test('destroy() without an error closes gracefully', async () => {
    const { local, remote } = await pair()
    local.destroy()
    await withTimeout(once(remote, 'end'), 5000, 'remote end')
    await remote.close()
    assert.equal(remote.status, 'closed')
  })
})
