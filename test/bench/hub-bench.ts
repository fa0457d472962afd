/**
 * pnpm bench:hub — the hub under load: 1,000 simulated exporters with 10,000 places, and 200
 * clients churning reservations (reserve a random place with wait: false, again on ERR_BUSY, then
 * return it) for a fixed time. Reports reserve and return latency (p50/p90/p99) and rate, and
 * the hub process's memory idle, with the places registered, with the clients connected and
 * after the churn.
 *
 * Baselines measured in the same run, to read the reserve figures against:
 *  - `whoami` (the same login-token check, no engine, no SQLite) and `jwks` (no login): the same
 *    number of requests as the churn made, from the same clients — the protocol and transport
 *    (a libp2p stream per request: multistream-select, noise, yamux, length-prefixed protobuf);
 *  - the ReservationEngine alone in this process (no libp2p, no store), the same operations;
 *  - the engine with its SQLite store (the hub's defaults, synchronous=FULL: one transaction and
 *    fsync per operation), sequentially, for a short time.
 *
 * Processes: the hub runs alone in a child process (hub-process.ts; `node --expose-gc`, memory
 * read after a full GC); the clients are libp2p nodes spread over a few child processes
 * (hub-clients.ts) at nice 10, so that on a small machine the hub gets a core when it can use one;
 * this process starts a loopback OpenID issuer (hub-issuer.ts) that signs one ID token per
 * client, and runs the in-process baselines after the hub is stopped. SQLite lives in a temporary
 * directory under os.tmpdir() (WAL, synchronous=FULL: the hub's defaults).
 *
 * Besides latency it reports, per phase, CPU of the hub, the clients and the machine, and the
 * hub's event-loop utilization with the time in SQLite commits, directory look-ups and the engine
 * (hub-process.ts wraps its own instances); a phase whose hub loop is well under 100% busy was
 * limited by its clients.
 *
 * Options: --quick (5 s of churn instead of 20), --json, --clients N (200), --client-procs N (2),
 * --exporters N (1000), --places N per exporter (10), --seconds S, --prof DIR (a CPU profile of
 * the hub per phase, DIR/hub-<phase>.cpuprofile, taken through node:inspector).
 * A benchmark, not a test: it prints figures and ratios, and asserts nothing about timing.
 */
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, cpus, setPriority, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import {
  type EnginePlace,
  openDatabase,
  openReservations,
  placeId,
  ReservationEngine,
  type ReservationService,
  type ReserveRequest,
} from '@tether/hub'
import {
  type Child,
  cpuSeconds,
  exporterName,
  type Percentiles,
  percentiles,
  placeName,
  startChild,
  startIssuer,
} from './hub-issuer.js'

const HUB = fileURLToPath(new URL('./hub-process.js', import.meta.url))
const CLIENTS = fileURLToPath(new URL('./hub-clients.js', import.meta.url))

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    clients: { type: 'string', default: '200' },
    'client-procs': { type: 'string', default: '2' },
    exporters: { type: 'string', default: '1000' },
    places: { type: 'string', default: '10' },
    seconds: { type: 'string' },
    prof: { type: 'string' },
  },
})

const N_CLIENTS = Number(args.clients)
const N_PROCS = Math.max(1, Math.min(Number(args['client-procs']), N_CLIENTS))
const N_EXPORTERS = Number(args.exporters)
const N_PLACES = Number(args.places)
const CHURN_S = Number(args.seconds ?? (args.quick ? 5 : 20))
/** The engine + SQLite baseline runs this long (one fsync per operation). */
const SQLITE_S = args.quick ? 1 : 3
/**
 * New connections per second over all client processes: under the hub's per-host limit of 100/s
 * (DEFAULT_INBOUND_CONNECTIONS_PER_HOST_PER_SECOND), and libp2p upgrades at most 10 inbound
 * connections at once.
 */
const RAMP_PER_SECOND = 60
const LEASE_MS = 10 * 60_000
/** Client processes run at this nice level, so the hub (nice 0) gets a core when it can use one. */
const CLIENT_NICE = 10

type Memory = {
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  arrayBuffers: number
  connections: number
}

