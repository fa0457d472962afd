/**
 * An exporter behind a hub with [auth] accepts a tunnel only with a capability token the hub
 * signed for this exporter, this place and the importer's own key; it closes tunnels when the hub
 * says a lease ended (kick: within 5 s) or when the token expires. Real IdP, real browser logins.
 * Each refusal is asserted by the code the exporter gives (and logs).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { Agent } from '@tether/agent'
import { callHub, type HubRequest } from '@tether/control'
import { type Exporter, parsePlacesToml, startExporter } from '@tether/exporter'
import type { Hub } from '@tether/hub'
import { createTetherNode, openTunnel, type TetherNode } from '@tether/net'
import { importDevice, importDeviceOver, listDevices, listDevicesOver, OpStatus } from '@tether/usbip'
import type { Browser } from 'playwright-core'
import { startAuthHub, testHubToml } from '../lib/auth-hub.js'
import { loginAs } from '../lib/browser-login.js'
import { type Idp, startIdp } from '../lib/idp.js'
import { freePort } from '../lib/tether-process.js'
import { launchChromium } from '../login/browser.js'

const hubToml = (issuer: string) =>
  testHubToml(
    issuer,
    `
[[rule]]
name = "lab-a"
match = { groups = ["lab-a"] }
roles = ["importer"]
places = ["*"]
`,
  )

const PLACES = `
name = "lab-a-1"
[[place]]
name = "rpi-1"
  [[place.part]]
  name = "board"
    [[place.part.interface]]
    name = "console"
    model = "cdc-acm"
[[place]]
name = "rpi-2"
  [[place.part]]
  name = "board"
    [[place.part.interface]]
    name = "console"
    model = "cdc-acm"
`

describe('exporter with a hub with [auth]: capability tokens on every tunnel', { timeout: 180_000 }, () => {
  let idp: Idp
  let browser: Browser
  let dir: string
  let hub: Hub
  let hubAddress: Multiaddr
  let exporter: Exporter
  let importer: TetherNode
  let thief: TetherNode
  let alice: string
  let exporterKey: PrivateKey
  /** The capability of a kicked lease (unexpired): no exporter may accept it again. */
  let kickedToken: Uint8Array | undefined
  const busidOf = (place: string) => exporter.interfaces.find((i) => i.place === place)?.busid as string

  const ask = (body: HubRequest['body']) => callHub(importer, hubAddress, { login: alice, body })
  const lease = async (place: string, leaseMs = 600_000) => {
    const answer = await ask({
      type: 'reserve',
      place,
      tags: [],
      parts: [],
      priority: 0,
      leaseMs,
      wait: false,
    })
    assert.equal(answer.type, 'lease')
    return answer.type === 'lease' ? answer.lease : (undefined as never)
  }
  const capability = async (leaseId: string) => {
    const answer = await ask({ type: 'capability', leaseId })
    assert.equal(answer.type, 'capability')
    return answer.type === 'capability' ? new TextEncoder().encode(answer.token) : (undefined as never)
  }
  const tunnel = (node: TetherNode, busid: string, token?: Uint8Array) =>
    openTunnel(node, exporter.node.getMultiaddrs(), { busid, ...(token ? { token } : {}) })
  /** The refusal's status and, given `code`, the exporter's refusal code (details.code). */
  const refused = (status: string, code?: string) => (err: unknown) => {
    const e = err as { code?: string; details?: { status?: string; code?: string }; message: string }
    assert.equal(e.code, 'ERR_TUNNEL_REFUSED', e.message)
    assert.equal(e.details?.status, status, e.message)
    if (code) assert.equal(e.details?.code, code, e.message)
    return true
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-exporter-auth-'))
    idp = await startIdp()
    browser = await launchChromium()
    alice = await loginAs(idp, browser, 'alice', 'alice-password')
    ;({ hub, address: hubAddress } = await startAuthHub({ toml: hubToml(idp.issuer), dir }))
    importer = await createTetherNode({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    thief = await createTetherNode({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    const join_ = await ask({ type: 'join-token', exporter: 'lab-a-1', validMs: 60_000 })
    exporterKey = await generateKeyPair('Ed25519')
    exporter = await startExporter({
      config: parsePlacesToml(PLACES, join(dir, 'places.toml')),
      privateKey: exporterKey,
      hub: hubAddress,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      auth: {
        jwksCache: join(dir, 'jwks.json'),
        revokedLeases: join(dir, 'revoked.json'),
        joinToken: join_.type === 'join-token' ? join_.token : '',
      },
    })
    await exporter.registration?.firstRegistered
    // The exporter has the hub's keys once its watch stream is up.
    for (let i = 0; i < 100; i++) {
      const who = await ask({ type: 'who', place: 'rpi-1' }).catch(() => undefined)
      if (who) break
      await new Promise((r) => setTimeout(r, 50))
    }
    await new Promise((r) => setTimeout(r, 500))
  })

  after(async () => {
    await exporter?.stop()
    await Promise.allSettled([importer?.stop(), thief?.stop()])
    await hub?.stop()
    await browser?.close()
    await idp?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('a stream opened with no token is refused', async () => {
    await assert.rejects(tunnel(importer, busidOf('rpi-1')), refused('STATUS_DENIED', 'ERR_TOKEN_MISSING'))
  })

  test('with the capability for the lease the device imports; replayed by another peer it is refused', async () => {
    const l = await lease('rpi-1')
    const token = await capability(l.id)
    const duplex = await tunnel(importer, busidOf('rpi-1'), token)
    const device = await importDeviceOver(duplex, busidOf('rpi-1'))
    assert.equal(device.record.busid, busidOf('rpi-1'))
    await device.close()
    await assert.rejects(
      tunnel(thief, busidOf('rpi-1'), token),
      refused('STATUS_DENIED', 'ERR_TOKEN_BINDING'),
    )
    // Its device list shows rpi-1's devices only.
    const listed = await listDevicesOver(await tunnel(importer, '', token))
    assert.deepEqual(
      listed.map((d) => d.busid),
      [busidOf('rpi-1')],
    )
    // A token for rpi-1 does not open rpi-2.
    await assert.rejects(
      tunnel(importer, busidOf('rpi-2'), token),
      refused('STATUS_DENIED', 'ERR_TOKEN_PLACE'),
    )
    // A tampered token is refused.
    const tampered = new Uint8Array(token)
    tampered[tampered.length - 5] = (tampered[tampered.length - 5] as number) ^ 1
    await assert.rejects(tunnel(importer, busidOf('rpi-1'), tampered), refused('STATUS_DENIED'))
    await ask({ type: 'return', id: l.id })
  })

  test('kick: the exporter closes the tunnel within 5 s, refuses the revoked token; the audit log has the kick', async () => {
    const l = await lease('rpi-1')
    const token = await capability(l.id)
    const duplex = await tunnel(importer, busidOf('rpi-1'), token)
    const device = await importDeviceOver(duplex, busidOf('rpi-1'))
    // EOF is what the importer's kernel acts on (vhci detaches); the stream is cut after that.
    const closed = new Promise<number>((resolve) => {
      duplex.once('end', () => resolve(Date.now()))
      duplex.once('close', () => resolve(Date.now()))
    })
    const kickedAt = Date.now()
    await ask({ type: 'kick', leaseId: l.id, reason: 'needed for the release' })
    const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 5_000))])
    assert.notEqual(at, -1, 'the tunnel was still open 5 s after the kick')
    await device.close()
    const audit = await hub.authority?.reservations.store.audit({ types: ['lease-ended'] })
    assert.ok(
      audit?.some(({ event: e }) => e.type === 'lease-ended' && e.lease.id === l.id && e.reason === 'kicked'),
      'the audit log records the kick',
    )
    assert.ok(at - kickedAt < 5_000)
    await assert.rejects(
      tunnel(importer, busidOf('rpi-1'), token),
      refused('STATUS_DENIED', 'ERR_TOKEN_REVOKED'),
    )
    kickedToken = token
  })

  test('an exporter restarted after a kick still refuses the kicked lease token (the hub replays lease ends)', async () => {
    assert.ok(kickedToken, 'the kick test ran first')
    await exporter.stop()
    exporter = await startExporter({
      config: parsePlacesToml(PLACES, join(dir, 'places.toml')),
      privateKey: exporterKey,
      hub: hubAddress,
      listen: ['/ip4/127.0.0.1/tcp/0'],
      auth: { jwksCache: join(dir, 'jwks.json'), revokedLeases: join(dir, 'revoked.json') },
    })
    await exporter.registration?.firstRegistered
    await new Promise((r) => setTimeout(r, 1_000)) // the watch stream delivers the replay
    await assert.rejects(
      tunnel(importer, busidOf('rpi-1'), kickedToken),
      refused('STATUS_DENIED', 'ERR_TOKEN_REVOKED'),
    )
  })

  test('an exporter restarted while its hub is unreachable still refuses the kicked token (ended leases are on disk)', async () => {
    assert.ok(kickedToken, 'the kick test ran first')
    const live = await lease('rpi-2')
    const liveToken = await capability(live.id)
    const restart = (hubAt: Multiaddr) =>
      startExporter({
        config: parsePlacesToml(PLACES, join(dir, 'places.toml')),
        privateKey: exporterKey,
        hub: hubAt,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        auth: { jwksCache: join(dir, 'jwks.json'), revokedLeases: join(dir, 'revoked.json') },
      })
    await exporter.stop()
    // Same hub identity (the tokens' issuer), at an address nothing listens on.
    const nowhere = multiaddr(`/ip4/127.0.0.1/tcp/${await freePort()}/p2p/${hub.node.peerId.toString()}`)
    exporter = await restart(nowhere)
    try {
      await assert.rejects(
        tunnel(importer, busidOf('rpi-1'), kickedToken),
        refused('STATUS_DENIED', 'ERR_TOKEN_REVOKED'),
      )
      // Offline, a live lease's token still verifies against the cached keys.
      const device = await importDeviceOver(
        await tunnel(importer, busidOf('rpi-2'), liveToken),
        busidOf('rpi-2'),
      )
      await device.close()
    } finally {
      await exporter.stop()
      exporter = await restart(hubAddress)
      await exporter.registration?.firstRegistered
      await ask({ type: 'return', id: live.id })
    }
  })

  test('expiry: the tunnel closes when the lease (and token) ends; the expired token is refused', async () => {
    const l = await lease('rpi-1', 2_000)
    const token = await capability(l.id)
    const duplex = await tunnel(importer, busidOf('rpi-1'), token)
    const device = await importDeviceOver(duplex, busidOf('rpi-1'))
    const closed = new Promise<void>((resolve) => {
      duplex.once('end', () => resolve())
      duplex.once('close', () => resolve())
    })
    await Promise.race([
      closed,
      new Promise((_, reject) => setTimeout(() => reject(new Error('not closed')), 8_000)),
    ])
    await device.close()
    await new Promise((r) => setTimeout(r, 6_000)) // beyond the verifier's clock tolerance
    await assert.rejects(
      tunnel(importer, busidOf('rpi-1'), token),
      refused('STATUS_DENIED', 'ERR_TOKEN_EXPIRED'),
    )
  })

  test('renewal at the hub keeps the tunnel open past the old end; the holder renews its token without a login', async () => {
    const l = await lease('rpi-1', 2_000)
    const duplex = await tunnel(importer, busidOf('rpi-1'), await capability(l.id))
    const device = await importDeviceOver(duplex, busidOf('rpi-1'))
    let ended = false
    duplex.once('end', () => {
      ended = true
    })
    const renewed = await ask({ type: 'renew', id: l.id, leaseMs: 20_000 })
    assert.equal(renewed.type, 'lease')
    await new Promise((r) => setTimeout(r, 3_500))
    assert.equal(ended, false, 'the tunnel outlived the lease end it was opened with')
    // The peer holding the capability gets a fresh one without a login; another peer does not.
    const fresh = await callHub(importer, hubAddress, {
      login: '',
      body: { type: 'capability', leaseId: l.id },
    })
    assert.equal(fresh.type, 'capability')
    await assert.rejects(
      callHub(thief, hubAddress, { login: '', body: { type: 'capability', leaseId: l.id } }),
      (err: unknown) => (err as { code?: string }).code === 'ERR_TOKEN_MISSING',
    )
    await ask({ type: 'return', id: l.id })
    await new Promise((r) => setTimeout(r, 2_000))
    assert.equal(ended, true, 'returning the lease closed the tunnel')
    await device.close()
  })

  test('the agent forwards with a capability: the device lists and imports through it; without a login it does not', async () => {
    const l = await lease('rpi-2')
    const agent = await Agent.start({
      privateKey: await generateKeyPair('Ed25519'),
      listen: [],
      hub: hubAddress.toString(),
    })
    const anonymous = await Agent.start({
      privateKey: await generateKeyPair('Ed25519'),
      listen: [],
      hub: hubAddress.toString(),
    })
    try {
      const forward = await agent.forward({ target: 'rpi-2', login: alice })
      const [host, port] = forward.address.split(':') as [string, string]
      const devices = await listDevices({ host, port: Number(port) })
      assert.deepEqual(
        devices.map((d) => d.busid),
        [busidOf('rpi-2')],
      )
      const device = await importDevice({ host, port: Number(port), busid: busidOf('rpi-2') })
      await device.close()
      // Bob-less, login-less: the agent has no token, the exporter refuses its tunnels.
      const open = await anonymous.forward({ target: 'rpi-2' })
      const [h2, p2] = open.address.split(':') as [string, string]
      await assert.rejects(listDevices({ host: h2, port: Number(p2) }))
      // Nor can the agent forward a place the user holds no lease on.
      await assert.rejects(agent.forward({ target: 'rpi-1', login: alice }), { code: 'ERR_NO_LEASE' })
    } finally {
      await agent.stop()
      await anonymous.stop()
      await ask({ type: 'return', id: l.id })
    }
  })

  test('a kick ends the agent’s forward within 5 s (status: ended, the reason); usbip is refused; forwarding again replaces it', async (t) => {
    const l = await lease('rpi-2')
    const agent = await Agent.start({
      privateKey: await generateKeyPair('Ed25519'),
      listen: [],
      hub: hubAddress.toString(),
    })
    let again: Awaited<ReturnType<typeof lease>> | undefined
    try {
      const forward = await agent.forward({ target: 'rpi-2', login: alice, listen: '127.0.0.1:0' })
      const [host, port] = forward.address.split(':') as [string, string]
      const endpoint = { host, port: Number(port) }
      const busid = busidOf('rpi-2')
      const status = () => agent.status().forwards.find((f) => f.place === 'rpi-2')
      assert.equal(forward.state, 'up')
      // A stock usbip client holds the device through the forward when the lease is kicked.
      const device = await importDevice({ ...endpoint, busid })
      const kickedAt = Date.now()
      await ask({ type: 'kick', leaseId: l.id, reason: 'needed for the release' })
      while (status()?.state !== 'ended' && Date.now() - kickedAt < 5_000) {
        await new Promise((r) => setTimeout(r, 50))
      }
      const ended = status()
      assert.equal(ended?.state, 'ended', `still ${ended?.state} 5 s after the kick`)
      t.diagnostic(`forward ended ${Date.now() - kickedAt} ms after the kick`)
      assert.match(ended?.lastError ?? '', /refused the lease's capability: .*ERR_TOKEN_REVOKED/)
      assert.equal(ended?.path, undefined)
      await device.close().catch(() => {})
      // New connections are refused by the agent itself (USB/IP status NA), the exporter not asked.
      await assert.rejects(importDevice({ ...endpoint, busid }), (err: unknown) => {
        assert.equal((err as { details?: { status?: number } }).details?.status, OpStatus.NA)
        return true
      })
      await assert.rejects(listDevices(endpoint))

      // A new reservation, forwarded again on the same address: the ended forward is replaced.
      again = await lease('rpi-2')
      const replaced = await agent.forward({ target: 'rpi-2', login: alice, listen: forward.address })
      assert.equal(replaced.address, forward.address)
      assert.equal(replaced.state, 'up')
      assert.deepEqual(
        agent.status().forwards.map((f) => [f.id, f.state]),
        [[replaced.id, 'up']],
      )
      await (await importDevice({ ...endpoint, busid })).close()
      // Returned while idle (no tunnel open): the next connection finds the lease over.
      await ask({ type: 'return', id: again.id })
      again = undefined
      await assert.rejects(listDevices(endpoint))
      assert.equal(status()?.state, 'ended')
      assert.match(status()?.lastError ?? '', /ERR_TOKEN_REVOKED/)
    } finally {
      await agent.stop()
      if (again) await ask({ type: 'return', id: again.id })
    }
  })
})
