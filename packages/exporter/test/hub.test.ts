import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { type Hub, startHub } from '@tether/hub'
import { openTunnel, type TetherNode } from '@tether/net'
import { importDeviceOver } from '@tether/usbip'
import { type Exporter, parsePlacesToml, startExporter } from '../src/index.js'
import { importerNode, waitFor, withTimeout } from './helpers.js'

const PLACES = `
name = "lab-relay"
[network]
listen = ["/ip4/127.0.0.1/tcp/0"]
[[place]]
name = "bench"
tags = ["relay"]
  [[place.part]]
  name = "uart"
  compatible = ["tether,echo"]
    [[place.part.interface]]
    name = "echo"
    model = "cdc-acm"
`

const encoder = new TextEncoder()
const decoder = new TextDecoder()

describe('exporter with a real hub: registration, relay reservation, reach through the circuit', () => {
  let hubKey: PrivateKey
  let hub: Hub
  let hubAddress: Multiaddr
  let exporter: Exporter
  let importer: TetherNode
  const registrations: string[] = []

  const startTestHub = (listen: string) => startHub({ privateKey: hubKey, listen: [listen], openMode: true })
  const entry = () => hub.registry.lookup(exporter.node.peerId.toString())
  const circuitOf = (address: Multiaddr) =>
    multiaddr(`${address.toString()}/p2p-circuit/p2p/${exporter.node.peerId.toString()}`)

  before(async () => {
    hubKey = await generateKeyPair('Ed25519')
    hub = await startTestHub('/ip4/127.0.0.1/tcp/0')
    hubAddress = hub.addresses().find((a) => a.toString().includes('/tcp/') && !a.toString().includes('/ws'))!
    exporter = await startExporter({
      config: parsePlacesToml(PLACES, '/tmp/places.toml'),
      privateKey: await generateKeyPair('Ed25519'),
      hub: hubAddress,
      openMode: true,
      refreshMs: 500,
      relayCheckMs: 100,
      onRegistration: (state) => registrations.push(state),
    })
    importer = await importerNode()
  })
  after(async () => {
    await exporter?.stop()
    await importer?.stop()
    await hub?.stop()
  })

  /** Echo one line through a tunnel dialled at `address` only; returns the path the exporter saw. */
  async function echoThrough(address: Multiaddr, line: string): Promise<string> {
    const duplex = await withTimeout(openTunnel(importer, address, { busid: '1-1' }), 10_000, 'tunnel')
    const device = await withTimeout(importDeviceOver(duplex, '1-1'), 5000, 'import')
    await device.control({ requestType: 0x00, request: 0x09, value: 1, index: 0, length: 0 })
    const reply = device.submit({ ep: 1, direction: 'in', length: 512 })
    await device.submit({ ep: 2, direction: 'out', data: encoder.encode(line) })
    assert.equal(decoder.decode((await withTimeout(reply, 5000, 'echo')).data), line)
    const path = exporter.tunnels()[0]?.path ?? 'none'
    await device.close()
    await waitFor(() => exporter.tunnels().length === 0, 'tunnel closed')
    return path
  }

  test('registers its places, then its relay circuit address appears in the directory', async () => {
    await withTimeout(exporter.registration!.firstRegistered, 10_000, 'first registration')
    assert.equal(entry()?.name, 'lab-relay')
    assert.deepEqual(entry()?.places, [
      {
        name: 'bench',
        tags: ['relay'],
        parts: [
          {
            name: 'uart',
            compatible: ['tether,echo'],
            interfaces: [
              {
                kind: 'usb',
                name: 'echo',
                busid: '1-1',
                vendorId: exporter.interfaces[0]!.vendorId,
                productId: exporter.interfaces[0]!.productId,
                description: exporter.interfaces[0]!.description,
              },
            ],
          },
        ],
      },
    ])
    await waitFor(
      () => entry()?.addresses.some((a) => a === `${hubAddress.toString()}/p2p-circuit`) ?? false,
      'circuit address registered',
    )
    assert.ok(exporter.addresses().some((a) => a.includes('/p2p-circuit')))
    assert.deepEqual(registrations, ['registered'])
  })

  test('an importer with only the circuit address reaches the echo device through the hub', async () => {
    assert.equal(await echoThrough(circuitOf(hubAddress), 'via the relay\r\n'), 'relayed')
  })

  test('after the hub restarts, the exporter registers again and re-reserves its relay slot', async () => {
    const port = hubAddress.getComponents().find((c) => c.name === 'tcp')!.value!
    await hub.stop()
    await waitFor(
      () => !exporter.addresses().some((a) => a.includes('/p2p-circuit')),
      'circuit address dropped',
    )
    hub = await startTestHub(`/ip4/127.0.0.1/tcp/${port}`)
    await waitFor(
      () => registrations.filter((r) => r === 'registered').length === 2,
      'registered again',
      20_000,
    )
    await waitFor(
      () => entry()?.addresses.some((a) => a === `${hubAddress.toString()}/p2p-circuit`) ?? false,
      'circuit address registered with the new hub',
      20_000,
    )
    await importer.hangUp(exporter.node.peerId).catch(() => {})
    assert.equal(await echoThrough(circuitOf(hubAddress), 'after the restart\r\n'), 'relayed')
  })
})
