import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { connectionPath } from '../src/connection-path.js'
import { dialBackTargets, handleDialBack, requestDialBack } from '../src/dialback.js'
import { listenOn } from '../src/listen.js'
import { createTetherNode, type TetherNode } from '../src/node.js'
import { loopbackNode, tcpAddress, withTimeout } from './helpers.js'

describe('dial-back upgrade', () => {
  let relay: TetherNode
  let exporter: TetherNode
  let importer: TetherNode

  before(async () => {
    relay = await loopbackNode({ relayServer: { reservations: { applyDefaultLimit: false } } })
    // The exporter listens on nothing but the relay: nobody can dial it directly.
    exporter = await createTetherNode({
      privateKey: await generateKeyPair('Ed25519'),
      listen: [],
      relayClient: true,
      webSockets: false,
    })
    await exporter.dial(tcpAddress(relay))
    const circuit = tcpAddress(relay).encapsulate('/p2p-circuit')
    const listening = new Promise<void>((resolve) => {
      exporter.addEventListener('self:peer:update', () => {
        if (exporter.getMultiaddrs().some((a) => a.toString().includes('p2p-circuit'))) resolve()
      })
    })
    await listenOn(exporter, [circuit])
    await withTimeout(listening, 10_000, 'relay reservation')
    await handleDialBack(exporter)
    importer = await loopbackNode({ relayClient: true })
  })

  after(async () => {
    await Promise.all([importer?.stop(), exporter?.stop(), relay?.stop()])
  })

  it('turns a relayed connection into a direct one when the requester is reachable', async () => {
    const viaRelay = tcpAddress(relay).encapsulate(`/p2p-circuit/p2p/${exporter.peerId.toString()}`)
    const relayed = await importer.dial(viaRelay)
    assert.equal(connectionPath(relayed), 'relayed')
    const direct = await withTimeout(requestDialBack(importer, relayed), 15_000, 'dial-back')
    assert.ok(direct, 'a direct connection exists after the dial-back')
    assert.equal(connectionPath(direct), 'direct')
    assert.equal(direct.remotePeer.toString(), exporter.peerId.toString())
    assert.equal(direct.direction, 'inbound', 'the exporter dialled the importer')
  })

  it('reports no upgrade when the requester is unreachable', async () => {
    const hidden = await createTetherNode({
      privateKey: await generateKeyPair('Ed25519'),
      listen: [],
      relayClient: true,
      webSockets: false,
    })
    try {
      const viaRelay = tcpAddress(relay).encapsulate(`/p2p-circuit/p2p/${exporter.peerId.toString()}`)
      const relayed = await hidden.dial(viaRelay)
      // No listen addresses: nothing to dial back; the relayed connection stays usable.
      assert.equal(await requestDialBack(hidden, relayed), undefined)
      assert.equal(relayed.status, 'open')
    } finally {
      await hidden.stop()
    }
  })
})

describe('dialBackTargets', () => {
  it('keeps only direct TCP/WS addresses of the requester itself', async () => {
    const me = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const targets = dialBackTargets(
      [
        '/ip4/10.0.0.1/tcp/4001',
        `/ip4/10.0.0.2/tcp/4001/p2p/${me.toString()}`,
        `/ip4/10.0.0.3/tcp/4001/p2p/${other.toString()}`,
        `/ip4/10.0.0.4/tcp/4001/p2p/${other.toString()}/p2p-circuit`,
        '/ip4/10.0.0.5/udp/4001/quic-v1',
        'not a multiaddr',
        '/dns4/example.test/tcp/443/wss',
      ],
      me,
    )
    assert.deepEqual(targets, [
      `/ip4/10.0.0.1/tcp/4001/p2p/${me.toString()}`,
      `/ip4/10.0.0.2/tcp/4001/p2p/${me.toString()}`,
      `/dns4/example.test/tcp/443/wss/p2p/${me.toString()}`,
    ])
    assert.equal(multiaddr(targets[0] ?? '').toString(), targets[0])
  })
})
