import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import {
  type EngineEvent,
  type EnginePlace,
  ReservationEngine,
  ReservationError,
  ReservationService,
} from '../src/reservations/index.js'
import {
  loadEngine,
  openDatabase,
  openReservations,
  SCHEMA_VERSION,
  SqliteReservationStore,
  StoreError,
} from '../src/store/index.js'

const T0 = 1_700_000_000_000
const MIN = 60_000

const dir = mkdtempSync(join(tmpdir(), 'tether-store-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let files = 0
const dbPath = () => join(dir, `r${files++}.db`)

function board(id: string, compatible: string, tags: string[] = []): EnginePlace {
  const [exporter, name] = id.split('/') as [string, string]
  return { id, exporter, name, tags, parts: [{ name: 'board', compatible: [compatible], interfaces: [] }] }
}
const PLACES = [
  board('lab/a', 'st,stm32', ['arm']),
  board('lab/b', 'st,stm32', ['arm']),
  board('lab/c', 'esp32'),
]
const STM32 = { spec: { parts: [{ compatible: ['st,stm32'] }] } }

/** Build leases, a mixed-priority queue, a future grant and a maintenance flag through `service`. */
async function populate(service: ReservationService): Promise<void> {
  await service.run((e) => {
    for (const p of PLACES) e.setPlace(p, T0)
  })
  const reserve = (user: string, target: object, priority: number, leaseMs = 10 * MIN) =>
    service.run((e) => e.reserve({ user, target: target as never, priority, leaseMs }, T0))
  const u1 = await reserve('u1', { place: 'lab/a' }, 0)
  await reserve('u2', { place: 'lab/b' }, 0, 20 * MIN)
  await reserve('w1', STM32, 0)
  await reserve('w2', { place: 'lab/a' }, 5)
  await reserve('w3', { place: 'lab/b' }, 0)
  await reserve('w4', STM32, 5)
  await reserve('w5', { place: 'lab/a' }, 2)
  await reserve('w6', STM32, -3)
  assert.equal(u1.kind, 'lease')
  if (u1.kind === 'lease') {
    await service.run((e) => e.renew({ leaseId: u1.lease.id, user: 'u1', maxLeaseMs: 10 * MIN }, T0 + MIN))
  }
  await service.run((e) =>
    e.grant(
      { subject: { group: 'ci' }, target: { tag: 'arm' }, start: T0 + 60 * MIN, end: T0 + 90 * MIN },
      T0 + MIN,
    ),
  )
  await service.run((e) => e.setMaintenance('lab/c', true, T0 + MIN, { by: 'root' }))
}

describe('SQLite reservation store', () => {
  it('migrates by user_version, in WAL mode, and refuses a newer schema', () => {
    const path = dbPath()
    const db = openDatabase(path)
    new SqliteReservationStore(db)
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION)
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal')
    db.close()
    const again = openDatabase(path)
    new SqliteReservationStore(again) // no migration re-run (tables exist)
    again.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
    assert.throws(
      () => new SqliteReservationStore(again),
      (e: unknown) => e instanceof StoreError && e.code === 'ERR_SCHEMA_TOO_NEW',
    )
    again.close()
  })

  it('a restart with a waiting queue loses nothing and keeps the order; the next tick serves the same entry', async () => {
    const path = dbPath()
    const service = openReservations(openDatabase(path), T0)
    await populate(service)
    const engine = service.engine
    const before = engine.snapshot()
    assert.deepEqual(
      before.queue.map((q) => q.user),
      ['w2', 'w4', 'w5', 'w1', 'w3', 'w6'],
    )
    await service.store.close()

    const reopened = loadEngine(openDatabase(path), T0 + 2 * MIN)
    assert.deepEqual(engine.takeEvents(), [])
    assert.deepEqual(reopened.snapshot(), before)
    assert.deepEqual(reopened.takeEvents(), [], 'nothing was due')
    for (const p of PLACES) reopened.setPlace(p, T0 + 2 * MIN)
    assert.deepEqual(reopened.takeEvents(), [], 'the places are busy or in maintenance')

    // Both engines now move on identically: u1's renewed lease ends at T0 + 11 min.
    const expected = runUntil(engine, T0 + 25 * MIN)
    const actual = runUntil(reopened, T0 + 25 * MIN)
    assert.deepEqual(actual, expected)
    const served = actual.flatMap((e) =>
      e.type === 'lease-started' ? [`${e.lease.user}@${e.lease.place}`] : [],
    )
    assert.deepEqual(served, ['w2@lab/a', 'w4@lab/b', 'w5@lab/a'])
    assert.deepEqual(reopened.snapshot(), engine.snapshot())
  })

  it('a restart after the expiry processes the downtime and persists it', async () => {
    const path = dbPath()
    const service = openReservations(openDatabase(path), T0)
    await populate(service)
    await service.store.close()
    const late = openReservations(openDatabase(path), T0 + 15 * MIN)
    const ended = late.store.audit({ types: ['lease-ended'] })
    assert.deepEqual(
      ended.map((r) => r.event.type === 'lease-ended' && [r.event.lease.user, r.event.reason, r.at]),
      [['u1', 'expired', T0 + 11 * MIN]],
    )
    await late.store.close()
    const third = loadEngine(openDatabase(path), T0 + 15 * MIN)
    assert.deepEqual(
      third.listLeases().map((l) => l.user),
      ['u2'],
    )
    assert.equal(third.listQueue().length, 6, 'lab/a is offline after the restart: nobody was served')
  })

  it('the audit log has every kind of event, each lease end reason, and filters by user and place', async () => {
    const service = openReservations(openDatabase(':memory:'), T0)
    await populate(service)
    const run = <T>(f: (e: ReservationEngine) => T) => service.run(f)
    const [u1] = service.engine.listLeases({ user: 'u1' })
    await run((e) => e.returnLease(u1!.id, 'u1', T0 + 2 * MIN)) // returned → w2 served
    const [u2] = service.engine.listLeases({ user: 'u2' })
    await run((e) => e.kick(u2!.id, T0 + 2 * MIN, { by: 'root', note: 'test' })) // kicked → w4 served
    await run((e) => e.tick(T0 + 12 * MIN)) // w2 expires → w5 served; w4 expires → w1
    await run((e) => e.cancel(e.listQueue({ user: 'w3' })[0]!.id, 'w3', T0 + 12 * MIN))
    await assert.rejects(
      run((e) => e.reserve({ user: 'z', target: { place: 'nowhere/x' }, leaseMs: MIN }, T0 + 12 * MIN)),
      (err: unknown) => err instanceof ReservationError && err.code === 'ERR_NOT_FOUND',
    )
    const lease = service.engine.listLeases({ place: 'lab/a' })[0]!
    await run((e) =>
      e.grant({ subject: { user: 'zed' }, target: { place: 'lab/a' }, start: T0 + 13 * MIN }, T0 + 13 * MIN),
    ) // revokes the lease on lab/a
    await run((e) => e.revoke(e.listGrants({ user: 'zed' })[0]!.id, T0 + 14 * MIN))

    const records = service.store.audit({ limit: 10_000 })
    const types = new Set(records.map((r) => r.type))
    for (const t of [
      'lease-started',
      'lease-renewed',
      'lease-ended',
      'queued',
      'dequeued',
      'refused',
      'grant-added',
      'grant-removed',
      'maintenance',
    ] as const) {
      assert.ok(types.has(t), `audit log lacks ${t}`)
    }
    const reasons = new Set(records.flatMap((r) => (r.event.type === 'lease-ended' ? [r.event.reason] : [])))
    assert.deepEqual([...reasons].sort(), ['expired', 'kicked', 'returned', 'revoked'])
    const revoked = records.find((r) => r.event.type === 'lease-ended' && r.event.reason === 'revoked')
    assert.equal(revoked?.event.type === 'lease-ended' && revoked.event.lease.id, lease.id)
    // Sequence numbers are strictly increasing, times never go back.
    for (let i = 1; i < records.length; i++) {
      assert.ok(records[i]!.seq > records[i - 1]!.seq)
      assert.ok(records[i]!.at >= records[i - 1]!.at, `audit time went back at ${records[i]!.seq}`)
    }
    const refused = service.store.audit({ user: 'z' })
    assert.deepEqual(
      refused.map((r) => r.type),
      ['refused'],
    )
    assert.deepEqual(
      service.store.audit({ place: 'lab/c' }).map((r) => r.type),
      ['maintenance'],
    )
    await service.store.close()
  })

  it('concurrent operations share one commit (group commit), in event order', async () => {
    const engine = new ReservationEngine()
    const committed: EngineEvent[][] = []
    const service = new ReservationService(engine, {
      load: () => engine.snapshot(),
      commit: (events) => {
        committed.push([...events])
      },
      audit: () => [],
      close: () => {},
    })
    await service.run((e) => e.setPlace(board('lab/a', 'x'), T0))
    const users = Array.from({ length: 50 }, (_, i) => `u${i}`)
    const results = await Promise.all(
      users.map((user) =>
        service.run((e) => e.reserve({ user, target: { place: 'lab/a' }, priority: 0, leaseMs: MIN }, T0)),
      ),
    )
    assert.equal(results[0]?.kind, 'lease')
    assert.ok(results.slice(1).every((r) => r.kind === 'queued'))
    assert.equal(committed.length, 1, 'all 50 reservations in one commit')
    assert.equal(committed[0]?.filter((e) => e.type === 'lease-started' || e.type === 'queued').length, 50)
    const seqs = committed.flat().map((e) => e.seq)
    assert.ok(
      seqs.every((seq, i) => i === 0 || seq > (seqs[i - 1] as number)),
      'events committed in order',
    )
  })

  it('operations made while an async commit is in flight go into the next one', async () => {
    const engine = new ReservationEngine()
    const committed: number[][] = []
    const gates: (() => void)[] = []
    const service = new ReservationService(engine, {
      load: () => engine.snapshot(),
      commit: async (events) => {
        await new Promise<void>((resolve) => gates.push(resolve))
        committed.push(events.map((e) => e.seq))
      },
      audit: () => [],
      close: () => {},
    })
    const commitsStarted = async (n: number) => {
      for (let i = 0; gates.length < n; i++) {
        assert.ok(i < 100, `commit ${n} never started`)
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
    await service.run((e) => e.setPlace(board('lab/a', 'x'), T0))
    const first = service.run((e) => e.setMaintenance('lab/a', true, T0))
    await commitsStarted(1)
    let secondDone = false
    const second = service
      .run((e) => e.setMaintenance('lab/a', false, T0))
      .then(() => {
        secondDone = true
      })
    const third = service.run((e) => e.setMaintenance('lab/a', true, T0))
    gates[0]?.()
    await first
    assert.equal(secondDone, false, 'the second waits for its own commit')
    await commitsStarted(2)
    gates[1]?.()
    await Promise.all([second, third])
    assert.equal(committed.length, 2)
    assert.equal(committed[1]?.length, 2, 'second and third share a commit')
    assert.ok((committed[0]?.at(-1) as number) < (committed[1]?.[0] as number))
  })

  it('a failed commit makes the service refuse further operations', async () => {
    const engine = new ReservationEngine()
    const committed: EngineEvent[][] = []
    let fail = false
    const service = new ReservationService(engine, {
      load: () => engine.snapshot(),
      commit: (events) => {
        if (fail) throw new Error('disk full')
        committed.push([...events])
      },
      audit: () => [],
      close: () => {},
    })
    await service.run((e) => e.setPlace(board('lab/a', 'x'), T0))
    await service.run((e) => e.setMaintenance('lab/a', true, T0))
    assert.equal(committed.length, 1)
    fail = true
    await assert.rejects(
      service.run((e) => e.setMaintenance('lab/a', false, T0)),
      (e: unknown) => e instanceof StoreError && e.code === 'ERR_STORE_FAILED',
    )
    fail = false
    await assert.rejects(
      service.run((e) => e.tick(T0)),
      (e: unknown) => e instanceof StoreError,
    )
    assert.equal(committed.length, 1)
  })
})

/** Tick `engine` at each of its deadlines up to `until`, returning every event. */
function runUntil(engine: ReservationEngine, until: number): EngineEvent[] {
  const events: EngineEvent[] = []
  for (let next = engine.nextDeadline(); next !== undefined && next <= until; next = engine.nextDeadline()) {
    assert.ok(events.length < 1000, 'runaway: the deadline did not move on')
    engine.tick(next)
    const got = engine.takeEvents()
    events.push(...got)
    assert.ok(engine.nextDeadline() !== next || got.length > 0, `tick(${next}) did nothing`)
  }
  engine.tick(until)
  events.push(...engine.takeEvents())
  return events
}
