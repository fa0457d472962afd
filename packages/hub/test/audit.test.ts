import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { HubResponseCodec, MAX_AUDIT_EVENT_JSON } from '@tether/control'
import {
  AUDIT_PAGE_BYTES,
  auditPage,
  auditQuery,
  auditRecordInfo,
  eventJson,
  summarizeEvent,
  utcClock,
} from '../src/control/audit.js'
import type { EngineEvent, EnginePlace } from '../src/reservations/index.js'
import { type AuditRecord, openDatabase, openReservations } from '../src/store/index.js'

const T0 = Date.UTC(2025, 5, 2, 13, 42)
const MIN = 60_000

function board(id: string): EnginePlace {
  const [exporter, name] = id.split('/') as [string, string]
  return {
    id,
    exporter,
    name,
    tags: ['lab-a'],
    parts: [{ name: 'board', compatible: ['x,y'], interfaces: [] }],
  }
}

/** A day at the lab through the engine and the SQLite store; returns the audit log. */
async function labDay(): Promise<{ service: ReturnType<typeof openReservations>; records: AuditRecord[] }> {
  const service = openReservations(openDatabase(':memory:'), T0)
  const run = <T>(f: Parameters<typeof service.run<T>>[0]) => service.run(f)
  await run((e) => {
    e.setPlace(board('lab-a-1/rpi-1'), T0)
    e.setPlace(board('lab-a-2/rpi-1'), T0)
  })
  const first = await run((e) =>
    e.reserve({ user: 'alice', target: { place: 'lab-a-1/rpi-1' }, leaseMs: 20 * MIN }, T0),
  )
  assert.equal(first.kind, 'lease')
  const aliceLease = first.kind === 'lease' ? first.lease.id : ''
  await run((e) =>
    e.reserve({ user: 'carol', target: { place: 'lab-a-1/rpi-1' }, priority: 3, leaseMs: 30 * MIN }, T0),
  )
  await run((e) => e.renew({ leaseId: aliceLease, user: 'alice', maxLeaseMs: 60 * MIN }, T0 + MIN))
  await run((e) => e.returnLease(aliceLease, 'alice', T0 + 2 * MIN)) // carol is served
  const carolLease = service.engine.listLeases({ user: 'carol' })[0]?.id as string
  await run((e) => e.kick(carolLease, T0 + 3 * MIN, { by: 'bob', note: 'needed for the release\nsorry' }))
  await run((e) =>
    e.recordRefusal(T0 + 4 * MIN, {
      request: 'reserve',
      code: 'ERR_PRIORITY_CAP',
      message: 'user "carol" may reserve "rpi-1" at priority at most 5, not 9',
      user: 'carol',
      place: 'rpi-1',
      peer: '12D3KooWPeer',
    }),
  )
  await run((e) =>
    e.recordRefusal(T0 + 4 * MIN, {
      request: 'whoami',
      code: 'ERR_TOKEN_INVALID',
      message: 'bad',
      peer: '12D3KooWPeer',
    }),
  )
  await run((e) => e.returnLease('L999', 'carol', T0 + 4 * MIN)).catch(() => {})
  await run((e) =>
    e.grant(
      {
        subject: { group: 'lab-a' },
        target: { tag: 'lab-a' },
        start: T0 + 24 * 60 * MIN,
        end: T0 + 32 * 60 * MIN,
        by: 'bob',
      },
      T0 + 5 * MIN,
    ),
  )
  const grant = service.engine.listGrants({})[0]?.id as string
  await run((e) => e.revoke(grant, T0 + 6 * MIN, { by: 'bob' }))
  await run((e) => e.setMaintenance('lab-a-2/rpi-1', true, T0 + 7 * MIN, { by: 'bob', note: 'reflashing' }))
  await run((e) => e.setMaintenance('lab-a-2/rpi-1', false, T0 + 8 * MIN, { by: 'bob' }))
  await run((e) =>
    e.reserve({ user: 'dave', target: { place: 'lab-a-1/rpi-1' }, leaseMs: 5 * MIN }, T0 + 9 * MIN),
  )
  await run((e) => e.tick(T0 + 15 * MIN)) // dave's lease expires
  return { service, records: await service.store.audit({ limit: 1000 }) }
}

