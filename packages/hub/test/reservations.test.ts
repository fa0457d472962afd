import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type EngineEvent,
  type EnginePlace,
  type Lease,
  ReservationEngine,
  ReservationError,
  type ReserveResult,
} from '../src/reservations/index.js'

const T0 = 1_700_000_000_000
const MIN = 60_000

function board(id: string, compatible: string[], tags: string[] = []): EnginePlace {
  const [exporter, name] = id.split('/') as [string, string]
  return {
    id,
    exporter,
    name,
    tags,
    parts: [{ name: 'board', compatible, interfaces: [{ kind: 'usb', name: 'usb', busid: '1-1' }] }],
  }
}

function engineWith(places: EnginePlace[], maxQueue?: number): ReservationEngine {
  const engine = new ReservationEngine(maxQueue === undefined ? {} : { maxQueue })
  for (const p of places) engine.setPlace(p, T0)
  return engine
}

function leaseOf(result: ReserveResult): Lease {
  assert.equal(result.kind, 'lease', `expected a lease, got ${JSON.stringify(result)}`)
  return (result as { lease: Lease }).lease
}

function queued(result: ReserveResult) {
  assert.equal(result.kind, 'queued', `expected a queue entry, got ${JSON.stringify(result)}`)
  return result as Extract<ReserveResult, { kind: 'queued' }>
}

function refuses(f: () => unknown, code: string) {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof ReservationError, `expected ReservationError, got ${err}`)
    assert.equal(err.code, code)
    return true
  })
}

const kinds = (events: EngineEvent[]) => events.map((e) => e.type)