interface Counters {
  /** Of the hub's event loop over the phase (0..1). */
  eventLoopUtilization: number
  engineMs: number
  queryMs: number
  queries: number
  commitMs: number
  commits: number
  runs: number
}

interface CpuShare {
  /** % of one core. */
  hub: number
  /** % of one core, all client processes together. */
  clients: number
  /** % of the whole machine (all cores) busy, and waiting for I/O. */
  box: number
  iowait: number
}

interface Phase {
  latencies: Percentiles
  count: number
  perSecond: number
}

interface ChurnAnswer {
  reserve: number[]
  return: number[]
  busy: number
  errors: Record<string, number>
  ms: number
}

interface RequestsAnswer {
  latencies: number[]
  errors: Record<string, number>
  ms: number
}

const log = (line: string) => {
  if (!args.json) process.stderr.write(`${line}\n`)
}

/** Jiffies of the whole machine (/proc/stat): busy (user, nice, system, irq, softirq), iowait, steal, all. */
function boxJiffies(): { busy: number; iowait: number; steal: number; all: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  return {
    busy: user + nice + system + irq + softirq,
    iowait,
    steal,
    all: user + nice + system + idle + iowait + irq + softirq + steal,
  }
}

/**
 * Run one phase of the bench: CPU of the hub and of the clients (% of one core), the machine's
 * busy share, and the hub's own counters (event loop, engine, commits) over it; with --prof, a
 * CPU profile of the hub over the phase.
 */
async function measurePhase<T>(name: string, hub: Child, clients: Child[], work: () => Promise<T>) {
  await hub.ask({ cmd: 'counters' })
  if (args.prof) await hub.ask({ cmd: 'profile-start' })
  const box = boxJiffies()
  const before = { hub: cpuSeconds(hub.pid), clients: clients.map((c) => cpuSeconds(c.pid)) }
  const started = performance.now()
  const value = await work()
  const wall = (performance.now() - started) / 1000
  const share = (seconds: number) => (100 * seconds) / wall
  const boxAfter = boxJiffies()
  const cpu: CpuShare = {
    hub: share(cpuSeconds(hub.pid) - before.hub),
    clients: share(clients.reduce((sum, c, i) => sum + cpuSeconds(c.pid) - before.clients[i]!, 0)),
    box: (100 * (boxAfter.busy - box.busy)) / Math.max(1, boxAfter.all - box.all),
    iowait: (100 * (boxAfter.iowait - box.iowait)) / Math.max(1, boxAfter.all - box.all),
  }
  if (args.prof) {
    const path = join(args.prof, `hub-${name}.cpuprofile`)
    await hub.ask({ cmd: 'profile-stop', path })
    log(`hub CPU profile of ${name}: ${path}`)
  }
  const counters = await hub.ask<Counters>({ cmd: 'counters' })
  return { value, cpu, wall, counters }
}

function mergeErrors(all: Array<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const errors of all) for (const [k, v] of Object.entries(errors)) out[k] = (out[k] ?? 0) + v
  return out
}

/** The engine alone: `operations` reserve/return calls, `holders` leases held at once. */
function engineBaseline(operations: number, holders: number) {
  const engine = new ReservationEngine()
  const now = Date.now()
  for (const places of benchPlaces()) engine.syncExporter(places[0]!.exporter, places, now)
  engine.takeEvents()
  const reserve: number[] = []
  const giveBack: number[] = []
  let busy = 0
  const held: Array<{ id: string; user: string }> = []
  let n = 0
  const started = performance.now()
  while (reserve.length + giveBack.length + busy < operations) {
    if (held.length >= holders) {
      const { id, user } = held.shift()!
      const t = process.hrtime.bigint()
      engine.returnLease(id, user, Date.now())
      engine.takeEvents()
      giveBack.push(Number(process.hrtime.bigint() - t) / 1000)
      continue
    }
    const t = process.hrtime.bigint()
    try {
      const result = engine.reserve(reserveRequest(`user-${n++ % holders}`), Date.now())
      if (result.kind === 'lease') held.push({ id: result.lease.id, user: result.lease.user })
      engine.takeEvents()
      reserve.push(Number(process.hrtime.bigint() - t) / 1000)
    } catch {
      engine.takeEvents()
      busy++
    }
  }
  return { reserve, return: giveBack, busy, ms: performance.now() - started }
}

