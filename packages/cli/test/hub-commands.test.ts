import assert from 'node:assert/strict'
import { test } from 'node:test'
import yargs from 'yargs'
import { CliUsageError } from '../src/address.js'
import { canOpenBrowser, sameIssuer } from '../src/commands/account.js'
import { adminCommands, grantWindow } from '../src/commands/admin.js'
import { auditFilters, formatAudit, parseSince, readAudit } from '../src/commands/audit.js'
import {
  describeLease,
  formatLocalTime,
  formatReservations,
  formatSpan,
  formatTable,
  hubKey,
  parseDuration,
  parseSubject,
  parseTime,
  requireHub,
  reserveBody,
} from '../src/commands/hub-session.js'
import { reservationCommands } from '../src/commands/reservations.js'

const PEER = '12D3KooWGzGAUJZ5Fu9UUw3CsTpgLz8bnfpiTdtt5oBF7bg1ZrGm'
const HUB = `/ip4/127.0.0.1/tcp/4001/p2p/${PEER}`

test('durations: units, sums, and errors that name the fix', () => {
  assert.equal(parseDuration('2h'), 7_200_000)
  assert.equal(parseDuration('90m'), 5_400_000)
  assert.equal(parseDuration('1h30m'), 5_400_000)
  assert.equal(parseDuration('45s'), 45_000)
  assert.equal(parseDuration('1d'), 86_400_000)
  assert.equal(parseDuration('1w'), 7 * 86_400_000)
  assert.equal(parseDuration('500ms'), 500)
  assert.equal(parseDuration('1.5h'), 5_400_000)
  for (const bad of ['', '2', 'h', '2 hours', '2h!', '-1h', '0s', '1y']) {
    assert.throws(() => parseDuration(bad, '--for'), CliUsageError, bad)
  }
  assert.throws(() => parseDuration('2'), /write a number with a unit/)
})

test('times: now, +duration, local dates, ISO with an offset', () => {
  const now = Date.UTC(2025, 5, 2, 12, 0, 0)
  assert.equal(parseTime('now', now), now)
  assert.equal(parseTime('+2h', now), now + 7_200_000)
  assert.equal(parseTime('2025-06-02 14:30', now), new Date(2025, 5, 2, 14, 30).getTime())
  assert.equal(parseTime('2025-06-02T14:30:15', now), new Date(2025, 5, 2, 14, 30, 15).getTime())
  assert.equal(parseTime('2025-06-03', now), new Date(2025, 5, 3).getTime())
  assert.equal(parseTime('2025-06-02T14:30Z', now), Date.UTC(2025, 5, 2, 14, 30))
  assert.equal(parseTime('2025-06-02T14:30+02:00', now), Date.UTC(2025, 5, 2, 12, 30))
  for (const bad of ['tomorrow', '2025-02-30', '2025-06-02 25:00', '14:00', '+', '+x']) {
    assert.throws(() => parseTime(bad, now, '--from'), CliUsageError, bad)
  }
})

test('grant windows: --until or --for, never both or neither, never backwards', () => {
  const now = Date.UTC(2025, 5, 2, 12)
  assert.deepEqual(grantWindow({ from: 'now', for: '4h' }, now), {
    startsAtMs: now,
    endsAtMs: now + 4 * 3_600_000,
  })
  assert.deepEqual(grantWindow({ from: '+1h', until: '+3h' }, now), {
    startsAtMs: now + 3_600_000,
    endsAtMs: now + 3 * 3_600_000,
  })
  assert.throws(() => grantWindow({ from: 'now' }, now), /--until TIME or --for DURATION/)
  assert.throws(() => grantWindow({ from: 'now', for: '1h', until: '+2h' }, now), CliUsageError)
  assert.throws(() => grantWindow({ from: '+2h', until: '+1h' }, now), /end after it starts/)
})

test('hub keys: the last /p2p/ of the multiaddr, or a bare peer id', () => {
  assert.equal(hubKey(HUB), PEER)
  assert.equal(hubKey(`/dns4/hub.example/tcp/4002/ws/p2p/${PEER}`), PEER)
  assert.equal(
    hubKey(`/ip4/10.0.0.1/tcp/1/p2p/QmRelayRelayRelayRelayRelayRelayRelayRelayRelay/p2p-circuit/p2p/${PEER}`),
    PEER,
  )
  assert.equal(hubKey(PEER), PEER)
  assert.throws(() => hubKey('/ip4/127.0.0.1/tcp/4001'), /no \/p2p\/HUBID/)
  assert.throws(() => hubKey('hub.example:4001'), CliUsageError)
  assert.equal(requireHub(HUB), HUB)
  assert.throws(() => requireHub(undefined), /set TETHER_HUB/)
  assert.throws(() => requireHub(PEER), /not a hub address/)
})

