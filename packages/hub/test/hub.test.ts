import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import type { Stream } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import {
  DirectoryError,
  type ExporterRegistration,
  keepRegistered,
  queryDirectory,
  type RegistrationHandle,
  searchDirectory,
} from '@tether/directory'
import { createTetherNode, type TetherNode, waitForDrain } from '@tether/net'
import { type Hub, HubError, startHub } from '../src/index.js'
import { eventually, newKey, recordingLogger, withTimeout } from './helpers.js'

const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']
const COUNT = '/tether/test-count/1.0.0'

const cleanup: (() => Promise<unknown>)[] = []
after(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => {})
})

async function hub(init: Partial<Parameters<typeof startHub>[0]> = {}): Promise<Hub> {
  const h = await startHub({ privateKey: await newKey(), listen: LOOPBACK, openMode: true, ...init })
  cleanup.push(() => h.stop())
  return h
}

async function node(options: Partial<Parameters<typeof createTetherNode>[0]> = {}): Promise<TetherNode> {
  const n = await createTetherNode({
    privateKey: await newKey(),
    listen: LOOPBACK,
    webSockets: false,
    ...options,
  })
  cleanup.push(async () => {
    await n.stop()
  })
  return n
}

function register(exporter: TetherNode, h: Hub, name: string): RegistrationHandle {
  const handle = keepRegistered(exporter, {
    hub: h.addresses()[0]!,
    registration: () => ({
      name,
      places: [
        {
          name: 'bench',
          tags: ['rack-1'],
          parts: [{ name: 'board', compatible: ['test,board'], interfaces: [] }],
        },
      ],
      addresses: exporter.getMultiaddrs().map((a) => a.toString()),
    }),
  })
  cleanup.push(() => handle.stop())
  return handle
}

describe('startHub', () => {
  it('refuses to start without [auth] or insecure open mode, and warns loudly in open mode', async () => {
    await assert.rejects(startHub({ privateKey: await newKey(), listen: LOOPBACK }), (err: unknown) => {
      assert.ok(err instanceof HubError)
      assert.equal(err.code, 'ERR_OPEN_MODE_REQUIRED')
      return true
    })
    const logger = recordingLogger()
    const h = await hub({ logger })
    assert.ok(logger.lines.some((l) => l.level === 'warn' && l.message.startsWith('INSECURE OPEN MODE')))
    for (const address of h.addresses()) {
      assert.ok(address.toString().endsWith(`/p2p/${h.node.peerId.toString()}`), address.toString())
    }
  })
})

describe('directory over libp2p', () => {
  it('an importer finds a registered exporter; it vanishes when the exporter goes away, before the TTL', async () => {
    const h = await hub({ ttlMs: 120_000 })
    const [exporter, importer] = await Promise.all([node(), node()])
    const handle = register(exporter, h, 'lab-a')
    await withTimeout(handle.firstRegistered, 10_000, 'first registration')
    assert.ok(handle.registered)

    const entries = await queryDirectory(importer, h.addresses()[0]!, { compatible: ['test,board'] })
    assert.equal(entries.length, 1)
    const [entry] = entries
    assert.equal(entry?.name, 'lab-a')
    assert.equal(entry?.peerId, exporter.peerId.toString())
    assert.match(entry?.observedAddress ?? '', /^\/ip4\/127\.0\.0\.1\/tcp\/\d+/)
    assert.deepEqual(entry?.addresses, exporter.getMultiaddrs().map(String))
    assert.deepEqual(await queryDirectory(importer, h.addresses()[0]!, { tags: ['nope'] }), [])

    // The exporter's node stops without unregistering: the hub notices the closed connection.
    await exporter.stop()
    await eventually(
      async () => (await queryDirectory(importer, h.addresses()[0]!, {})).length === 0,
      5_000,
      'entry gone',
    )
    assert.ok(!h.registry.isRegistered(exporter.peerId))
  })

  it('says when a result did not fit in one reply (truncated), and returns what fit', async () => {
    const h = await hub()
    const big = (i: number): ExporterRegistration => ({
      name: `lab-${i}`,
      addresses: ['/ip4/192.0.2.1/tcp/4001'],
      places: Array.from({ length: 256 }, (_, p) => ({
        name: `place-${p}`,
        tags: ['bulk'],
        parts: [
          {
            name: 'board',
            compatible: ['test,board'],
            interfaces: [{ kind: 'serial' as const, name: 'console', description: 'x'.repeat(250) }],
          },
        ],
      })),
    })
    for (let i = 0; i < 100; i++) h.registry.register(peerIdFromPrivateKey(await newKey()), big(i))
    const importer = await node()
    const all = await searchDirectory(importer, h.addresses()[0]!, { tags: ['bulk'] })
    assert.equal(all.truncated, true)
    assert.ok(all.entries.length > 0 && all.entries.length < 100, `${all.entries.length} entries fit`)
    const one = await searchDirectory(importer, h.addresses()[0]!, { exporter: 'lab-7' })
    assert.deepEqual([one.truncated, one.entries.length], [false, 1])
  })

  it('refuses a taken name with ERR_NAME_TAKEN naming the holder', async () => {
    const h = await hub()
    const [a, b] = await Promise.all([node(), node()])
    await withTimeout(register(a, h, 'lab-x').firstRegistered, 10_000, 'a registered')
    const error = await withTimeout(
      new Promise<Error | undefined>((resolve) => {
        const handle = keepRegistered(b, {
          hub: h.addresses()[0]!,
          registration: () => ({ name: 'lab-x', places: [], addresses: [] }),
          onChange: (state, detail) => {
            if (state === 'retrying') resolve(detail?.error)
            else resolve(undefined)
          },
        })
        cleanup.push(() => handle.stop())
      }),
      10_000,
      'b refused',
    )
    assert.ok(error instanceof DirectoryError, String(error))
    assert.equal(error.code, 'ERR_NAME_TAKEN')
    assert.equal(error.origin, 'remote')
    assert.match(error.message, new RegExp(a.peerId.toString()))
  })

  it('an explicit stop() unregisters at once', async () => {
    const h = await hub({ ttlMs: 120_000 })
    const exporter = await node()
    const handle = register(exporter, h, 'lab-s')
    await withTimeout(handle.firstRegistered, 10_000, 'registered')
    assert.ok(h.registry.isRegistered(exporter.peerId))
    await handle.stop()
    assert.ok(!h.registry.isRegistered(exporter.peerId))
    assert.ok(!handle.registered)
  })

  it('keepRegistered re-registers by itself after the hub restarts on the same port and identity', async () => {
    const privateKey = await newKey()
    const first = await startHub({ privateKey, listen: LOOPBACK, openMode: true })
    const address = first.addresses()[0]!
    const port = address.getComponents().find((c) => c.name === 'tcp')?.value
    const exporter = await node()
    const handle = register(exporter, first, 'lab-r')
    await withTimeout(handle.firstRegistered, 10_000, 'registered')
    await first.stop()
    await eventually(() => !handle.registered, 5_000, 'exporter noticed the hub went away')

    const second = await startHub({ privateKey, listen: [`/ip4/127.0.0.1/tcp/${port}`], openMode: true })
    cleanup.push(() => second.stop())
    assert.equal(second.addresses()[0]?.toString(), address.toString())
    await eventually(
      () => second.registry.isRegistered(exporter.peerId),
      20_000,
      're-registered with the new hub',
    )
    await eventually(() => handle.registered, 5_000, 'handle reports registered')
  })
})

