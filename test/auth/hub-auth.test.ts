/**
 * The hub with [auth], against a real OpenID Provider (test/lib/idp.ts) whose ID tokens come from
 * logins through a real browser: claims → roles (a list claim lacking a required value must not
 * match), exporter enrollment with one-time join tokens, reservations with policy caps, the wait
 * queue surviving a hub restart in order, and capability tokens bound to the asking peer (a token
 * replayed by another peer is refused by the exporter-side check).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { generateSigningKey, JwksCache, type SigningKey, verifyCapability } from '@tether/auth'
import { callHub, capabilityIssuer, type HubRequest, HubRequestError } from '@tether/control'
import { keepRegistered, type RegistrationHandle } from '@tether/directory'
import type { Hub } from '@tether/hub'
import { createTetherNode, type TetherNode } from '@tether/net'
import type { Browser } from 'playwright-core'
import { LAB_A_RULE, startAuthHub, testHubToml } from '../lib/auth-hub.js'
import { loginAs } from '../lib/browser-login.js'
import { type Idp, startIdp } from '../lib/idp.js'
import { launchChromium } from '../login/browser.js'

const hubToml = (issuer: string) =>
  testHubToml(
    issuer,
    LAB_A_RULE,
    `
[[rule]]
name = "needs both groups"
match = { groups = ["lab-a", "release"] }
roles = ["importer"]
places = ["*"]
max_priority = 100
`,
  )

describe('hub with [auth]: logins, enrollment, reservations, capabilities', { timeout: 180_000 }, () => {
  let idp: Idp
  let browser: Browser
  let dir: string
  let hubKey: PrivateKey
  let signingKey: SigningKey
  let hub: Hub
  let hubAddress: Multiaddr
  let alice: string
  let bob: string
  const nodes: TetherNode[] = []
  const registrations: RegistrationHandle[] = []

  // One node per role, reused: the hub admits only a few new connections per second from one host.
  const byRole = new Map<string, Promise<TetherNode>>()
  const node = (role: string) => {
    let n = byRole.get(role)
    if (!n) {
      n = generateKeyPair('Ed25519').then((privateKey) => createTetherNode({ privateKey, listen: [] }))
      n.then(
        (ready) => nodes.push(ready),
        () => {},
      )
      byRole.set(role, n)
    }
    return n
  }
  // A restart listens where the hub was, so that exporters find it again.
  const startTestHub = async () => {
    ;({ hub, address: hubAddress } = await startAuthHub({
      toml: hubToml(idp.issuer),
      dir,
      privateKey: hubKey,
      signingKey,
      ...(hubAddress ? { listen: [hubAddress.decapsulateCode(421).toString()] } : {}),
    }))
  }
  const ask = (n: TetherNode, login: string, body: HubRequest['body']) =>
    callHub(n, hubAddress, { login, body })
  const reserveRpi1 = (priority: number, wait: boolean, leaseMs = 600_000): HubRequest['body'] => ({
    type: 'reserve',
    place: 'rpi-1',
    tags: [],
    parts: [],
    priority,
    leaseMs,
    wait,
  })
  const refusedWith = (code: string) => (err: unknown) => {
    assert.ok(err instanceof HubRequestError, String(err))
    assert.equal(err.code, code, err.message)
    return true
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-hub-auth-'))
    idp = await startIdp()
    browser = await launchChromium()
    alice = await loginAs(idp, browser, 'alice', 'alice-password')
    bob = await loginAs(idp, browser, 'bob', 'bob-password')
    hubKey = await generateKeyPair('Ed25519')
    signingKey = await generateSigningKey()
    await startTestHub()
  })

  after(async () => {
    for (const r of registrations) await r.stop().catch(() => {})
    await Promise.allSettled(nodes.map((n) => n.stop()))
    await hub?.stop()
    await browser?.close()
    await idp?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('whoami: claims → roles; a list claim lacking one required value does not match', async () => {
    const me = await node('me')
    const a = await ask(me, alice, { type: 'whoami' })
    assert.equal(a.type, 'identity')
    assert.deepEqual(a.type === 'identity' && [...a.roles].sort(), ['admin', 'importer'])
    // alice has groups [lab-a, board-admins]: the rule asking for [lab-a, release] must not apply,
    // so her caps stay those of "lab-a developers" (checked below with a priority of 9).
    const b = await ask(me, bob, { type: 'whoami' })
    assert.deepEqual(b.type === 'identity' && b.roles, [])
    await assert.rejects(ask(me, 'not-a-token', { type: 'whoami' }), refusedWith('ERR_TOKEN_MALFORMED'))
    assert.deepEqual(await ask(me, '', { type: 'auth-info' }), {
      type: 'auth-info',
      issuers: [{ url: idp.issuer, clientId: 'tether-cli' }],
    })
    await assert.rejects(ask(me, '', { type: 'whoami' }), refusedWith('ERR_TOKEN_MISSING'))
  })

  test('refusals go to the audit log with the peer, within a budget per peer', async () => {
    const flooder = await node('flooder')
    const peer = flooder.peerId.toString()
    for (let i = 0; i < 40; i++) {
      await assert.rejects(
        ask(flooder, 'not-a-token', { type: 'whoami' }),
        refusedWith('ERR_TOKEN_MALFORMED'),
      )
    }
    await assert.rejects(
      ask(flooder, bob, {
        type: 'reserve',
        place: 'rpi-1',
        tags: [],
        parts: [],
        priority: 0,
        leaseMs: 0,
        wait: false,
      }),
      (err: unknown) => err instanceof HubRequestError,
    )
    const rows = (
      (await hub.authority?.reservations.store.audit({ types: ['refused'], limit: 10_000 })) ?? []
    )
      .map(({ event }) => event)
      .filter((e) => e.type === 'refused' && e.peer === peer)
    assert.equal(rows.length, 20, 'a burst of 20 recorded, the other 21 refusals left out')
    assert.ok(rows.every((e) => e.type === 'refused' && e.code === 'ERR_TOKEN_MALFORMED'))
  })

  test('exporter enrollment: a join token binds the name once; reuse and unenrolled names are refused', async () => {
    const admin = await node('admin')
    const issued = await ask(admin, alice, { type: 'join-token', exporter: 'lab-a-1', validMs: 60_000 })
    assert.equal(issued.type, 'join-token')
    const token = issued.type === 'join-token' ? issued.token : ''
    await assert.rejects(
      ask(admin, bob, { type: 'join-token', exporter: 'x', validMs: 1 }),
      refusedWith('ERR_PERMISSION_DENIED'),
    )

    const exporter = await node('exporter')
    const enrolled = await ask(exporter, '', { type: 'enroll', joinToken: token })
    assert.deepEqual(enrolled, { type: 'enrolled', exporter: 'lab-a-1' })
    const intruder = await node('intruder')
    await assert.rejects(
      ask(intruder, '', { type: 'enroll', joinToken: token }),
      refusedWith('ERR_JOIN_TOKEN_USED'),
    )

    const registration = keepRegistered(exporter, {
      hub: hubAddress,
      registration: () => ({
        name: 'lab-a-1',
        addresses: ['/ip4/127.0.0.1/tcp/9'],
        places: [
          {
            name: 'rpi-1',
            tags: ['lab-a'],
            parts: [{ name: 'board', compatible: ['raspberrypi,4'], interfaces: [] }],
          },
          {
            name: 'rpi-2',
            tags: ['lab-b'],
            parts: [{ name: 'board', compatible: ['raspberrypi,4'], interfaces: [] }],
          },
        ],
      }),
    })
    registrations.push(registration)
    await registration.firstRegistered
    // The same name from an unenrolled peer is refused.
    const refusal = new Promise<string | undefined>((resolve) => {
      const squatter = keepRegistered(intruder, {
        hub: hubAddress,
        registration: () => ({ name: 'lab-a-1', addresses: [], places: [] }),
        onChange: (state, detail) => {
          if (state === 'retrying') resolve((detail?.error as { code?: string } | undefined)?.code)
        },
      })
      registrations.push(squatter)
    })
    assert.equal(await refusal, 'ERR_NOT_ADMITTED')
  })

  test('reservations follow the policy: place rights and the priority cap', async () => {
    const me = await node('me')
    const reserve = (login: string, place: string, priority = 0) =>
      ask(me, login, { type: 'reserve', place, tags: [], parts: [], priority, leaseMs: 0, wait: false })
    await assert.rejects(reserve(bob, 'rpi-1'), refusedWith('ERR_PERMISSION_DENIED'))
    await assert.rejects(reserve(alice, 'rpi-2'), refusedWith('ERR_PERMISSION_DENIED'))
    await assert.rejects(reserve(alice, 'rpi-1', 9), refusedWith('ERR_PRIORITY_CAP'))
    // Each refusal is in the audit log, with its reason.
    const refusals = ((await hub.authority?.reservations.store.audit({ types: ['refused'] })) ?? []).map(
      ({ event }) => (event.type === 'refused' ? event.code : ''),
    )
    assert.ok(
      refusals.includes('ERR_PERMISSION_DENIED') && refusals.includes('ERR_PRIORITY_CAP'),
      String(refusals),
    )
    const denied = ((await hub.authority?.reservations.store.audit({ types: ['refused'] })) ?? []).find(
      ({ event }) => event.type === 'refused' && event.code === 'ERR_PRIORITY_CAP',
    )?.event
    assert.ok(
      denied?.type === 'refused' && denied.user && denied.peer === me.peerId.toString(),
      'who and which peer',
    )
    const lease = await reserve(alice, 'rpi-1', 5)
    assert.equal(lease.type, 'lease')
    if (lease.type !== 'lease') return
    assert.equal(lease.lease.place, 'rpi-1')
    assert.equal(lease.lease.exporter, 'lab-a-1')
    assert.ok(lease.lease.expiresAtMs - lease.lease.startsAtMs <= 3_600_000, 'capped at max_lease = 1h')
    await ask(me, alice, { type: 'return', id: lease.lease.id })
  })

  test('capability tokens are bound to the asking peer; another peer replaying one is refused', async () => {
    const agent = await node('agent')
    const lease = await ask(agent, alice, reserveRpi1(0, false))
    assert.equal(lease.type, 'lease')
    if (lease.type !== 'lease') return
    const cap = await ask(agent, alice, { type: 'capability', leaseId: lease.lease.id })
    assert.equal(cap.type, 'capability')
    if (cap.type !== 'capability') return
    const jwks = await ask(agent, '', { type: 'jwks' })
    const keys = await JwksCache.inMemory(jwks.type === 'jwks' ? JSON.parse(jwks.json) : undefined)
    const check = (remote: Uint8Array) =>
      verifyCapability(cap.token, {
        keys,
        issuer: capabilityIssuer(hub.node.peerId.toString()),
        audience: lease.lease.exporterPeerId,
        remotePublicKey: remote,
        place: 'rpi-1',
        isRevoked: () => false,
      })
    const claims = await check(agent.peerId.publicKey?.raw as Uint8Array)
    assert.equal(claims.rid, lease.lease.id)
    assert.ok(claims.rights.includes('usb.attach'))
    const thief = await node('intruder')
    await assert.rejects(check(thief.peerId.publicKey?.raw as Uint8Array), { code: 'ERR_TOKEN_BINDING' })
    // Bob cannot get a capability for alice's lease.
    await assert.rejects(
      ask(agent, bob, { type: 'capability', leaseId: lease.lease.id }),
      refusedWith('ERR_NOT_FOUND'),
    )
    await ask(agent, alice, { type: 'return', id: lease.lease.id })
  })

  test('who shows the leases of places one may use; list --all is for admins', async () => {
    const me = await node('me')
    idp.users.set('carol', {
      sub: 'carol',
      password: 'carol-password',
      claims: { name: 'Carol Example', email: 'carol@example.test', email_verified: true, groups: ['lab-a'] },
    })
    const carol = await loginAs(idp, browser, 'carol', 'carol-password')
    const lease = await ask(me, alice, reserveRpi1(0, false))
    assert.equal(lease.type, 'lease')
    if (lease.type !== 'lease') return
    const holders = async (login: string, place?: string) => {
      const answer = await ask(me, login, { type: 'who', ...(place ? { place } : {}) })
      return answer.type === 'list' ? answer.leases.map((l) => `${l.user}@${l.place}`) : []
    }
    // carol may reserve lab-a places: she sees who holds one; bob has no rule and sees nothing.
    assert.deepEqual(await holders(carol), ['alice@rpi-1'])
    assert.deepEqual(await holders(carol, 'rpi-1'), ['alice@rpi-1'])
    assert.deepEqual(await holders(bob), [])
    await assert.rejects(holders(bob, 'rpi-1'), refusedWith('ERR_PERMISSION_DENIED'))
    await assert.rejects(ask(me, carol, { type: 'list', all: true }), refusedWith('ERR_PERMISSION_DENIED'))
    // Place states (tether places): the same rule for the holder's name; the state for anyone.
    const states = async (login: string) => {
      const answer = await ask(me, login, { type: 'place-states', places: ['lab-a-1/rpi-1', 'lab-a-1/gone'] })
      return answer.type === 'place-states' ? answer.states : []
    }
    const [held, gone] = await states(carol)
    assert.deepEqual(
      { state: held?.state, holder: held?.holder, until: held?.untilMs },
      { state: 'leased', holder: 'alice', until: lease.lease.expiresAtMs },
    )
    assert.equal(gone?.state, 'offline')
    const [heldForBob] = await states(bob)
    assert.equal(heldForBob?.state, 'leased')
    assert.equal(heldForBob?.holder, undefined, 'bob may not use rpi-1: no name')
    const everyone = await ask(me, alice, { type: 'list', all: true })
    assert.ok(everyone.type === 'list' && everyone.leases.some((l) => l.id === lease.lease.id))
    await ask(me, alice, { type: 'return', id: lease.lease.id })
  })

  test('hub restart with a waiting queue: nothing lost, order kept', async () => {
    const holder = await node('agent')
    const first = await ask(holder, alice, reserveRpi1(0, false))
    assert.equal(first.type, 'lease')
    const firstId = first.type === 'lease' ? first.lease.id : ''
    const held = await ask(holder, alice, { type: 'capability', leaseId: firstId })
    const heldToken = held.type === 'capability' ? held.token : ''
    // Two waiting entries (priority 1 then 3): the higher priority is served first whatever the order.
    const waiters = [1, 3].map((priority) => {
      const seen: number[] = []
      const done = node(`waiter-${priority}`).then((n) =>
        callHub(
          n,
          hubAddress,
          { login: alice, body: reserveRpi1(priority, true) },
          { onProgress: (e) => seen.push(e.position) },
        ),
      )
      done.catch(() => {})
      return { priority, seen, done }
    })
    const admin = await node('admin')
    const queued = async () => {
      const list = await ask(admin, alice, { type: 'list', all: true })
      return list.type === 'list' ? list.queue : []
    }
    for (let i = 0; i < 100 && (await queued()).length < 2; i++) await new Promise((r) => setTimeout(r, 50))
    const before = await queued()
    assert.deepEqual(
      before.map((q) => q.priority),
      [3, 1],
    )
    assert.ok(
      waiters.every((w) => w.seen.length > 0),
      'each waiter was told its position',
    )

    // Restart the hub on the same database. Waiting clients lose their streams; the hub keeps
    // their entries (a lost connection costs no place in the queue).
    await hub.stop()
    await startTestHub()
    const afterRestart = await queued()
    assert.deepEqual(
      afterRestart.map((q) => [q.id, q.priority, q.position]),
      before.map((q) => [q.id, q.priority, q.position]),
    )
    const leases = await ask(admin, alice, { type: 'list', all: true })
    assert.ok(
      leases.type === 'list' && leases.leases.some((l) => first.type === 'lease' && l.id === first.lease.id),
    )

    // The restarted hub forgot who holds the capability; the token in the holder's hand proves it.
    const renew = (n: TetherNode, previous?: string) =>
      ask(n, '', { type: 'capability', leaseId: firstId, ...(previous ? { previous } : {}) })
    await assert.rejects(renew(holder), refusedWith('ERR_TOKEN_MISSING'))
    let renewed: Awaited<ReturnType<typeof renew>> | undefined
    for (let i = 0; i < 300 && !renewed; i++) {
      // The exporter registers again with the new hub process first (its next refresh, ≤ 10 s).
      renewed = await renew(holder, heldToken).catch((err: unknown) => {
        if (err instanceof HubRequestError && err.code === 'ERR_NOT_FOUND') return undefined
        throw err
      })
      if (!renewed) await new Promise((r) => setTimeout(r, 100))
    }
    assert.equal(renewed?.type, 'capability')
    await assert.rejects(renew(await node('intruder'), heldToken), refusedWith('ERR_TOKEN_BINDING'))
    await ask(holder, alice, { type: 'return', id: firstId })
    await assert.rejects(renew(holder, heldToken), refusedWith('ERR_LEASE_ENDED'))
  })
})