/** The engine with the hub's SQLite store (synchronous=FULL), one operation at a time, for `seconds`. */
async function sqliteBaseline(dir: string, seconds: number, holders: number) {
  const service: ReservationService = openReservations(openDatabase(join(dir, 'baseline.db')), Date.now())
  try {
    for (const places of benchPlaces()) {
      await service.run((e) => e.syncExporter(places[0]!.exporter, places, Date.now()))
    }
    const reserve: number[] = []
    const giveBack: number[] = []
    let busy = 0
    const held: Array<{ id: string; user: string }> = []
    let n = 0
    const started = performance.now()
    while (performance.now() - started < seconds * 1000) {
      const t = process.hrtime.bigint()
      if (held.length >= holders) {
        const { id, user } = held.shift()!
        await service.run((e) => e.returnLease(id, user, Date.now()))
        giveBack.push(Number(process.hrtime.bigint() - t) / 1000)
        continue
      }
      try {
        const result = await service.run((e) =>
          e.reserve(reserveRequest(`user-${n++ % holders}`), Date.now()),
        )
        if (result.kind === 'lease') held.push({ id: result.lease.id, user: result.lease.user })
        reserve.push(Number(process.hrtime.bigint() - t) / 1000)
      } catch {
        busy++
      }
    }
    return { reserve, return: giveBack, busy, ms: performance.now() - started }
  } finally {
    service.store.close()
  }
}

/** A reserve of a random place for `user`, as the hub makes it of a client's request. */
function reserveRequest(user: string): ReserveRequest {
  const i = Math.floor(Math.random() * N_EXPORTERS)
  const j = Math.floor(Math.random() * N_PLACES)
  return {
    user,
    groups: [],
    target: { place: placeId(exporterName(i), placeName(i, j)) },
    priority: 0,
    leaseMs: LEASE_MS,
    wait: false,
  }
}

function* benchPlaces(): Generator<EnginePlace[]> {
  for (let i = 0; i < N_EXPORTERS; i++) {
    yield Array.from({ length: N_PLACES }, (_, j) => ({
      id: placeId(exporterName(i), placeName(i, j)),
      exporter: exporterName(i),
      name: placeName(i, j),
      tags: ['bench', `rack-${i % 50}`],
      parts: [
        {
          name: 'board',
          compatible: ['bench,board'],
          interfaces: [{ kind: 'usb' as const, name: 'usb', busid: `1-${j + 1}` }],
        },
      ],
    }))
  }
}