test('reserve requests: a place, or tags and one part compatible with all', () => {
  const base = { tag: [], compatible: [], priority: 0, wait: true }
  assert.deepEqual(reserveBody({ ...base, place: 'rpi-1', for: '2h' }), {
    type: 'reserve',
    place: 'rpi-1',
    tags: [],
    parts: [],
    priority: 0,
    leaseMs: 7_200_000,
    wait: true,
  })
  assert.deepEqual(
    reserveBody({ ...base, tag: ['lab-a'], compatible: ['raspberrypi,4', 'arm'], priority: 3, wait: false }),
    {
      type: 'reserve',
      tags: ['lab-a'],
      parts: [{ compatible: ['raspberrypi,4', 'arm'], interfaces: [] }],
      priority: 3,
      leaseMs: 0,
      wait: false,
    },
  )
  assert.throws(() => reserveBody(base), /name the PLACE/)
  assert.throws(() => reserveBody({ ...base, place: 'x', tag: ['t'] }), /not both/)
  assert.throws(() => reserveBody({ ...base, place: 'x', priority: 1.5 }), /--priority/)
  assert.throws(() => reserveBody({ ...base, place: 'x', for: 'soon' }), /--for "soon"/)
})

test('subjects are user:NAME or group:NAME', () => {
  assert.equal(parseSubject('user:alice'), 'user:alice')
  assert.equal(parseSubject('group:lab-a'), 'group:lab-a')
  for (const bad of ['alice', 'team:x', 'user:', 'user:a b'])
    assert.throws(() => parseSubject(bad), CliUsageError)
})

test('tables pad every column but the last', () => {
  assert.equal(
    formatTable(
      ['ID', 'USER', 'STATE'],
      [
        ['L1', 'alice', 'expires soon'],
        ['Q12', 'bo', 'position 1'],
      ],
    ),
    'ID   USER   STATE\nL1   alice  expires soon\nQ12  bo     position 1\n',
  )
  assert.equal(formatTable(['A', 'B'], []), 'A  B\n')
})

test('spans and local times', () => {
  assert.equal(formatSpan(42_000), '42s')
  assert.equal(formatSpan(3_660_000), '1h 1m')
  assert.equal(formatSpan(90_000_000), '1d 1h')
  const at = new Date(2025, 5, 2, 9, 5, 7).getTime()
  assert.equal(formatLocalTime(at, at - 7_200_000), '2025-06-02 09:05:07 (in 2h)')
  assert.equal(formatLocalTime(at, at + 180_000), '2025-06-02 09:05:07 (3m ago)')
})

test('leases and queue entries as a table and a line', () => {
  const now = new Date(2025, 5, 2, 9, 0, 0).getTime()
  const lease = {
    id: 'L7',
    user: 'alice',
    exporter: 'lab-a-1',
    exporterPeerId: PEER,
    place: 'rpi-1',
    parts: [],
    priority: 2,
    startsAtMs: now,
    expiresAtMs: now + 3_600_000,
    renewals: 0,
  }
  const entry = {
    id: 'Q9',
    user: 'carol',
    priority: 0,
    position: 1,
    enqueuedAtMs: now - 60_000,
    wanted: 'lab-a-1/rpi-1',
  }
  assert.equal(
    describeLease(lease, now),
    'lease L7: place rpi-1 at exporter lab-a-1, held by alice, expires 2025-06-02 10:00:00 (in 1h)',
  )
  const table = formatReservations([lease], [entry], now).split('\n')
  assert.match(table[0] as string, /^ID\s+KIND\s+USER\s+PLACE\s+PRIO\s+STATE$/)
  assert.match(
    table[1] as string,
    /^L7\s+lease\s+alice\s+lab-a-1\/rpi-1\s+2\s+expires 2025-06-02 10:00:00 \(in 1h\)$/,
  )
  assert.match(
    table[2] as string,
    /^Q9\s+queued\s+carol\s+lab-a-1\/rpi-1\s+0\s+position 1, since .* \(1m ago\)$/,
  )
  assert.equal(formatReservations([], [], now), 'no leases and nobody waiting\n')
})

test('issuers compare without a trailing slash; the browser opens only with a display and xdg-open', () => {
  assert.ok(sameIssuer('https://idp.example/', 'https://idp.example'))
  assert.ok(!sameIssuer('https://idp.example/a', 'https://idp.example'))
  assert.equal(canOpenBrowser({ PATH: '/usr/bin:/bin' }), false)
  assert.equal(canOpenBrowser({ DISPLAY: ':0', PATH: '/nonexistent' }), false)
})

/** Runs the command modules' parsing with no network: usage errors come before any hub is asked. */
async function usageError(argv: string[]): Promise<string> {
  const cli = adminCommands(reservationCommands(yargs()))
    .command('admin', 'admin', (y) => adminCommands(y))
    .strict()
    .fail((message, error) => {
      throw error ?? new CliUsageError(message)
    })
  try {
    await cli.parseAsync(argv)
  } catch (err) {
    assert.ok(err instanceof CliUsageError, String(err))
    return err.message
  }
  assert.fail(`${argv.join(' ')} did not fail`)
}