describe('ReservationEngine: reserve and queue', () => {
  it('leases a free place at once, by name or by spec, with the part assignment', () => {
    const engine = engineWith([board('lab/a', ['st,stm32']), board('lab/b', ['espressif,esp32'])])
    const byName = leaseOf(engine.reserve({ user: 'ann', target: { place: 'lab/a' }, leaseMs: MIN }, T0))
    assert.equal(byName.place, 'lab/a')
    assert.deepEqual(byName.parts, ['board'])
    assert.equal(byName.expiresAt, T0 + MIN)
    const bySpec = leaseOf(
      engine.reserve(
        { user: 'bob', target: { spec: { parts: [{ compatible: ['espressif,esp32'] }] } }, leaseMs: MIN },
        T0,
      ),
    )
    assert.equal(bySpec.place, 'lab/b')
    assert.deepEqual(engine.who('lab/a', T0).lease?.user, 'ann')
    assert.deepEqual(kinds(engine.takeEvents()), ['lease-started', 'lease-started'])
  })

  it('queues by priority, then FIFO, and serves in that order as the place frees', () => {
    const engine = engineWith([board('lab/a', ['st,stm32'])])
    const first = leaseOf(engine.reserve({ user: 'holder', target: { place: 'lab/a' }, leaseMs: MIN }, T0))
    const ask = (user: string, priority: number) =>
      queued(engine.reserve({ user, target: { place: 'lab/a' }, priority, leaseMs: MIN }, T0)).entry
    const a = ask('a', 0)
    const b = ask('b', 5)
    const c = ask('c', 0)
    const d = ask('d', 5)
    const e = ask('e', -1)
    assert.deepEqual(
      engine.listQueue().map((x) => x.user),
      ['b', 'd', 'a', 'c', 'e'],
    )
    assert.deepEqual(
      [a, b, c, d, e].map((x) => engine.position(x.id)?.position),
      [3, 1, 4, 2, 5],
    )
    const served: string[] = []
    let current = first
    for (let i = 0; i < 5; i++) {
      engine.returnLease(current.id, current.user, T0 + i + 1)
      const next = engine.listLeases({ place: 'lab/a' })[0]!
      served.push(next.user)
      assert.equal(next.startedAt, T0 + i + 1)
      current = next
    }
    assert.deepEqual(served, ['b', 'd', 'a', 'c', 'e'])
    assert.equal(engine.listQueue().length, 0)
  })

  it('reports the position among the same target and in the whole queue, updated on cancel', () => {
    const engine = engineWith([board('lab/a', ['st,stm32']), board('lab/b', ['nxp,imx8'])])
    engine.reserve({ user: 'x', target: { place: 'lab/a' }, leaseMs: MIN }, T0)
    engine.reserve({ user: 'y', target: { place: 'lab/b' }, leaseMs: MIN }, T0)
    const a1 = queued(engine.reserve({ user: 'a1', target: { place: 'lab/a' }, leaseMs: MIN }, T0))
    const b1 = queued(engine.reserve({ user: 'b1', target: { place: 'lab/b' }, leaseMs: MIN }, T0))
    const a2 = queued(engine.reserve({ user: 'a2', target: { place: 'lab/a' }, leaseMs: MIN }, T0))
    assert.deepEqual(a1.position, { position: 1, overall: 1, length: 1 })
    assert.deepEqual(b1.position, { position: 1, overall: 2, length: 2 })
    assert.deepEqual(a2.position, { position: 2, overall: 3, length: 3 })
    refuses(() => engine.cancel(a1.entry.id, 'b1', T0), 'ERR_NOT_HOLDER')
    engine.cancel(a1.entry.id, 'a1', T0)
    assert.deepEqual(engine.position(a2.entry.id), { position: 1, overall: 2, length: 2 })
    assert.equal(engine.position(a1.entry.id), undefined)
    engine.cancel(b1.entry.id, 'root', T0, { admin: true, by: 'root' })
    assert.deepEqual(engine.position(a2.entry.id), { position: 1, overall: 1, length: 1 })
    const events = engine.takeEvents()
    const refused = events.find((e) => e.type === 'refused')
    assert.equal(refused?.type === 'refused' && refused.code, 'ERR_NOT_HOLDER')
    assert.deepEqual(
      events
        .filter((e) => e.type === 'dequeued')
        .map((e) => e.type === 'dequeued' && [e.entry.user, e.reason, e.by]),
      [
        ['a1', 'cancelled', 'a1'],
        ['b1', 'cancelled', 'root'],
      ],
    )
  })

  it('does not let a waiting entry block one for another place', () => {
    const engine = engineWith([board('lab/a', ['st,stm32']), board('lab/b', ['st,stm32'])])
    const la = leaseOf(engine.reserve({ user: 'x', target: { place: 'lab/a' }, leaseMs: MIN }, T0))
    leaseOf(engine.reserve({ user: 'y', target: { place: 'lab/b' }, leaseMs: MIN }, T0))
    queued(engine.reserve({ user: 'high', target: { place: 'lab/b' }, priority: 9, leaseMs: MIN }, T0))
    queued(
      engine.reserve(
        { user: 'low', target: { spec: { parts: [{ compatible: ['st,stm32'] }] } }, leaseMs: MIN },
        T0,
      ),
    )
    engine.returnLease(la.id, 'x', T0 + 1)
    assert.equal(engine.who('lab/a', T0 + 1).lease?.user, 'low')
    assert.deepEqual(
      engine.listQueue().map((e) => e.user),
      ['high'],
    )
  })

  it('serves a spec entry with a proper matching and a named entry ahead of it in order', () => {
    const twoParts: EnginePlace = {
      id: 'lab/duo',
      exporter: 'lab',
      name: 'duo',
      tags: ['rack-1'],
      parts: [
        { name: 'a', compatible: ['x', 'y'], interfaces: [] },
        { name: 'b', compatible: ['x'], interfaces: [] },
      ],
    }
    const engine = engineWith([twoParts])
    const spec = { tags: ['rack-1'], parts: [{ compatible: ['x'] }, { compatible: ['y'] }] }
    const held = leaseOf(engine.reserve({ user: 'h', target: { spec }, leaseMs: MIN }, T0))
    assert.deepEqual(held.parts, ['b', 'a'])
    queued(engine.reserve({ user: 'by-spec', target: { spec }, leaseMs: MIN }, T0))
    queued(engine.reserve({ user: 'by-name', target: { place: 'lab/duo' }, leaseMs: MIN }, T0))
    engine.returnLease(held.id, 'h', T0 + 1)
    const next = engine.who('lab/duo', T0 + 1).lease!
    assert.equal(next.user, 'by-spec')
    assert.deepEqual(next.parts, ['b', 'a'])
  })

  it('refuses: unknown place, no fitting place, not waiting, queue full, bad request — each audited', () => {
    const engine = engineWith([board('lab/a', ['st,stm32'])], 1)
    refuses(
      () => engine.reserve({ user: 'u', target: { place: 'lab/zz' }, leaseMs: MIN }, T0),
      'ERR_NOT_FOUND',
    )
    refuses(
      () =>
        engine.reserve(
          { user: 'u', target: { spec: { parts: [{ compatible: ['nope'] }] } }, leaseMs: MIN },
          T0,
        ),
      'ERR_NO_MATCH',
    )
    refuses(
      () => engine.reserve({ user: 'u', target: { place: 'lab/a' }, leaseMs: 0 }, T0),
      'ERR_BAD_REQUEST',
    )
    leaseOf(engine.reserve({ user: 'u', target: { place: 'lab/a' }, leaseMs: MIN }, T0))
    refuses(
      () => engine.reserve({ user: 'v', target: { place: 'lab/a' }, leaseMs: MIN, wait: false }, T0),
      'ERR_BUSY',
    )
    queued(engine.reserve({ user: 'v', target: { place: 'lab/a' }, leaseMs: MIN }, T0))
    refuses(
      () => engine.reserve({ user: 'w', target: { place: 'lab/a' }, leaseMs: MIN }, T0),
      'ERR_QUEUE_FULL',
    )
    const refused = engine.takeEvents().flatMap((e) => (e.type === 'refused' ? [e.code] : []))
    assert.deepEqual(refused, [
      'ERR_NOT_FOUND',
      'ERR_NO_MATCH',
      'ERR_BAD_REQUEST',
      'ERR_BUSY',
      'ERR_QUEUE_FULL',
    ])
  })

  it('drops a waiting entry at its waitMs deadline', () => {
    const engine = engineWith([board('lab/a', ['st,stm32'])])
    leaseOf(engine.reserve({ user: 'u', target: { place: 'lab/a' }, leaseMs: 10 * MIN }, T0))
    const q = queued(engine.reserve({ user: 'v', target: { place: 'lab/a' }, leaseMs: MIN, waitMs: MIN }, T0))
    engine.takeEvents()
    engine.tick(T0 + MIN - 1)
    assert.ok(engine.show(q.entry.id))
    engine.tick(T0 + MIN)
    assert.equal(engine.show(q.entry.id), undefined)
    const [ev] = engine.takeEvents()
    assert.equal(ev?.type === 'dequeued' && ev.reason, 'timeout')
  })
})

