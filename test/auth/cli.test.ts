/**
 * The `tether` command against a hub with [auth] and a real OpenID Provider: `login` through the
 * browser (chromium drives the URL the CLI prints) and with --token-cmd (a command printing an ID
 * token from an earlier browser login), `whoami` (from the hub, and from the stored login when the
 * hub is unreachable), an exporter enrolled with `admin join-token`, `reserve` at once and after
 * waiting in the queue (positions on stderr), Ctrl-C leaving the queue, `list`/`who`/`show`/`renew`,
 * `admin kick`/`maintenance`/`grant`, `admin audit` (what happened above, filtered and paged; admins
 * only), and refusals printing the hub's message with exit status 1.
 * Every CLI run is a child process with its own XDG_STATE_HOME and file credentials.
 */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { generateSigningKey, parseHubToml } from '@tether/auth'
import { callHub, type LeaseInfo, type QueueEntryInfo } from '@tether/control'
import { keepRegistered, type RegistrationHandle } from '@tether/directory'
import { type Hub, startHub } from '@tether/hub'
import { createTetherNode, type TetherNode } from '@tether/net'
import type { Browser } from 'playwright-core'
import { LAB_A_RULE, testHubToml } from '../lib/auth-hub.js'
import { loginAs } from '../lib/browser-login.js'
import { runTether, tetherOk } from '../lib/cli-run.js'
import { DEFAULT_USERS, type Idp, startIdp } from '../lib/idp.js'
import { freePort, startTether, type TetherProcess } from '../lib/tether-process.js'
import { tail } from '../lib/vm.js'
import { launchChromium, loopbackPage, signInAndConsent } from '../login/browser.js'

const hubToml = (issuer: string) => testHubToml(issuer, LAB_A_RULE)

const CAROL = {
  sub: 'carol',
  password: 'carol-password',
  claims: { name: 'Carol Example', preferred_username: 'carol', groups: ['lab-a'] },
}

/** Runs a command the hub must refuse: exit 1 and "tether: MESSAGE (CODE)" on stderr. */
async function refused(args: readonly string[], env: NodeJS.ProcessEnv, code: string): Promise<string> {
  const r = await runTether(args, env)
  assert.equal(r.code, 1, `tether ${args.join(' ')} should exit 1:\n${r.stderr}${r.stdout}`)
  const line = new RegExp(`^tether: (.+) \\(${code}\\)$`, 'm').exec(r.stderr)
  assert.ok(line, `expected ${code} in:\n${r.stderr}`)
  assert.ok(!/\n\s+at /.test(r.stderr), `no stack trace:\n${r.stderr}`)
  return line[1] as string
}

/** Resolves with the first match of `pattern` in the process's stdout+stderr. */
async function waitForOutput(p: TetherProcess, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const match = pattern.exec(p.output())
    if (match) return match
    if (p.child.exitCode !== null || p.child.signalCode !== null) {
      assert.fail(`exited before printing ${pattern}:\n${tail(p.output())}`)
    }
    if (Date.now() > deadline) assert.fail(`no ${pattern} within ${timeoutMs} ms:\n${tail(p.output())}`)
    await sleep(50)
  }
}

function exitCode(p: TetherProcess, timeoutMs: number): Promise<number | null> {
  if (p.child.exitCode !== null) return Promise.resolve(p.child.exitCode)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`still running after ${timeoutMs} ms:\n${p.output()}`)),
      timeoutMs,
    )
    p.child.once('exit', (code) => {
      clearTimeout(timer)
      resolve(code)
    })
  })
}

