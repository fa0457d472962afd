/**
 * callHub's one retry: a connection left from before a hub restart fails on first use, and the
 * request is sent again on a new one — but never once the hub has answered (a reserve waiting in
 * the queue is held by the hub: sending it again would queue it twice). Two real libp2p nodes.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Stream } from '@libp2p/interface'
import { createTetherNode, MessageReader, type TetherNode, writeMessage } from '@tether/net'
import { callHub, HUB_PROTOCOL, type HubRequest, HubRequestCodec, HubResponseCodec } from '../src/index.js'

const RESERVE: HubRequest = {
  login: 'token',
  body: { type: 'reserve', place: 'rpi-1', tags: [], parts: [], priority: 0, leaseMs: 0, wait: true },
}
const ENTRY = { id: 'Q1', user: 'alice', priority: 0, position: 1, enqueuedAtMs: 1, wanted: 'rpi-1' }

describe('callHub: the retry after a failed first use', () => {
  let hub: TetherNode
  let client: TetherNode
  /** What the fake hub does with the n-th request (0-based). */
  let behave: (n: number, stream: Stream) => Promise<void>
  let requests = 0

  before(async () => {
    hub = await createTetherNode({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
    })
    client = await createTetherNode({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    await hub.handle(HUB_PROTOCOL, async (stream) => {
      const n = requests++
      await new MessageReader(stream).read(HubRequestCodec)
      await behave(n, stream)
    })
  })
  after(async () => {
    await client?.stop()
    await hub?.stop()
  })

  const call = () => callHub(client, hub.getMultiaddrs()[0]!, RESERVE)

  it('sends again when the first stream dies before any answer', async () => {
    requests = 0
    behave = async (n, stream) => {
      if (n === 0) stream.abort(new Error('stale'))
      else await writeMessage(stream, HubResponseCodec, { type: 'done' })
    }
    assert.deepEqual(await call(), { type: 'done' })
    assert.equal(requests, 2)
  })

  it('does not send again once the hub answered (a queue position): the hub holds the request', async () => {
    requests = 0
    behave = async (_n, stream) => {
      await writeMessage(stream, HubResponseCodec, { type: 'progress', entry: ENTRY })
      await new Promise((r) => setTimeout(r, 50))
      stream.abort(new Error('hub stopped'))
    }
    await assert.rejects(call())
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(requests, 1, 'the waiting reserve was sent once')
  })
})