test('the commands refuse bad arguments before asking the hub', async () => {
  assert.match(await usageError(['reserve', 'rpi-1', '--tag', 'a', '--hub', HUB]), /not both/)
  assert.match(await usageError(['reserve', '--hub', HUB]), /name the PLACE/)
  assert.match(await usageError(['reserve', 'rpi-1', '--for', '2', '--hub', HUB]), /--for "2"/)
  assert.match(await usageError(['renew', 'L1', '--for', 'x', '--hub', HUB]), /--for "x"/)
  assert.match(await usageError(['admin', 'grant', 'alice', '--place', 'p', '--for', '1h']), /user:NAME/)
  assert.match(await usageError(['admin', 'grant', 'user:a', '--place', 'p']), /--until TIME or --for/)
  assert.match(
    await usageError(['admin', 'grant', 'user:a', '--place', 'p', '--tag', 't', '--for', '1h']),
    /mutually exclusive/,
  )
  assert.match(await usageError(['admin', 'kick', 'L1']), /reason/)
  assert.match(await usageError(['admin', 'maintenance', 'p', 'maybe']), /Invalid values/)
  assert.match(await usageError(['admin', 'join-token', 'x', '--valid', 'long']), /--valid "long"/)
  assert.match(await usageError(['list', '--hub', '']), /set TETHER_HUB/)
  assert.match(await usageError(['admin', 'audit', '--type', 'lease-ended', '--type', 'x']), /--type x: not/)
  assert.match(await usageError(['admin', 'audit', '--limit', '0']), /--limit must be/)
  assert.match(await usageError(['admin', 'audit', '--since', 'yesterday']), /--since "yesterday"/)
  assert.match(await usageError(['admin', 'audit', '--after', '-1']), /--after must be/)
})

test('audit: --since as a TIME or as how long ago; filters checked against the known types', () => {
  const now = Date.UTC(2025, 5, 2, 12)
  assert.equal(parseSince('2h', now), now - 7_200_000)
  assert.equal(parseSince('1h30m', now), now - 5_400_000)
  assert.equal(parseSince('2025-06-02 09:00', now), new Date(2025, 5, 2, 9).getTime())
  assert.equal(parseSince('now', now), now)
  assert.throws(() => parseSince('2 hours', now), CliUsageError)
  const args = { type: ['refused'], limit: 10, json: false }
  assert.deepEqual(auditFilters({ ...args, user: 'carol', since: '1h', after: 4 }, now, ['refused']), {
    afterSeq: 4,
    sinceMs: now - 3_600_000,
    user: 'carol',
    types: ['refused'],
  })
  assert.throws(() => auditFilters({ ...args, type: ['refused', 'nope'] }, now, ['refused']), /--type nope/)
})

test('audit: pages until the limit, after the last seq seen; a table with local times', async () => {
  const at = new Date(2025, 5, 2, 9, 5, 7).getTime()
  const record = (seq: number) => ({
    seq,
    atMs: at,
    type: 'refused',
    user: seq % 2 ? 'carol' : '',
    place: '',
    summary: `summary ${seq}`,
    eventJson: '{}',
  })
  const log = Array.from({ length: 7 }, (_, i) => record(i + 1))
  const asked: unknown[] = []
  // A hub that answers at most 2 records a time (as when a page is cut to one message's size).
  const call = async (body: Parameters<Parameters<typeof readAudit>[0]>[0]) => {
    asked.push(body)
    const b = body as { afterSeq?: number; limit: number }
    const rest = log.filter((r) => r.seq > (b.afterSeq ?? 0))
    const page = rest.slice(0, Math.min(b.limit, 2))
    return { type: 'audit' as const, records: page, more: rest.length > page.length }
  }
  const five = await readAudit(call, { types: ['refused'] }, 5, 1000)
  assert.deepEqual(
    five.records.map((r) => r.seq),
    [1, 2, 3, 4, 5],
  )
  assert.equal(five.more, true)
  assert.deepEqual(
    asked.map((b) => [(b as { afterSeq?: number }).afterSeq, (b as { limit: number }).limit]),
    [
      [undefined, 5],
      [2, 3],
      [4, 1],
    ],
  )
  const all = await readAudit(call, { afterSeq: 5, types: [] }, 100, 1000)
  assert.deepEqual([all.records.map((r) => r.seq), all.more], [[6, 7], false])
  const table = formatAudit(all.records).split('\n')
  assert.match(table[0] as string, /^SEQ\s+TIME\s+TYPE\s+USER\s+PLACE\s+SUMMARY$/)
  assert.equal(table[1], '6    2025-06-02 09:05:07  refused  -      -      summary 6')
  assert.equal(table[2], '7    2025-06-02 09:05:07  refused  carol  -      summary 7')
  assert.equal(formatAudit([]), 'no audit records match\n')
})
