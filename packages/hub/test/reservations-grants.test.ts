import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type EnginePlace,
  type Lease,
  ReservationEngine,
  ReservationError,
  type ReserveResult,
} from '../src/reservations/index.js'

const T0 = 1_700_000_000_000
const MIN = 60_000

function board(id: string, tags: string[] = []): EnginePlace {
  const [exporter, name] = id.split('/') as [string, string]
  return { id, exporter, name, tags, parts: [{ name: 'board', compatible: ['st,stm32'], interfaces: [] }] }
}

function engineWith(...places: EnginePlace[]): ReservationEngine {
  const engine = new ReservationEngine()
  for (const p of places) engine.setPlace(p, T0)
  return engine
}

const kind = (r: ReserveResult) => r.kind
function leaseOf(r: ReserveResult): Lease {
  assert.equal(r.kind, 'lease', JSON.stringify(r))
  return (r as { lease: Lease }).lease
}

describe('ReservationEngine: grants', () => {
  it('during the window only the grantee may reserve; after it everyone may', () => {
    const engine = engineWith(board('lab/a'))
    engine.grant(
      { subject: { user: 'ann' }, target: { place: 'lab/a' }, start: T0, end: T0 + 10 * MIN, by: 'root' },
      T0,
    )
    const bob = engine.reserve({ user: 'bob', target: { place: 'lab/a' }, leaseMs: MIN }, T0 + 1)
    assert.equal(kind(bob), 'queued', 'a non-grantee must wait during the window')
    assert.equal(engine.who('lab/a', T0 + 1).state, 'restricted')
    const ann = leaseOf(engine.reserve({ user: 'ann', target: { place: 'lab/a' }, leaseMs: MIN }, T0 + 2))
    engine.returnLease(ann.id, 'ann', T0 + 3)
    assert.equal(engine.who('lab/a', T0 + 3).lease, undefined, 'bob may not take it inside the window')
    engine.tick(T0 + 10 * MIN - 1)
    assert.equal(engine.who('lab/a', T0 + 10 * MIN - 1).lease, undefined)
    engine.tick(T0 + 10 * MIN)
    assert.equal(engine.who('lab/a', T0 + 10 * MIN).lease?.user, 'bob')
    assert.equal(engine.listGrants().length, 0, 'the ended grant is dropped')
    const types = engine
      .takeEvents()
      .map((e) => (e.type === 'grant-removed' ? `${e.type}:${e.reason}` : e.type))
    assert.ok(types.includes('grant-added'))
    assert.ok(types.includes('grant-removed:expired'))
  })

  it('a group grant admits members by their groups; a spec reservation skips the granted place', () => {
    const engine = engineWith(board('lab/a', ['arm']), board('lab/b', ['arm']))
    engine.grant({ subject: { group: 'ci' }, target: { tag: 'arm' }, start: T0 }, T0)
    const spec = { spec: { tags: ['arm'] } }
    assert.equal(kind(engine.reserve({ user: 'eve', target: spec, leaseMs: MIN }, T0)), 'queued')
    const ci = leaseOf(engine.reserve({ user: 'bot', groups: ['ci'], target: spec, leaseMs: MIN }, T0))
    assert.equal(ci.place, 'lab/a')
    assert.equal(engine.mayHold('lab/b', { user: 'eve', groups: [] }, T0), false)
    assert.equal(engine.mayHold('lab/b', { user: 'x', groups: ['ci'] }, T0), true)
  })

  it('cuts a non-grantee lease to the window start, and revokes one running when a grant begins', () => {
    const engine = engineWith(board('lab/a'), board('lab/b'))
    engine.grant(
      { subject: { user: 'ann' }, target: { place: 'lab/a' }, start: T0 + 5 * MIN, end: T0 + 9 * MIN },
      T0,
    )
    const bob = leaseOf(engine.reserve({ user: 'bob', target: { place: 'lab/a' }, leaseMs: 60 * MIN }, T0))
    assert.equal(bob.expiresAt, T0 + 5 * MIN)
    assert.throws(
      () => engine.renew({ leaseId: bob.id, user: 'bob', maxLeaseMs: 60 * MIN }, T0 + MIN),
      (e: unknown) =>
        e instanceof ReservationError && e.code === 'ERR_RENEW_DENIED' && /grant/.test(e.message),
    )
    // The grantee's own lease is not cut.
    const annB = leaseOf(engine.reserve({ user: 'ann', target: { place: 'lab/b' }, leaseMs: 60 * MIN }, T0))
    assert.equal(annB.expiresAt, T0 + 60 * MIN)
    engine.returnLease(annB.id, 'ann', T0 + 2)
    const dave = leaseOf(
      engine.reserve({ user: 'dave', target: { place: 'lab/b' }, leaseMs: 60 * MIN }, T0 + 2),
    )
    engine.takeEvents()
    engine.grant({ subject: { user: 'ann' }, target: { place: 'lab/b' }, start: T0 + 3 }, T0 + 3)
    const ended = engine.takeEvents().find((e) => e.type === 'lease-ended')
    assert.ok(ended?.type === 'lease-ended')
    assert.equal(ended.reason, 'revoked')
    assert.equal(ended.lease.id, dave.id)
    assert.equal(engine.who('lab/b', T0 + 3).lease, undefined)
  })

  it('grantee entries are served ahead of earlier non-grantee entries, who keep their order', () => {
    const engine = engineWith(board('lab/a'))
    const holder = leaseOf(engine.reserve({ user: 'h', target: { place: 'lab/a' }, leaseMs: 60 * MIN }, T0))
    engine.reserve({ user: 'x', target: { place: 'lab/a' }, priority: 9, leaseMs: MIN }, T0)
    engine.reserve({ user: 'y', target: { place: 'lab/a' }, leaseMs: MIN }, T0)
    engine.reserve({ user: 'ann', target: { place: 'lab/a' }, leaseMs: MIN }, T0)
    engine.grant(
      { subject: { user: 'ann' }, target: { place: 'lab/a' }, start: T0 + 1, end: T0 + 30 * MIN },
      T0,
    )
    // The holder's lease began before the grant and is revoked at the window start.
    engine.tick(T0 + 1)
    assert.equal(engine.show(holder.id), undefined)
    assert.equal(engine.who('lab/a', T0 + 1).lease?.user, 'ann')
    assert.deepEqual(
      engine.listQueue().map((e) => e.user),
      ['x', 'y'],
    )
  })

  it('revoking a grant frees the place to the queue; unknown grants are refused', () => {
    const engine = engineWith(board('lab/a'))
    const g = engine.grant({ subject: { user: 'ann' }, target: { place: 'lab/a' }, start: T0 }, T0)
    assert.equal(
      kind(engine.reserve({ user: 'bob', target: { place: 'lab/a' }, leaseMs: MIN }, T0)),
      'queued',
    )
    engine.revoke(g.id, T0 + 1, { by: 'root' })
    assert.equal(engine.who('lab/a', T0 + 1).lease?.user, 'bob')
    assert.throws(
      () => engine.revoke(g.id, T0 + 2),
      (e: unknown) => e instanceof ReservationError && e.code === 'ERR_NOT_FOUND',
    )
    assert.throws(
      () =>
        engine.grant({ subject: { user: 'ann' }, target: { place: 'lab/a' }, start: T0, end: T0 }, T0 + 2),
      (e: unknown) => e instanceof ReservationError && e.code === 'ERR_BAD_REQUEST',
    )
  })
})