describe('the audit log for admins', () => {
  it('summarizes every kind of event in one line an admin can read', async () => {
    const { service, records } = await labDay()
    const lines = records.map((r) => `${r.type}: ${summarizeEvent(r.event)}`)
    const expected = [
      /^lease-started: alice reserved lab-a-1\/rpi-1 for 20m, until 14:02 UTC \(L\d+\)$/,
      /^queued: carol waits for lab-a-1\/rpi-1 at priority 3 at position 1 \(Q\d+\)$/,
      /^lease-renewed: alice renewed L\d+ on lab-a-1\/rpi-1 until 14:43 UTC \(was 14:02 UTC; renewal 1\)$/,
      /^lease-ended: alice returned lab-a-1\/rpi-1 \(L\d+\)$/,
      /^dequeued: carol stopped waiting for lab-a-1\/rpi-1: served with lease L\d+ \(Q\d+\)$/,
      /^lease-started: carol got lab-a-1\/rpi-1 after waiting \(Q\d+\) at priority 3 for 30m, until 14:14 UTC \(L\d+\)$/,
      /^lease-ended: lease L\d+ \(carol on lab-a-1\/rpi-1\) kicked by bob: needed for the release sorry$/,
      /^refused: refused reserve rpi-1 for carol: ERR_PRIORITY_CAP user "carol" may reserve "rpi-1" at priority at most 5, not 9$/,
      /^refused: refused whoami for peer 12D3KooWPeer: ERR_TOKEN_INVALID bad$/,
      /^refused: refused return L999 for carol: ERR_NOT_FOUND no lease L999$/,
      /^grant-added: bob granted places tagged lab-a to group:lab-a from 2025-06-03 13:42 UTC until 21:42 UTC \(G\d+\)$/,
      /^grant-removed: bob revoked grant G\d+ \(places tagged lab-a to group:lab-a\)$/,
      /^maintenance: bob took lab-a-2\/rpi-1 out of service: reflashing$/,
      /^maintenance: bob put lab-a-2\/rpi-1 back in service$/,
      /^lease-started: dave reserved lab-a-1\/rpi-1 for 5m, until 13:56 UTC \(L\d+\)$/,
      /^lease-ended: lease L\d+ \(dave on lab-a-1\/rpi-1\) expired$/,
    ]
    assert.equal(lines.length, expected.length, lines.join('\n'))
    for (const [i, line] of lines.entries()) assert.match(line, expected[i] as RegExp)
    await service.store.close()
  })

  it('records carry who and where, and encode as the protocol checks them', async () => {
    const { service, records } = await labDay()
    const infos = records.map(auditRecordInfo)
    const kick = infos.find((r) => r.summary.includes('kicked')) as (typeof infos)[number]
    assert.deepEqual([kick.type, kick.user, kick.place], ['lease-ended', 'carol', 'lab-a-1/rpi-1'])
    assert.deepEqual(JSON.parse(kick.eventJson).note, 'needed for the release\nsorry')
    const anonymous = infos.find((r) => r.summary.includes('whoami')) as (typeof infos)[number]
    assert.deepEqual([anonymous.user, anonymous.place], ['', ''])
    const page = auditPage(records, 100)
    assert.equal(page.more, false)
    assert.deepEqual(HubResponseCodec.decode(HubResponseCodec.encode({ type: 'audit', ...page })), {
      type: 'audit',
      ...page,
    })
    await service.store.close()
  })

  it('a bare place name finds the place at every exporter, and refusals that named it', async () => {
    const { service } = await labDay()
    const places = (place: string) => [
      ...new Set(
        service.store
          .audit({ place })
          .map((r) => (r.event.type === 'refused' ? `refused ${r.event.place}` : r.type)),
      ),
    ]
    assert.deepEqual(places('rpi-1').sort(), [
      'dequeued',
      'lease-ended',
      'lease-renewed',
      'lease-started',
      'maintenance',
      'queued',
      'refused rpi-1',
    ])
    assert.deepEqual(places('lab-a-2/rpi-1'), ['maintenance'])
    assert.deepEqual(places('lab-a-3/rpi-1'), [])
    assert.deepEqual(places('rpi'), [])
    await service.store.close()
  })

  it('limits: 100 by default, at most 1000; filters passed through', () => {
    assert.deepEqual(auditQuery({ type: 'audit', types: [], limit: 0 }), { limit: 100 })
    assert.equal(auditQuery({ type: 'audit', types: [], limit: 5000 }).limit, 1000)
    assert.deepEqual(
      auditQuery({
        type: 'audit',
        afterSeq: 7,
        sinceMs: 9,
        user: 'carol',
        place: 'rpi-1',
        types: ['refused'],
        limit: 20,
      }),
      { after: 7, since: 9, user: 'carol', place: 'rpi-1', types: ['refused'], limit: 20 },
    )
  })

  it('pages: the limit (one more record read tells whether more match) and one message’s size', () => {
    const record = (seq: number, note: string): AuditRecord => {
      const event = {
        type: 'maintenance',
        seq,
        at: T0,
        place: 'lab/a',
        on: true,
        by: 'bob',
        note,
      } as EngineEvent
      return { seq, at: T0, type: 'maintenance', event }
    }
    const few = [1, 2, 3].map((s) => record(s, 'x'))
    assert.deepEqual(
      auditPage(few, 3).records.map((r) => r.seq),
      [1, 2, 3],
    )
    assert.equal(auditPage(few, 3).more, false)
    assert.equal(auditPage(few, 2).more, true)
    assert.equal(auditPage(few, 2).records.length, 2)

    // Big events: cut to fit one message, and more is true.
    const big = Array.from({ length: 100 }, (_, i) => record(i + 1, 'n'.repeat(3000)))
    const page = auditPage(big, 100)
    assert.equal(page.more, true)
    assert.ok(page.records.length > 5 && page.records.length < 100, String(page.records.length))
    const bytes = HubResponseCodec.encode({ type: 'audit', ...page }).length
    assert.ok(bytes <= AUDIT_PAGE_BYTES + 1024, `${bytes} bytes`)
  })

  it('event JSON is bounded: long strings shortened, else only the type', () => {
    const base = { type: 'maintenance', seq: 5, at: T0, place: 'lab/a', on: true } as const
    assert.equal(eventJson(base as EngineEvent), JSON.stringify(base))
    const long = eventJson({ ...base, note: 'n'.repeat(10_000) } as EngineEvent)
    assert.ok(long.length <= MAX_AUDIT_EVENT_JSON)
    assert.deepEqual(JSON.parse(long), { ...base, note: `${'n'.repeat(200)}…`, truncated: true })
    const many = eventJson({ ...base, note: Array(100).fill('n'.repeat(100)) } as unknown as EngineEvent)
    assert.deepEqual(JSON.parse(many), { seq: 5, at: T0, type: 'maintenance', truncated: true })
  })

  it('summaries stay one bounded line; clocks are UTC with the date only when it is another day', () => {
    const event = {
      type: 'maintenance',
      seq: 1,
      at: T0,
      place: 'lab/a',
      on: true,
      by: 'bob',
      note: 'a\r\nb\tc'.repeat(200),
    } as EngineEvent
    const summary = summarizeEvent(event)
    assert.ok(summary.length <= 512)
    assert.ok(!/[\r\n\t]/.test(summary))
    assert.ok(summary.endsWith('…'))
    assert.equal(utcClock(T0 + 20 * MIN, T0), '14:02 UTC')
    assert.equal(utcClock(T0 + 11 * 60 * MIN, T0), '2025-06-03 00:42 UTC')
  })
})