describe('ReservationEngine: expiry, renew, kick', () => {
  it('expires a lease exactly at expiresAt (frozen clock) and serves the queue then', () => {
    const engine = engineWith([board('lab/a', ['st,stm32'])])
    const lease = leaseOf(engine.reserve({ user: 'u', target: { place: 'lab/a' }, leaseMs: 1000 }, T0))
    queued(engine.reserve({ user: 'v', target: { place: 'lab/a' }, leaseMs: 1000 }, T0))
    assert.equal(engine.nextDeadline(), T0 + 1000)
    engine.takeEvents()
    engine.tick(T0 + 999)
    assert.equal(engine.who('lab/a', T0 + 999).lease?.id, lease.id)
    assert.deepEqual(engine.takeEvents(), [])
    engine.tick(T0 + 1000)
    const events = engine.takeEvents()
    assert.deepEqual(kinds(events), ['lease-ended', 'dequeued', 'lease-started'])
    const ended = events[0]!
    assert.ok(ended.type === 'lease-ended' && ended.reason === 'expired' && ended.at === T0 + 1000)
    const next = engine.who('lab/a', T0 + 1000).lease!
    assert.equal(next.user, 'v')
    assert.equal(next.startedAt, T0 + 1000)
    assert.equal(next.expiresAt, T0 + 2000)
  })

  it('an operation after the expiry time sees the lease expired without an explicit tick', () => {
    const engine = engineWith([board('lab/a', ['st,stm32'])])
    leaseOf(engine.reserve({ user: 'u', target: { place: 'lab/a' }, leaseMs: 1000 }, T0))
    const again = leaseOf(engine.reserve({ user: 'v', target: { place: 'lab/a' }, leaseMs: 1000 }, T0 + 1000))
    assert.equal(again.user, 'v')
  })

  it('renews within the policy and refuses past the max total, the max renewals, or with others waiting', () => {
    const engine = engineWith([board('lab/a', ['st,stm32'])])
    const lease = leaseOf(engine.reserve({ user: 'u', target: { place: 'lab/a' }, leaseMs: 10 * MIN }, T0))
    const policy = { leaseId: lease.id, user: 'u', maxLeaseMs: 10 * MIN, maxTotalMs: 25 * MIN }
    refuses(() => engine.renew({ ...policy, user: 'mallory' }, T0), 'ERR_NOT_HOLDER')
    const r1 = engine.renew(policy, T0 + 5 * MIN)
    assert.equal(r1.expiresAt, T0 + 15 * MIN)
    assert.equal(r1.renewals, 1)
    const r2 = engine.renew(policy, T0 + 14 * MIN)
    assert.equal(r2.expiresAt, T0 + 24 * MIN)
    const r3 = engine.renew(policy, T0 + 20 * MIN) // capped at startedAt + maxTotalMs
    assert.equal(r3.expiresAt, T0 + 25 * MIN)
    refuses(() => engine.renew(policy, T0 + 21 * MIN), 'ERR_RENEW_DENIED')
    assert.equal(engine.show(lease.id)?.kind === 'lease' && engine.listLeases()[0]?.expiresAt, T0 + 25 * MIN)
    refuses(
      () => engine.renew({ ...policy, maxTotalMs: undefined, maxRenewals: 3 }, T0 + 21 * MIN),
      'ERR_RENEW_DENIED',
    )
    queued(engine.reserve({ user: 'v', target: { place: 'lab/a' }, leaseMs: MIN }, T0 + 21 * MIN))
    refuses(
      () => engine.renew({ ...policy, maxTotalMs: undefined, denyIfWaiting: true }, T0 + 22 * MIN),
      'ERR_RENEW_DENIED',
    )
    const r4 = engine.renew({ ...policy, maxTotalMs: undefined }, T0 + 22 * MIN)
    assert.equal(r4.expiresAt, T0 + 32 * MIN)
    engine.tick(T0 + 32 * MIN)
    assert.equal(engine.who('lab/a', T0 + 32 * MIN).lease?.user, 'v')
    const renewed = engine.takeEvents().filter((e) => e.type === 'lease-renewed')
    assert.equal(renewed.length, 4)
    // The stale expiry deadline of the first lease term did not end the renewed lease early.
  })

  it('kicks a lease (admin), records who and why, and serves the queue', () => {
    const engine = engineWith([board('lab/a', ['st,stm32'])])
    const lease = leaseOf(engine.reserve({ user: 'u', target: { place: 'lab/a' }, leaseMs: MIN }, T0))
    queued(engine.reserve({ user: 'v', target: { place: 'lab/a' }, leaseMs: MIN }, T0))
    engine.takeEvents()
    engine.kick(lease.id, T0 + 5, { by: 'root', note: 'board on fire' })
    const [ended] = engine.takeEvents()
    assert.ok(ended?.type === 'lease-ended')
    assert.deepEqual(
      [ended.reason, ended.by, ended.note, ended.lease.id],
      ['kicked', 'root', 'board on fire', lease.id],
    )
    assert.equal(engine.who('lab/a', T0 + 5).lease?.user, 'v')
    refuses(() => engine.kick(lease.id, T0 + 6), 'ERR_NOT_FOUND')
    refuses(() => engine.returnLease(lease.id, 'u', T0 + 6), 'ERR_NOT_FOUND')
  })
})