describe('the tether CLI against a hub with [auth]', { timeout: 240_000 }, () => {
  let idp: Idp
  let browser: Browser
  let dir: string
  let hub: Hub
  let hubAddress: string
  let exporter: TetherNode | undefined
  let registration: RegistrationHandle | undefined
  const running: TetherProcess[] = []
  const env: Record<'alice' | 'carol' | 'dave', NodeJS.ProcessEnv> = { alice: {}, carol: {}, dave: {} }
  let carolToken: string

  const json = async <T>(args: readonly string[], who: NodeJS.ProcessEnv): Promise<T> =>
    JSON.parse(await tetherOk([...args, '--json'], who)) as T

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-cli-auth-'))
    idp = await startIdp({ users: [...DEFAULT_USERS, CAROL] })
    browser = await launchChromium()
    carolToken = await loginAs(idp, browser, 'carol', 'carol-password')
    await writeFile(join(dir, 'carol.jwt'), carolToken, { mode: 0o600 })
    hub = await startHub({
      privateKey: await generateKeyPair('Ed25519'),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      auth: {
        policy: parseHubToml(hubToml(idp.issuer), 'hub.toml'),
        database: join(dir, 'hub.db'),
        signingKeys: [await generateSigningKey()],
        tickMs: 100,
      },
    })
    hubAddress = (hub.addresses()[0] as { toString(): string }).toString()
    for (const user of ['alice', 'carol', 'dave'] as const) {
      await mkdir(join(dir, user), { recursive: true })
      // Each user on their own machine: state, credentials in a file, no browser to open.
      env[user] = {
        XDG_STATE_HOME: join(dir, user),
        TETHER_CREDENTIALS: 'file',
        TETHER_HUB: hubAddress,
        DISPLAY: '',
        WAYLAND_DISPLAY: '',
      }
    }
  })

  after(async () => {
    await Promise.allSettled(running.map((p) => p.stop()))
    await registration?.stop().catch(() => {})
    await Promise.resolve(exporter?.stop()).catch(() => {})
    await hub?.stop()
    await browser?.close()
    await idp?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('login through the browser and with a token command; whoami from the hub and offline', async () => {
    // alice: the CLI prints the IdP's URL (--no-browser) and chromium follows it.
    const login = startTether(['login', '--no-browser'], env.alice)
    running.push(login)
    const [, url] = await waitForOutput(login, /open this URL:\n\s+(\S+)/, 15_000)
    const tab = await loopbackPage(browser)
    try {
      await tab.page.goto(url as string)
      await signInAndConsent(tab.page, 'alice', 'alice-password')
      const [line] = await login.waitForLine(/^logged in to .*$/, 30_000)
      assert.match(
        line,
        new RegExp(`^logged in to ${hubAddress} as alice \\(roles: (admin, importer|importer, admin)\\)$`),
      )
    } finally {
      await tab.close()
    }
    assert.equal(await exitCode(login, 5_000), 0)
    assert.ok(!/keyring/.test(login.output()), 'TETHER_CREDENTIALS=file: no store notice')
    const file = await stat(join(dir, 'alice', 'tether', 'credentials.json'))
    assert.equal(file.mode & 0o777, 0o600)

    // carol: a token command, as a CI job logs in.
    const out = await tetherOk(
      ['login', hubAddress, '--token-cmd', `cat '${join(dir, 'carol.jwt')}'`],
      env.carol,
    )
    assert.equal(out, `logged in to ${hubAddress} as carol (roles: importer)\n`)

    const me = await json<{ user: string; roles: string[]; issuer: string; verified: boolean }>(
      ['whoami'],
      env.alice,
    )
    assert.equal(me.user, 'alice')
    assert.deepEqual([...me.roles].sort(), ['admin', 'importer'])
    assert.equal(me.issuer, idp.issuer)
    assert.equal(me.verified, true)
    assert.match(await tetherOk(['whoami'], env.carol), /^carol at \S+ \(roles: importer\), issuer /)

    // The hub unreachable (same peer id, a port nobody listens on): the stored login, marked unverified.
    const peer = hub.node.peerId.toString()
    const dead = `/ip4/127.0.0.1/tcp/${await freePort()}/p2p/${peer}`
    const offline = await runTether(['whoami', dead, '--json'], env.carol)
    assert.equal(offline.code, 0, offline.stderr)
    assert.match(offline.stderr, /cannot reach the hub/)
    const local = JSON.parse(offline.stdout) as { user: string; verified: boolean }
    assert.deepEqual([local.user, local.verified], ['carol', false])

    // Never logged in: the fix is named.
    const dave = await runTether(['whoami'], env.dave)
    assert.equal(dave.code, 1)
    assert.match(dave.stderr, /run tether login .*\(ERR_NOT_LOGGED_IN\)/)
  })

  test('admin join-token: an exporter enrolls with it and registers its place', async () => {
    const issued = await json<{ token: string; expiresAtMs: number }>(
      ['admin', 'join-token', 'lab-a-1', '--valid', '10m'],
      env.alice,
    )
    assert.ok(issued.expiresAtMs > Date.now() + 9 * 60_000)
    const text = await tetherOk(['admin', 'join-token', 'lab-a-2'], env.alice)
    assert.match(text, /works once/)
    assert.match(await refused(['admin', 'join-token', 'x'], env.carol, 'ERR_PERMISSION_DENIED'), /./)

    exporter = await createTetherNode({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    const enrolled = await callHub(exporter, hub.addresses()[0] as never, {
      login: '',
      body: { type: 'enroll', joinToken: issued.token },
    })
    assert.deepEqual(enrolled, { type: 'enrolled', exporter: 'lab-a-1' })
    registration = keepRegistered(exporter, {
      hub: hub.addresses()[0] as never,
      registration: () => ({
        name: 'lab-a-1',
        addresses: ['/ip4/127.0.0.1/tcp/9'],
        places: [
          {
            name: 'rpi-1',
            tags: ['lab-a'],
            parts: [{ name: 'board', compatible: ['raspberrypi,4'], interfaces: [] }],
          },
        ],
      }),
    })
    await registration.firstRegistered
  })

  test('reserve: a lease at once, then a waiter told its position gets the place when it is returned', async () => {
    const first = await json<LeaseInfo>(['reserve', 'rpi-1', '--for', '20m'], env.alice)
    assert.deepEqual([first.place, first.exporter, first.user], ['rpi-1', 'lab-a-1', 'alice'])
    assert.ok(Math.abs(first.expiresAtMs - first.startsAtMs - 20 * 60_000) < 1000)
    // tether places says who holds it, to a user who may use it, and in --json.
    assert.match(
      await tetherOk(['places'], env.carol),
      /^lab-a-1:rpi-1 {2}\[lab-a\] {2}— leased by alice until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(in (19|20)m\)$/m,
    )
    const listed = await json<
      { places: { name: string; reservation?: { state: string; holder?: string } }[] }[]
    >(['places'], env.carol)
    assert.deepEqual(listed[0]?.places[0]?.reservation, {
      place: 'lab-a-1/rpi-1',
      state: 'leased',
      holder: 'alice',
      untilMs: first.expiresAtMs,
      waiting: 0,
    })

    const waiter = startTether(['reserve', 'rpi-1', '--for', '5m'], env.carol)
    running.push(waiter)
    const [, position, queueId] = await waitForOutput(
      waiter,
      /waiting: position (\d+) in the queue \((\S+)\)/,
      15_000,
    )
    assert.equal(position, '1')

    const mine = await json<{ leases: LeaseInfo[]; queue: QueueEntryInfo[] }>(['list'], env.alice)
    assert.deepEqual(
      mine.leases.map((l) => l.id),
      [first.id],
    )
    assert.deepEqual(mine.queue, [])
    const everyone = await json<{ leases: LeaseInfo[]; queue: QueueEntryInfo[] }>(
      ['list', '--all'],
      env.alice,
    )
    assert.deepEqual(
      everyone.queue.map((q) => [q.id, q.user, q.position]),
      [[queueId, 'carol', 1]],
    )
    const table = await tetherOk(['who', 'rpi-1'], env.carol)
    assert.match(table, /^ID\s+KIND\s+USER\s+PLACE\s+PRIO\s+STATE$/m)
    assert.match(table, new RegExp(`^${first.id}\\s+lease\\s+alice\\s+lab-a-1/rpi-1\\s`, 'm'))
    assert.match(table, new RegExp(`^${queueId}\\s+queued\\s+carol\\s+lab-a-1/rpi-1\\s+0\\s+position 1`, 'm'))
    const shown = await json<{ kind: string; entry: QueueEntryInfo }>(['show', queueId as string], env.carol)
    assert.deepEqual([shown.kind, shown.entry.id], ['queued', queueId])
    assert.match(
      await tetherOk(['show', first.id], env.alice),
      new RegExp(
        `^lease ${first.id}: place rpi-1 at exporter lab-a-1 \\(parts board\\), held by alice, expires `,
      ),
    )

    assert.equal(await tetherOk(['return', first.id], env.alice), `returned ${first.id} (lab-a-1/rpi-1)\n`)
    const [line, leaseId] = await waiter.waitForLine(
      /^lease (\S+): place rpi-1 at exporter lab-a-1 \(parts board\), held by carol, expires \d{4}-/,
      15_000,
    )
    assert.ok(line)
    assert.equal(await exitCode(waiter, 5_000), 0)

    // A renewal runs the lease until --for from now.
    const renewed = await json<LeaseInfo>(['renew', leaseId as string, '--for', '20m'], env.carol)
    assert.equal(renewed.id, leaseId)
    assert.ok(Math.abs(renewed.expiresAtMs - Date.now() - 20 * 60_000) < 10_000)
    const carols = await json<{ leases: LeaseInfo[] }>(['list'], env.carol)
    assert.deepEqual(
      carols.leases.map((l) => l.id),
      [leaseId],
    )
  })

  test('refusals print the hub’s message and exit 1; an admin kicks a lease', async () => {
    const { leases } = await json<{ leases: LeaseInfo[] }>(['list'], env.carol)
    const lease = leases[0] as LeaseInfo
    assert.match(
      await refused(['admin', 'kick', lease.id, '--reason', 'mine now'], env.carol, 'ERR_PERMISSION_DENIED'),
      /./,
    )
    await refused(['reserve', 'rpi-1', '--priority', '9', '--no-wait'], env.carol, 'ERR_PRIORITY_CAP')
    await refused(['reserve', 'rpi-1', '--no-wait'], env.alice, 'ERR_BUSY')
    await refused(['return', 'L-nope'], env.carol, 'ERR_NOT_FOUND')
    const bad = await runTether(['reserve', 'rpi-1', '--tag', 'lab-a'], env.carol)
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /not both/)

    assert.equal(
      await tetherOk(['admin', 'kick', lease.id, '--reason', 'bench maintenance'], env.alice),
      `kicked carol from lab-a-1/rpi-1 (lease ${lease.id})\n`,
    )
    assert.deepEqual((await json<{ leases: LeaseInfo[] }>(['list'], env.carol)).leases, [])
  })

  test('Ctrl-C while waiting leaves the queue', async () => {
    const held = await json<LeaseInfo>(['reserve', 'rpi-1'], env.alice)
    const waiter = startTether(['reserve', 'rpi-1'], env.carol)
    running.push(waiter)
    const [, , queueId] = await waitForOutput(
      waiter,
      /waiting: position (\d+) in the queue \((\S+)\)/,
      15_000,
    )
    waiter.child.kill('SIGINT')
    assert.equal(await exitCode(waiter, 15_000), 130)
    assert.match(waiter.output(), new RegExp(`left the queue \\(${queueId}\\)`))
    const everyone = await json<{ queue: QueueEntryInfo[] }>(['list', '--all'], env.alice)
    assert.deepEqual(everyone.queue, [])
    await tetherOk(['return', held.id], env.alice)
  })

  test('admin audit: the reservations, the kick and its reason, the refusals; filters and pages; admins only', async () => {
    interface AuditRow {
      seq: number
      atMs: number
      type: string
      user: string
      place: string
      summary: string
      event: { reason?: string; by?: string; note?: string; code?: string; op?: string }
    }
    type AuditLog = { records: AuditRow[]; more: boolean }
    const log = await json<AuditLog>(['admin', 'audit'], env.alice)
    assert.equal(log.more, false)
    const seqs = log.records.map((r) => r.seq)
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
    )
    const find = (what: string, pick: (r: AuditRow) => boolean): AuditRow => {
      const found = log.records.find(pick)
      assert.ok(found, `no ${what} in:\n${log.records.map((r) => r.summary).join('\n')}`)
      return found
    }
    const reserved = find('reservation', (r) => r.type === 'lease-started' && r.user === 'alice')
    assert.equal(reserved.place, 'lab-a-1/rpi-1')
    assert.ok(Math.abs(reserved.atMs - Date.now()) < 5 * 60_000)
    assert.match(reserved.summary, /^alice reserved lab-a-1\/rpi-1 for 20m, until \d\d:\d\d UTC \(L\d+\)$/)
    const kick = find('kick', (r) => r.type === 'lease-ended' && r.event.reason === 'kicked')
    assert.deepEqual(
      [kick.user, kick.place, kick.event.by, kick.event.note],
      ['carol', 'lab-a-1/rpi-1', 'alice', 'bench maintenance'],
    )
    assert.match(kick.summary, /^lease L\d+ \(carol on lab-a-1\/rpi-1\) kicked by alice: bench maintenance$/)
    const capped = find(
      'priority refusal',
      (r) => r.type === 'refused' && r.event.code === 'ERR_PRIORITY_CAP',
    )
    assert.equal(capped.user, 'carol')
    assert.match(capped.summary, /^refused reserve rpi-1 for carol: ERR_PRIORITY_CAP .*priority at most 5/)
    find('busy refusal', (r) => r.type === 'refused' && r.user === 'alice' && r.event.code === 'ERR_BUSY')

    // Filters: the user and the types asked for, a bare place name at its exporter, a time.
    const carols = await json<AuditLog>(['admin', 'audit', '--user', 'carol', '--type', 'refused'], env.alice)
    assert.ok(carols.records.every((r) => r.user === 'carol' && r.type === 'refused'))
    assert.deepEqual(
      carols.records.map((r) => r.event.code),
      ['ERR_PERMISSION_DENIED', 'ERR_PERMISSION_DENIED', 'ERR_PRIORITY_CAP', 'ERR_NOT_FOUND'],
    )
    assert.match(carols.records[0]?.summary ?? '', /^refused join-token for carol: ERR_PERMISSION_DENIED /)
    assert.match(carols.records[1]?.summary ?? '', /^refused kick for carol: ERR_PERMISSION_DENIED /)
    const ends = await json<AuditLog>(
      ['admin', 'audit', '--type', 'lease-started', '--type', 'lease-ended', '--place', 'rpi-1'],
      env.alice,
    )
    assert.deepEqual(new Set(ends.records.map((r) => r.type)), new Set(['lease-started', 'lease-ended']))
    assert.ok(ends.records.every((r) => r.place === 'lab-a-1/rpi-1'))
    assert.equal(
      ends.records.length,
      log.records.filter((r) => r.type === 'lease-started' || r.type === 'lease-ended').length,
    )
    assert.deepEqual((await json<AuditLog>(['admin', 'audit', '--since', '+1h'], env.alice)).records, [])
    assert.equal(
      (await json<AuditLog>(['admin', 'audit', '--since', '1h'], env.alice)).records.length,
      log.records.length,
    )

    // Pages: the limit reached, stderr names the --after that continues.
    const first = await runTether(['admin', 'audit', '--limit', '2', '--json'], env.alice)
    assert.equal(first.code, 0, first.stderr)
    const page = JSON.parse(first.stdout) as AuditLog
    assert.deepEqual([page.records.map((r) => r.seq), page.more], [seqs.slice(0, 2), true])
    const next = /more match: add --after (\d+) for the next page/.exec(first.stderr)
    assert.equal(next?.[1], String(seqs[1]), first.stderr)
    const second = await json<AuditLog>(
      ['admin', 'audit', '--after', next?.[1] as string, '--limit', '2'],
      env.alice,
    )
    assert.deepEqual(
      second.records.map((r) => r.seq),
      seqs.slice(2, 4),
    )

    // The table: seq, local time, type, user, place, summary.
    const table = await tetherOk(['admin', 'audit', '--type', 'lease-ended'], env.alice)
    assert.match(table, /^SEQ\s+TIME\s+TYPE\s+USER\s+PLACE\s+SUMMARY$/m)
    assert.match(
      table,
      new RegExp(
        `^${kick.seq}\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+lease-ended\\s+carol\\s+lab-a-1/rpi-1\\s+lease L\\d+ \\(carol on lab-a-1/rpi-1\\) kicked by alice: bench maintenance$`,
        'm',
      ),
    )

    // Not an admin: refused, naming the rule that would allow it; the refusal is in the log too.
    const denied = await refused(['admin', 'audit', '--user', 'carol'], env.carol, 'ERR_PERMISSION_DENIED')
    assert.match(denied, /may not administer the hub/)
    assert.match(denied, /board admins/)
    const after = await json<AuditLog>(
      ['admin', 'audit', '--type', 'refused', '--after', String(seqs.at(-1))],
      env.alice,
    )
    assert.match(after.records.at(-1)?.summary ?? '', /^refused audit for carol: ERR_PERMISSION_DENIED /)
  })

  test('maintenance and grants; logout', async () => {
    assert.equal(
      await tetherOk(['admin', 'maintenance', 'rpi-1', 'on', '--reason', 'reflashing'], env.alice),
      'place rpi-1 is in maintenance\n',
    )
    await refused(['reserve', 'rpi-1', '--no-wait'], env.carol, 'ERR_MAINTENANCE')
    assert.match(await tetherOk(['places'], env.carol), /^lab-a-1:rpi-1 .*— maintenance: reflashing$/m)
    assert.equal(
      await tetherOk(['admin', 'maintenance', 'rpi-1', 'off'], env.alice),
      'place rpi-1 is back in service\n',
    )
    const granted = await tetherOk(
      ['admin', 'grant', 'user:carol', '--place', 'rpi-1', '--from', '+2h', '--for', '1h'],
      env.alice,
    )
    assert.match(
      granted,
      /^granted place rpi-1 to user:carol from \d{4}-.* \(in 2h\) until .* \(in 3h\) \((G\d+); tether admin revoke \1 ends it\)\n$/,
    )
    // The id it printed revokes the grant.
    const grantId = /\((G\d+);/.exec(granted)?.[1] as string
    assert.equal(await tetherOk(['admin', 'revoke', grantId], env.alice), `revoked ${grantId}\n`)
    await refused(
      ['admin', 'grant', 'user:carol', '--tag', 'lab-a', '--for', '1h'],
      env.carol,
      'ERR_PERMISSION_DENIED',
    )

    assert.equal(await tetherOk(['logout'], env.carol), `logged out of ${hubAddress}\n`)
    assert.equal(
      await tetherOk(['logout', hub.node.peerId.toString()], env.carol),
      `you were not logged in to ${hub.node.peerId.toString()}\n`,
    )
    await refused(['list'], env.carol, 'ERR_NOT_LOGGED_IN')
  })
})
