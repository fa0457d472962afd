/**
 * The agent against a real hub and exporter on loopback: a forward shows and imports only its
 * place's devices; an exporter reachable only through the relay gives a relayed path; once the
 * agent becomes reachable, the periodic upgrade turns it direct (dial-back) and new tunnels use it.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { type Exporter, parsePlacesToml, startExporter } from '@tether/exporter'
import { type Hub, startHub } from '@tether/hub'
import { listenOn } from '@tether/net'
import { importDevice, listDevices, UsbipError } from '@tether/usbip'
import { Agent, type ForwardInfo } from '../src/index.js'

// No [network] listen: the exporter has no address of its own, only the hub's relay circuit.
const PLACES = `
name = "lab-hidden"
[[place]]
name = "bench"
  [[place.part]]
  name = "board"
    [[place.part.interface]]
    name = "console"
    model = "cdc-acm"
    [[place.part.interface]]
    name = "zero"
    model = "gadget-zero"
[[place]]
name = "other"
  [[place.part]]
  name = "board"
    [[place.part.interface]]
    name = "console"
    model = "cdc-acm"
`

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('agent forward through a hub-registered exporter', { timeout: 60_000 }, () => {
  let hub: Hub
  let exporter: Exporter
  let agent: Agent
  let forward: ForwardInfo
  let endpoint: { host: string; port: number }

  const current = () => agent.status().forwards.find((f) => f.id === forward.id) as ForwardInfo

  before(async () => {
    hub = await startHub({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      openMode: true,
    })
    const hubAddress = hub.addresses().find((a) => !a.toString().includes('/ws'))
    assert.ok(hubAddress, 'the hub has a TCP address')
    exporter = await startExporter({
      config: parsePlacesToml(PLACES, 'places.toml'),
      privateKey: await generateKeyPair('Ed25519'),
      hub: hubAddress,
      listen: [],
      openMode: true,
    })
    // Registered with a relay circuit: the directory entry has an address to reach it by.
    await waitFor('exporter registered with its circuit', () =>
      hub.registry.lookup(exporter.node.peerId.toString())?.addresses.some((a) => a.includes('p2p-circuit'))
        ? true
        : undefined,
    )
    // Not listening at first either: no dial-back is possible yet.
    agent = await Agent.start({
      privateKey: await generateKeyPair('Ed25519'),
      listen: [],
      hub: hubAddress.toString(),
      upgradeIntervalMs: 300,
      rttIntervalMs: 200,
    })
    forward = await agent.forward({ target: 'bench' })
    const [host, port] = forward.address.split(':')
    endpoint = { host: host as string, port: Number(port) }
  })

  after(async () => {
    await agent?.stop()
    await exporter?.stop()
    await hub?.stop()
  })

  test('lists only the devices of the forwarded place', async () => {
    const devices = await listDevices(endpoint)
    const place = exporter.interfaces.filter((i) => i.path.startsWith('place[0]'))
    assert.equal(place.length, 2)
    assert.deepEqual(devices.map((d) => d.busid).sort(), place.map((i) => i.busid).sort())
  })

  test('refuses to import a device of another place', async () => {
    const foreign = exporter.interfaces.find((i) => i.path.startsWith('place[1]'))
    assert.ok(foreign)
    await assert.rejects(importDevice({ ...endpoint, busid: foreign.busid }), (err: unknown) => {
      assert.ok(err instanceof UsbipError, String(err))
      return true
    })
  })

  test('exporter reachable only through the relay: the path is relayed, with a round trip', async () => {
    assert.equal(current().path, 'relayed')
    const rtt = await waitFor('a round-trip measurement', () => current().rttMs)
    assert.ok(rtt >= 0)
  })

  test('once the agent is reachable, the periodic upgrade makes the path direct', async () => {
    await listenOn(agent.node, [multiaddr('/ip4/127.0.0.1/tcp/0')])
    await waitFor('a direct path', () => (current().path === 'direct' ? true : undefined))
    // A new tunnel goes over it: the device list still comes through.
    const devices = await listDevices(endpoint)
    assert.equal(devices.length, 2)
    assert.equal(current().path, 'direct')
  })
})