async function main(): Promise<void> {
  const idleBox = boxJiffies()
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const idleAfter = boxJiffies()
  const boxBusyBefore = (100 * (idleAfter.busy - idleBox.busy)) / Math.max(1, idleAfter.all - idleBox.all)
  const dir = await mkdtemp(join(tmpdir(), 'tether-hub-bench-'))
  const issuer = await startIssuer()
  const tokens = Array.from({ length: N_CLIENTS }, (_, k) => issuer.sign(`user-${k}`))
  if (args.prof) await mkdir(args.prof, { recursive: true })
  const hub = await startChild(HUB, [issuer.url, join(dir, 'hub')], ['--expose-gc'])
  const clients: Child[] = []
  try {
    const memory: Record<string, Memory> = {}
    await new Promise((resolve) => setTimeout(resolve, 500))
    memory.idle = await hub.ask<Memory>({ cmd: 'memory' })
    log(`hub started at ${hub.info.address as string}`)

    const registered = await hub.ask<Record<string, number>>({
      cmd: 'register',
      exporters: N_EXPORTERS,
      places: N_PLACES,
    })
    memory.registered = await hub.ask<Memory>({ cmd: 'memory' })
    log(
      `registered ${registered.entries} exporters, ${registered.places} places known to the engine ` +
        `(enrollment ${registered.enrollMs!.toFixed(0)} ms, registration ${registered.registerMs!.toFixed(0)} ms)`,
    )

    for (let p = 0; p < N_PROCS; p++) {
      const client = await startChild(CLIENTS, [hub.info.address as string])
      // The clients yield to the hub: on a small machine they would otherwise take its core.
      setPriority(client.pid, CLIENT_NICE)
      clients.push(client)
    }
    const share = (k: number) => tokens.filter((_, i) => i % N_PROCS === k)
    const connect = await measurePhase('connect', hub, clients, () =>
      Promise.all(
        clients.map((c, k) =>
          c.ask<{ connected: number; latencies: number[]; refused: Record<string, number> }>({
            cmd: 'connect',
            tokens: share(k),
            perSecond: RAMP_PER_SECOND / N_PROCS,
            atOnce: Math.max(1, Math.floor(8 / N_PROCS)),
          }),
        ),
      ),
    )
    memory.connected = await hub.ask<Memory>({ cmd: 'memory' })
    log(`${N_CLIENTS} clients connected in ${connect.wall.toFixed(1)} s`)

    const churn = await measurePhase('churn', hub, clients, () =>
      Promise.all(
        clients.map((c) =>
          c.ask<ChurnAnswer>({ cmd: 'churn', ms: CHURN_S * 1000, exporters: N_EXPORTERS, places: N_PLACES }),
        ),
      ),
    )
    memory.churned = await hub.ask<Memory>({ cmd: 'memory' })
    const churnS = Math.max(...churn.value.map((a) => a.ms)) / 1000
    const reserveUs = churn.value.flatMap((a) => a.reserve)
    const returnUs = churn.value.flatMap((a) => a.return)
    const busy = churn.value.reduce((n, a) => n + a.busy, 0)
    const churnErrors = mergeErrors(churn.value.map((a) => a.errors))
    const requestCount = reserveUs.length + returnUs.length + busy
    log(`churn: ${requestCount} requests in ${churnS.toFixed(1)} s`)

    const baseline = async (type: 'whoami' | 'jwks') => {
      const per = Math.ceil(requestCount / N_PROCS)
      const run = await measurePhase(type, hub, clients, () =>
        Promise.all(clients.map((c) => c.ask<RequestsAnswer>({ cmd: 'requests', type, count: per }))),
      )
      const latencies = run.value.flatMap((a) => a.latencies)
      const seconds = Math.max(...run.value.map((a) => a.ms)) / 1000
      log(`${type}: ${latencies.length} requests in ${seconds.toFixed(1)} s`)
      return {
        phase: {
          latencies: percentiles(latencies),
          count: latencies.length,
          perSecond: latencies.length / seconds,
        },
        cpu: run.cpu,
        hubTime: run.counters,
        hubMsPerRequest:
          (run.counters.eventLoopUtilization * run.wall * 1000) / Math.max(1, latencies.length),
        errors: mergeErrors(run.value.map((a) => a.errors)),
      }
    }
    const whoami = await baseline('whoami')
    const jwks = await baseline('jwks')

    for (const c of clients.splice(0)) await c.stop()
    await hub.stop()

    const engine = engineBaseline(requestCount, N_CLIENTS / 2)
    log(`engine alone: ${engine.reserve.length + engine.return.length} operations`)
    const sqlite = await sqliteBaseline(dir, SQLITE_S, N_CLIENTS / 2)
    log(`engine + SQLite: ${sqlite.reserve.length + sqlite.return.length} operations in ${SQLITE_S} s`)

    const phase = (latencies: number[], seconds: number): Phase => ({
      latencies: percentiles(latencies),
      count: latencies.length,
      perSecond: latencies.length / seconds,
    })
    const results = {
      setup: {
        node: process.version,
        cpus: availableParallelism(),
        cpuModel: cpus()[0]?.model,
        exporters: N_EXPORTERS,
        places: N_EXPORTERS * N_PLACES,
        clients: N_CLIENTS,
        clientProcesses: N_PROCS,
        churnSeconds: churnS,
        sqlite: `${dir} (WAL, synchronous=FULL)`,
        boxBusyBefore,
      },
      registration: registered,
      memory,
      churn: {
        reserve: phase(reserveUs, churnS),
        return: phase(returnUs, churnS),
        busy,
        errors: churnErrors,
        requestsPerSecond: requestCount / churnS,
        hubMsPerRequest:
          (churn.counters.eventLoopUtilization * churn.wall * 1000) / Math.max(1, requestCount),
        cpu: churn.cpu,
        hubTime: churn.counters,
      },
      connect: {
        latencies: percentiles(connect.value.flatMap((a) => a.latencies)),
        seconds: connect.wall,
        refused: mergeErrors(connect.value.map((a) => a.refused)),
      },
      whoami,
      jwks,
      engine: {
        reserve: phase(engine.reserve, engine.ms / 1000),
        return: phase(engine.return, engine.ms / 1000),
        busy: engine.busy,
        operationsPerSecond: (engine.reserve.length + engine.return.length) / (engine.ms / 1000),
      },
      sqlite: {
        reserve: phase(sqlite.reserve, sqlite.ms / 1000),
        return: phase(sqlite.return, sqlite.ms / 1000),
        busy: sqlite.busy,
        operationsPerSecond: (sqlite.reserve.length + sqlite.return.length) / (sqlite.ms / 1000),
      },
    }
    if (args.json) console.log(JSON.stringify(results, null, 2))
    else report(results)
  } finally {
    for (const c of clients) await c.stop()
    await hub.stop()
    await issuer.close()
    await rm(dir, { recursive: true, force: true })
  }
}