describe('gated relay', () => {
  it('relays > 1 MiB to a registered exporter and refuses an unregistered reservation', async () => {
    const logger = recordingLogger()
    const h = await hub({ logger, reservationGraceMs: 2_000 })
    const hubAddress = h.addresses()[0]!

    // The exporter listens on /p2p-circuit: its relay client reserves once the hub connection
    // (opened by the registration) is identified; the hub waits for the registration.
    const exporter = await node({ relayClient: true, listen: [...LOOPBACK, '/p2p-circuit'] })
    await exporter.handle(
      COUNT,
      async (stream: Stream) => {
        let total = 0
        for await (const chunk of stream) total += chunk.byteLength
        const reply = new Uint8Array(8)
        new DataView(reply.buffer).setBigUint64(0, BigInt(total))
        stream.send(reply)
        await stream.close()
      },
      { runOnLimitedConnection: true },
    )
    const handle = register(exporter, h, 'lab-relay')
    await withTimeout(handle.firstRegistered, 10_000, 'registered')
    await eventually(
      () => exporter.getMultiaddrs().some((a) => a.toString().includes('/p2p-circuit')),
      10_000,
      'exporter holds a relay reservation',
    )
    assert.ok(logger.lines.some((l) => l.message === 'relay reservation allowed'))

    const importer = await node({ relayClient: true })
    const circuit = multiaddr(`${hubAddress.toString()}/p2p-circuit/p2p/${exporter.peerId.toString()}`)
    const stream = await withTimeout(
      importer.dialProtocol(circuit, COUNT, { runOnLimitedConnection: true }),
      10_000,
      'dial through the relay',
    )
    const connection = importer.getConnections(exporter.peerId)[0]
    assert.ok(connection?.remoteAddr.toString().includes('/p2p-circuit'), 'the connection is relayed')
    const chunks: Uint8Array[] = []
    const reading = (async () => {
      for await (const chunk of stream) chunks.push(chunk.subarray())
    })()
    const total = 1536 * 1024
    const block = new Uint8Array(64 * 1024).fill(0xa5)
    for (let sent = 0; sent < total; sent += block.length) {
      if (!stream.send(block)) await waitForDrain(stream, { signal: AbortSignal.timeout(10_000) })
    }
    await stream.close()
    await withTimeout(reading, 20_000, 'count reply')
    const reply = Buffer.concat(chunks)
    assert.equal(reply.length, 8)
    assert.equal(Number(reply.readBigUInt64BE(0)), total)

    // An unregistered peer cannot reserve: listening on <hub>/p2p-circuit fails.
    const before = logger.lines.length
    await assert.rejects(
      createTetherNode({
        privateKey: await newKey(),
        listen: [...LOOPBACK, `${hubAddress.toString()}/p2p-circuit`],
        relayClient: true,
        webSockets: false,
      }),
    )
    assert.ok(
      logger.lines.slice(before).some((l) => l.level === 'warn' && l.message === 'relay reservation refused'),
      'the hub logged the refusal',
    )

    // And nobody may be relayed to a peer that is not a registered exporter.
    await handle.stop()
    await importer.hangUp(exporter.peerId)
    await assert.rejects(
      importer.dialProtocol(circuit, COUNT, {
        runOnLimitedConnection: true,
        signal: AbortSignal.timeout(10_000),
      }),
    )
  })
})