describe('ReservationEngine: maintenance and places', () => {
  it('lets a running lease finish, takes no new one, and serves the queue when it ends', () => {
    const engine = engineWith([board('lab/a', ['st,stm32'])])
    const lease = leaseOf(engine.reserve({ user: 'u', target: { place: 'lab/a' }, leaseMs: MIN }, T0))
    queued(engine.reserve({ user: 'v', target: { place: 'lab/a' }, leaseMs: MIN }, T0))
    assert.equal(engine.setMaintenance('lab/a', true, T0 + 1, { by: 'root', note: 'reflash' }), true)
    assert.equal(engine.setMaintenance('lab/a', true, T0 + 1), false)
    assert.equal(engine.who('lab/a', T0 + 1).lease?.id, lease.id)
    refuses(
      () => engine.reserve({ user: 'w', target: { place: 'lab/a' }, leaseMs: MIN }, T0 + 2),
      'ERR_MAINTENANCE',
    )
    refuses(
      () =>
        engine.reserve(
          { user: 'w', target: { spec: { parts: [{ compatible: ['st,stm32'] }] } }, leaseMs: MIN },
          T0 + 2,
        ),
      'ERR_MAINTENANCE',
    )
    engine.returnLease(lease.id, 'u', T0 + 3)
    assert.equal(engine.who('lab/a', T0 + 3).state, 'maintenance')
    assert.equal(engine.listQueue().length, 1)
    engine.setMaintenance('lab/a', false, T0 + 4)
    assert.equal(engine.who('lab/a', T0 + 4).lease?.user, 'v')
    const m = engine.takeEvents().filter((e) => e.type === 'maintenance')
    assert.deepEqual(
      m.map((e) => e.type === 'maintenance' && [e.on, e.by ?? null]),
      [
        [true, 'root'],
        [false, null],
      ],
    )
  })

  it('puts a free place out of reach: spec reservations skip it, named ones are refused', () => {
    const engine = engineWith([board('lab/a', ['st,stm32']), board('lab/b', ['st,stm32'])])
    engine.setMaintenance('lab/a', true, T0)
    const spec = { spec: { parts: [{ compatible: ['st,stm32'] }] } }
    assert.equal(leaseOf(engine.reserve({ user: 'u', target: spec, leaseMs: MIN }, T0)).place, 'lab/b')
    assert.equal(engine.who('lab/a', T0).state, 'maintenance')
    const waiting = queued(engine.reserve({ user: 'v', target: spec, leaseMs: MIN }, T0))
    assert.equal(engine.who('lab/a', T0).lease, undefined)
    engine.setMaintenance('lab/a', false, T0 + 1)
    assert.equal(engine.who('lab/a', T0 + 1).lease?.queueId, waiting.entry.id)
  })

  it('keeps a lease and waiting entries when a place goes offline; serves them when it returns', () => {
    const a = board('lab/a', ['st,stm32'])
    const engine = engineWith([a])
    const lease = leaseOf(engine.reserve({ user: 'u', target: { place: 'lab/a' }, leaseMs: MIN }, T0))
    queued(engine.reserve({ user: 'v', target: { place: 'lab/a' }, leaseMs: MIN }, T0))
    engine.removeExporter('lab', T0 + 1)
    assert.equal(engine.who('lab/a', T0 + 1).lease?.id, lease.id)
    engine.returnLease(lease.id, 'u', T0 + 2)
    assert.equal(engine.who('lab/a', T0 + 2).state, 'offline')
    assert.equal(engine.listQueue().length, 1)
    engine.syncExporter('lab', [a], T0 + 3)
    assert.equal(engine.who('lab/a', T0 + 3).lease?.user, 'v')
  })

  it('lists, searches and shows', () => {
    const engine = engineWith([board('lab/a', ['st,stm32'], ['arm']), board('lab/b', ['st,stm32'], ['arm'])])
    const lease = leaseOf(engine.reserve({ user: 'u', target: { place: 'lab/b' }, leaseMs: MIN }, T0))
    const q = queued(engine.reserve({ user: 'v', target: { place: 'lab/b' }, leaseMs: MIN }, T0))
    assert.deepEqual(
      engine.search({ tags: ['arm'] }, T0).map((s) => [s.place, s.state, s.waiting.length]),
      [
        ['lab/a', 'free', 0],
        ['lab/b', 'leased', 1],
      ],
    )
    assert.equal(engine.show(lease.id)?.kind, 'lease')
    assert.equal(engine.show(q.entry.id)?.kind, 'queued')
    assert.equal(engine.show('L999'), undefined)
    assert.deepEqual(
      engine.listLeases({ user: 'u' }).map((l) => l.id),
      [lease.id],
    )
    assert.deepEqual(engine.listLeases({ user: 'v' }), [])
    assert.deepEqual(
      engine.listQueue({ user: 'v' }).map((e) => e.id),
      [q.entry.id],
    )
  })
})