type Results = {
  setup: Record<string, unknown>
  registration: Record<string, number>
  memory: Record<string, Memory>
  churn: {
    reserve: Phase
    return: Phase
    busy: number
    errors: Record<string, number>
    requestsPerSecond: number
    /** The hub's busy event-loop time per request over the phase. */
    hubMsPerRequest: number
    cpu: CpuShare
    hubTime: Counters
  }
  connect: { latencies: Percentiles; seconds: number; refused: Record<string, number> }
  whoami: {
    phase: Phase
    cpu: CpuShare
    hubTime: Counters
    hubMsPerRequest: number
    errors: Record<string, number>
  }
  jwks: {
    phase: Phase
    cpu: CpuShare
    hubTime: Counters
    hubMsPerRequest: number
    errors: Record<string, number>
  }
  engine: { reserve: Phase; return: Phase; busy: number; operationsPerSecond: number }
  sqlite: { reserve: Phase; return: Phase; busy: number; operationsPerSecond: number }
}

function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  console.log(line(header))
  for (const r of rows) console.log(line(r))
}

function report(r: Results): void {
  const s = r.setup
  const ms = (us: number) => (us / 1000).toFixed(us < 1000 ? 3 : 2)
  const x = (a: number, b: number) => `${(a / b).toFixed(a / b < 10 ? 2 : 1)}x`
  console.log(
    `hub bench: ${s.exporters} exporters / ${s.places} places (in-process registrations), ${s.clients} clients ` +
      `(libp2p nodes in ${s.clientProcesses} processes at nice ${CLIENT_NICE}) churning reserve/return for ${Number(s.churnSeconds).toFixed(1)} s; ` +
      `node ${s.node}, ${s.cpus} CPUs (${s.cpuModel}); SQLite ${s.sqlite}`,
  )
  console.log('')
  const jw = r.jwks.phase.latencies
  const wh = r.whoami.phase.latencies
  const rows: string[][] = []
  const row = (label: string, p: Phase, cpu?: CpuShare, loop?: Counters, versus = true) => {
    const l = p.latencies
    rows.push([
      label,
      String(p.count),
      p.perSecond.toFixed(0),
      ms(l.p50),
      ms(l.p90),
      ms(l.p99),
      ms(l.max),
      versus ? x(l.p50, wh.p50) : '',
      versus ? x(l.p50, jw.p50) : '',
      versus ? x(l.p99, jw.p99) : '',
      cpu ? `${cpu.hub.toFixed(0)}/${cpu.clients.toFixed(0)}/${cpu.box.toFixed(0)}` : '',
      loop ? (100 * loop.eventLoopUtilization).toFixed(0) : '',
    ])
  }
  row('reserve (churn, over libp2p)', r.churn.reserve, r.churn.cpu, r.churn.hubTime)
  row('return (churn, over libp2p)', r.churn.return, r.churn.cpu, r.churn.hubTime)
  row('whoami (baseline: token check)', r.whoami.phase, r.whoami.cpu, r.whoami.hubTime)
  row('jwks (baseline: no login)', r.jwks.phase, r.jwks.cpu, r.jwks.hubTime)
  row('engine reserve (in-process)', r.engine.reserve, undefined, undefined, false)
  row('engine return (in-process)', r.engine.return, undefined, undefined, false)
  row('engine+SQLite reserve (FULL)', r.sqlite.reserve, undefined, undefined, false)
  row('engine+SQLite return (FULL)', r.sqlite.return, undefined, undefined, false)
  table(
    [
      'request',
      'count',
      'per s',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'max ms',
      'p50 ×whoami',
      'p50 ×jwks',
      'p99 ×jwks',
      'CPU% hub/cli/box',
      'hub loop%',
    ],
    rows,
  )
  console.log(
    'CPU%: hub and clients in % of one core, box in % of all cores; hub loop%: event loop utilization of the hub',
  )
  const c = r.churn
  const errors = Object.entries(c.errors)
  console.log(
    `churn: ${c.requestsPerSecond.toFixed(0)} hub requests/s (reserve + return + ${c.busy} ERR_BUSY retries` +
      `${errors.length ? `; errors ${errors.map(([k, v]) => `${k}×${v}`).join(', ')}` : '; no errors'}); ` +
      `whoami ${r.whoami.phase.perSecond.toFixed(0)}/s, jwks ${r.jwks.phase.perSecond.toFixed(0)}/s ` +
      `(${x(c.requestsPerSecond, r.jwks.phase.perSecond)} of jwks); ` +
      `engine alone ${r.engine.operationsPerSecond.toFixed(0)} ops/s, engine+SQLite ${r.sqlite.operationsPerSecond.toFixed(0)} ops/s`,
  )
  console.log(
    `hub event-loop time per request (busy share × phase time / requests): churn ${c.hubMsPerRequest.toFixed(2)} ms, ` +
      `whoami ${r.whoami.hubMsPerRequest.toFixed(2)} ms, jwks ${r.jwks.hubMsPerRequest.toFixed(2)} ms ` +
      `(churn ${x(c.hubMsPerRequest, r.whoami.hubMsPerRequest)} whoami, ${x(c.hubMsPerRequest, r.jwks.hubMsPerRequest)} jwks); ` +
      'a baseline whose hub loop% is well under 100 was limited by its clients, not the hub',
  )
  console.log(
    `connect: ${s.clients} clients in ${r.connect.seconds.toFixed(1)} s (ramped at ${RAMP_PER_SECOND}/s), ` +
      `first whoami p50 ${ms(r.connect.latencies.p50)} ms / p99 ${ms(r.connect.latencies.p99)} ms` +
      `${Object.keys(r.connect.refused).length ? `; dials refused and retried: ${JSON.stringify(r.connect.refused)}` : ''}`,
  )
  console.log('')
  const mib = (b: number) => (b / 1024 / 1024).toFixed(1)
  const outsideV8 = (m: Memory) => m.rss - m.heapTotal - m.external
  const idle = r.memory.idle!
  const memRows = (
    [
      ['idle', 'idle'],
      ['registered', `${s.exporters} exporters / ${s.places} places registered`],
      ['connected', `+ ${s.clients} clients connected`],
      ['churned', 'after the churn'],
    ] as const
  ).map(([key, label]) => {
    const m = r.memory[key]!
    return [
      label,
      mib(m.rss),
      `+${mib(m.rss - idle.rss)}`,
      mib(m.heapUsed),
      `+${mib(m.heapUsed - idle.heapUsed)}`,
      mib(m.heapTotal),
      mib(m.external),
      `+${mib(outsideV8(m) - outsideV8(idle))}`,
      String(m.connections),
    ]
  })
  table(
    [
      'hub memory (after a full GC)',
      'RSS MiB',
      'Δ idle',
      'heap MiB',
      'Δ idle',
      'committed',
      'external',
      'other Δ',
      'conns',
    ],
    memRows,
  )
  console.log(
    'heap: V8 heap in use; committed: V8 heap reserved; external: buffers V8 knows of; other Δ: the rest of ' +
      "RSS (malloc'd memory: SQLite, libuv, freed buffers glibc keeps), change since idle",
  )
  const reg = r.memory.registered!
  const con = r.memory.connected!
  console.log(
    `per place: ${((reg.heapUsed - idle.heapUsed) / Number(s.places) / 1024).toFixed(2)} KiB heap, ` +
      `${((reg.rss - idle.rss) / Number(s.places) / 1024).toFixed(2)} KiB RSS; ` +
      `per client connection: ${((con.rss - reg.rss) / Number(s.clients) / 1024).toFixed(0)} KiB RSS, ` +
      `${((con.heapUsed - reg.heapUsed) / Number(s.clients) / 1024).toFixed(0)} KiB heap`,
  )
  console.log('')
  const t = c.hubTime
  const wall = Number(s.churnSeconds) * 1000
  const pct = (v: number) => `${((100 * v) / wall).toFixed(0)}%`
  console.log(
    `hub during the churn: event loop busy ${(100 * t.eventLoopUtilization).toFixed(0)}%, on a CPU ${c.cpu.hub.toFixed(0)}%; ` +
      `of wall time: SQLite commits ${pct(t.commitMs)} (${t.commits}, ${(t.commitMs / Math.max(1, t.commits)).toFixed(2)} ms each), ` +
      `directory look-ups ${pct(t.queryMs)} (${t.queries}, ${((1000 * t.queryMs) / Math.max(1, t.queries)).toFixed(0)} µs each), ` +
      `engine ${pct(t.engineMs)}, the rest (libp2p, token check, protocol, waiting for a core) ` +
      `${pct(Math.max(0, t.eventLoopUtilization * wall - t.commitMs - t.queryMs - t.engineMs))}`,
  )
  if (Number(s.boxBusyBefore) > 15) {
    console.log(
      `note: the machine was ${Number(s.boxBusyBefore).toFixed(0)}% busy before the bench started (other processes): ` +
        'its figures are lower and noisier than on an idle machine',
    )
  }
  console.log(`limit: ${limit(r)}`)
}

/** Name what bounds the churn figures, from this run's measurements. */
function limit(r: Results): string {
  const c = r.churn
  const t = c.hubTime
  const wall = Number(r.setup.churnSeconds) * 1000
  const cores = Number(r.setup.cpus)
  const share = (v: number) => `${((100 * v) / wall).toFixed(0)}%`
  const parts: string[] = []
  if (t.eventLoopUtilization > 0.9) {
    parts.push(
      `the hub's one event loop (busy ${(100 * t.eventLoopUtilization).toFixed(0)}%): the per-request libp2p ` +
        `stream and token check that whoami/jwks measure (churn ${(c.requestsPerSecond / r.jwks.phase.perSecond).toFixed(2)}x ` +
        `the jwks rate), SQLite commits with an fsync, synchronous on the loop but shared by concurrent operations ` +
        `(${share(t.commitMs)} of the time, ${(t.runs / Math.max(1, t.commits)).toFixed(1)} operations per commit), ` +
        `directory look-ups ${share(t.queryMs)}, the engine itself ${share(t.engineMs)}`,
    )
    if (c.cpu.hub < 80 * t.eventLoopUtilization) {
      parts.push(
        `the loop is busy but on a CPU only ${c.cpu.hub.toFixed(0)}% of the time: it waits in fsync and for a core ` +
          `(the machine was ${c.cpu.box.toFixed(0)}% busy, ${cores} cores)`,
      )
    }
  } else if (c.cpu.box > 85) {
    parts.push(
      `the machine (${c.cpu.box.toFixed(0)}% of ${cores} cores busy: hub ${c.cpu.hub.toFixed(0)}%, clients ` +
        `${c.cpu.clients.toFixed(0)}% of one core): the clients' own libp2p work competes with the hub`,
    )
  } else {
    parts.push('neither the hub nor the machine is saturated: the clients are')
  }
  return parts.join('; ')
}

await main()
