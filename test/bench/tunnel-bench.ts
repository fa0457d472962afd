/**
 * pnpm bench:tunnel — USB/IP URB round trips and bulk throughput against Gadget Zero over three
 * paths measured in one run: raw TCP (the baseline), the direct libp2p tunnel (TCP + noise +
 * yamux) and the tunnel through a circuit-relay-v2 relay.
 *
 * Processes: the exporter (Gadget Zero + UsbipServer + its libp2p node) and the relay each run
 * in a child process; this process is the importer (userspace USB/IP client). Separate event
 * loops are what a deployment has (three machines), and on a 2-core box they let the two ends'
 * crypto and framing run in parallel instead of sharing one thread.
 *
 * Options: --quick (fewer round trips, less data), --json (one JSON document instead of the
 * table), --paths tcp,direct,relay, --in-flight 1,4,8, --prof DIR (children write --cpu-prof
 * profiles to DIR; run this process with `node --cpu-prof` for the importer's).
 * A benchmark, not a test: it prints PASS/MISS per target and exits 0 either way.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Duplex } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { openTunnel, type TetherNode } from '@tether/net'
import { type ImportedDevice, importDevice, importDeviceOver } from '@tether/usbip'
import { benchNode } from './tunnel-peers.js'
import { bulkThroughput, type RoundTrips, selectSourceSink, URB_SIZE, urbRoundTrips } from './urb-workload.js'

// The test workspace does not depend on @multiformats/multiaddr: borrow @tether/net's copy.
type MultiaddrInput = Extract<Parameters<typeof openTunnel>[1], { bytes: Uint8Array }>
const { multiaddr } = createRequire(import.meta.resolve('@tether/net'))('@multiformats/multiaddr') as {
  multiaddr(address: string): MultiaddrInput
}

const root = fileURLToPath(new URL('../../../', import.meta.url))
const PEERS = fileURLToPath(new URL('./tunnel-peers.js', import.meta.url))

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    paths: { type: 'string', default: 'tcp,direct,relay' },
    'in-flight': { type: 'string', default: '1,4,8' },
    prof: { type: 'string' },
  },
})

const PATHS = args.paths.split(',').map((p) => p.trim()) as PathName[]
const IN_FLIGHT = args['in-flight'].split(',').map(Number)
const ROUND_TRIPS = Number(process.env.BENCH_ROUND_TRIPS ?? (args.quick ? 2_000 : 10_000))
/** Round trips stop early after this long (the relayed path is ~20x slower). */
const ROUND_TRIP_BUDGET_S = args.quick ? 2 : 6
const BULK_BYTES = Number(process.env.BENCH_BULK_MB ?? (args.quick ? 32 : 64)) * 1024 * 1024
/** Each bulk figure is the median of this many runs: loopback numbers on a shared box swing 2x. */
const BULK_REPEATS = Number(process.env.BENCH_BULK_REPEATS ?? (args.quick ? 1 : 3))

type PathName = 'tcp' | 'direct' | 'relay'
const PATH_TITLE: Record<PathName, string> = {
  tcp: 'raw TCP',
  direct: 'direct tunnel',
  relay: 'relayed tunnel',
}

const TARGETS = { throughputRatio: 0.8, throughputMBps: 53, addedRoundTripUs: 100 }

/** CPU time of each process over a measurement, as % of one core (100 = one core busy). */
interface CpuShare {
  importer: number
  exporter: number
  relay?: number
}

interface PathResult {
  roundTrip: RoundTrips
  /** MB/s (10^6 bytes) by URBs in flight: the median of BULK_REPEATS runs. */
  bulkIn: Record<number, number>
  bulkOut: Record<number, number>
  /** Every run, by URBs in flight. */
  bulkInRuns: Record<number, number[]>
  bulkOutRuns: Record<number, number[]>
  /** CPU use over the bulk runs with the most URBs in flight. */
  cpuIn: CpuShare
  cpuOut: CpuShare
}

interface Child {
  pid: number
  info: Record<string, unknown>
  stop(): Promise<void>
}

/** utime + stime of a process in seconds (Linux /proc). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

let children: { exporter?: Child; relay?: Child } = {}

/** Whether the relay process carries the path being measured (its CPU is reported then). */
let measuringRelay = false

async function withCpu<T>(work: () => Promise<T>): Promise<{ value: T; cpu: CpuShare }> {
  const pids = { exporter: children.exporter?.pid, relay: measuringRelay ? children.relay?.pid : undefined }
  const before = {
    self: process.cpuUsage(),
    exporter: pids.exporter ? cpuSeconds(pids.exporter) : 0,
    relay: pids.relay ? cpuSeconds(pids.relay) : 0,
  }
  const started = process.hrtime.bigint()
  const value = await work()
  const wall = Number(process.hrtime.bigint() - started) / 1e9
  const self = process.cpuUsage(before.self)
  const share = (seconds: number) => (100 * seconds) / wall
  return {
    value,
    cpu: {
      importer: share((self.user + self.system) / 1e6),
      exporter: pids.exporter ? share(cpuSeconds(pids.exporter) - before.exporter) : 0,
      ...(pids.relay ? { relay: share(cpuSeconds(pids.relay) - before.relay) } : {}),
    },
  }
}

function startChild(argv: string[]): Promise<Child> {
  const prof = args.prof ? ['--cpu-prof', '--cpu-prof-dir', args.prof] : []
  const child: ChildProcess = spawn(process.execPath, [...prof, PEERS, ...argv], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const kill = () => child.kill('SIGKILL')
  process.once('exit', kill)
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(kill, 8000)
      await exited
      clearTimeout(timer)
    }
    process.removeListener('exit', kill)
  }
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => {
      void stop()
      reject(new Error(`${argv[0]} did not start within 20 s`))
    }, 20_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${argv[0]} exited with ${code} before it was ready`))
    })
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const newline = output.indexOf('\n')
      if (newline < 0) return
      clearTimeout(timer)
      resolve({ pid: child.pid!, info: JSON.parse(output.slice(0, newline)), stop })
    })
  })
}

async function measure(device: ImportedDevice): Promise<PathResult> {
  await selectSourceSink(device)
  // Warm up: JIT, socket buffers, yamux window auto-tuning.
  await urbRoundTrips(device, 1000, 1)
  await bulkThroughput(device, 'in', 8, 16 * 1024 * 1024)
  await bulkThroughput(device, 'out', 8, 16 * 1024 * 1024)
  const roundTrip = await urbRoundTrips(device, ROUND_TRIPS, ROUND_TRIP_BUDGET_S)
  const bulkInRuns: Record<number, number[]> = {}
  const bulkOutRuns: Record<number, number[]> = {}
  let cpuIn: CpuShare = { importer: 0, exporter: 0 }
  let cpuOut: CpuShare = { importer: 0, exporter: 0 }
  const repeat = async (direction: 'in' | 'out', n: number) => {
    const runs: number[] = []
    for (let i = 0; i < BULK_REPEATS; i++) runs.push(await bulkThroughput(device, direction, n, BULK_BYTES))
    return runs
  }
  for (const n of IN_FLIGHT) {
    const inRuns = await withCpu(() => repeat('in', n))
    const outRuns = await withCpu(() => repeat('out', n))
    bulkInRuns[n] = inRuns.value
    bulkOutRuns[n] = outRuns.value
    cpuIn = inRuns.cpu
    cpuOut = outRuns.cpu
  }
  const median = (runs: number[]) => [...runs].sort((a, b) => a - b)[Math.floor(runs.length / 2)]!
  const medians = (all: Record<number, number[]>) =>
    Object.fromEntries(Object.entries(all).map(([n, runs]) => [n, median(runs)]))
  return {
    roundTrip,
    bulkIn: medians(bulkInRuns),
    bulkOut: medians(bulkOutRuns),
    bulkInRuns,
    bulkOutRuns,
    cpuIn,
    cpuOut,
  }
}

/** The exporter frees the device once it has seen the previous connection close: retry briefly. */
async function withRetry<T>(what: string, attempt: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt()
    } catch (err) {
      if (i >= 50) throw new Error(`${what}: ${(err as Error).message}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

async function overTunnel(
  node: TetherNode,
  address: string,
  exporterPeer: string,
  relayed: boolean,
): Promise<PathResult> {
  const target = multiaddr(address)
  const device = await withRetry('tunnel import', async () => {
    const duplex: Duplex = await openTunnel(node, target, { busid: '1-1' })
    return importDeviceOver(duplex, '1-1')
  })
  const connections = node.getConnections().filter((c) => c.remotePeer.toString() === exporterPeer)
  const viaRelay = connections.every((c) => c.remoteAddr.toString().includes('/p2p-circuit'))
  if (connections.length !== 1 || viaRelay !== relayed) {
    throw new Error(
      `expected one ${relayed ? 'relayed' : 'direct'} connection, have ${connections.map((c) => c.remoteAddr.toString()).join(', ')}`,
    )
  }
  try {
    return await measure(device)
  } finally {
    await device.close()
  }
}

async function main(): Promise<void> {
  const relay = PATHS.includes('relay') ? await startChild(['relay']) : undefined
  const relayAddress = (relay?.info.addresses as string[] | undefined)?.[0]
  const exporter = await startChild(relayAddress ? ['exporter', relayAddress] : ['exporter'])
  children = { exporter, ...(relay ? { relay } : {}) }
  const exporterAddresses = exporter.info.addresses as string[]
  const peerId = exporter.info.peerId as string
  const directAddress = exporterAddresses.find((a) => !a.includes('/p2p-circuit'))!
  const results: Partial<Record<PathName, PathResult>> = {}
  try {
    for (const path of PATHS) {
      measuringRelay = path === 'relay'
      if (path === 'tcp') {
        const device = await withRetry('tcp import', () =>
          importDevice({ host: '127.0.0.1', port: exporter.info.usbipPort as number, busid: '1-1' }),
        )
        try {
          results.tcp = await measure(device)
        } finally {
          await device.close()
        }
      } else {
        // A fresh importer node per path, so the relayed dial cannot reuse a direct connection.
        const { node, dispose } = await benchNode({ relayClient: path === 'relay' })
        try {
          const address = path === 'relay' ? `${relayAddress}/p2p-circuit/p2p/${peerId}` : directAddress
          results[path] = await overTunnel(node, address, peerId, path === 'relay')
        } finally {
          await dispose()
        }
      }
      if (!args.json) process.stderr.write(`measured ${PATH_TITLE[path]}\n`)
    }
  } finally {
    await exporter.stop()
    await relay?.stop()
  }
  report(results)
}

function report(results: Partial<Record<PathName, PathResult>>): void {
  const base = results.tcp
  const direct = results.direct
  const targets: Array<{ target: string; value: string; pass: boolean }> = []
  if (base && direct) {
    const deepest = Math.max(...IN_FLIGHT)
    for (const dir of ['bulkIn', 'bulkOut'] as const) {
      const name = dir === 'bulkIn' ? 'bulk IN' : 'bulk OUT'
      const ratio = direct[dir][deepest]! / base[dir][deepest]!
      targets.push({
        target: `direct ${name} (${deepest} in flight) >= ${TARGETS.throughputRatio}x raw TCP`,
        value: `${ratio.toFixed(2)}x`,
        pass: ratio >= TARGETS.throughputRatio,
      })
      const best = Math.max(...IN_FLIGHT.map((n) => direct[dir][n]!))
      targets.push({
        target: `direct ${name} >= ${TARGETS.throughputMBps} MB/s (best in-flight setting)`,
        value: `${best.toFixed(1)} MB/s`,
        pass: best >= TARGETS.throughputMBps,
      })
    }
    const added = direct.roundTrip.medianUs - base.roundTrip.medianUs
    targets.push({
      target: `direct added median round trip <= ${TARGETS.addedRoundTripUs} µs`,
      value: `${added.toFixed(1)} µs`,
      pass: added <= TARGETS.addedRoundTripUs,
    })
  }
  if (args.json) {
    console.log(
      JSON.stringify(
        {
          node: process.version,
          roundTrips: ROUND_TRIPS,
          bulkBytes: BULK_BYTES,
          bulkRepeats: BULK_REPEATS,
          urbSize: URB_SIZE,
          inFlight: IN_FLIGHT,
          results,
          targets,
        },
        null,
        2,
      ),
    )
    return
  }
  const paths = PATHS.filter((p) => results[p])
  const f = (n: number | undefined, d = 1) => (n === undefined ? '-' : n.toFixed(d))
  const header = [
    'measure',
    ...paths.flatMap((p) => (p === 'tcp' || !base ? [PATH_TITLE[p]] : [PATH_TITLE[p], 'ratio'])),
  ]
  const rows: string[][] = []
  const row = (label: string, pick: (r: PathResult) => number, digits = 1) => {
    const cells = [label]
    for (const p of paths) {
      const value = pick(results[p]!)
      cells.push(f(value, digits))
      if (p !== 'tcp' && base) cells.push(`${f(value / pick(base), 2)}x`)
    }
    rows.push(cells)
  }
  row('64 B URB round trips/s', (r) => r.roundTrip.perSecond, 0)
  row('64 B URB round trip median (µs)', (r) => r.roundTrip.medianUs)
  row('64 B URB round trip p99 (µs)', (r) => r.roundTrip.p99Us)
  for (const n of IN_FLIGHT) row(`bulk IN MB/s, ${n}×64 KiB in flight`, (r) => r.bulkIn[n]!)
  for (const n of IN_FLIGHT) row(`bulk OUT MB/s, ${n}×64 KiB in flight`, (r) => r.bulkOut[n]!)
  const deepest = Math.max(...IN_FLIGHT)
  const cpu = (c: CpuShare) =>
    `${c.importer.toFixed(0)}/${c.exporter.toFixed(0)}${c.relay ? `/${c.relay.toFixed(0)}` : ''}`
  for (const [label, pick] of [
    [`CPU % imp/exp[/relay], IN ${deepest}`, (r: PathResult) => r.cpuIn],
    [`CPU % imp/exp[/relay], OUT ${deepest}`, (r: PathResult) => r.cpuOut],
  ] as const) {
    rows.push([
      label,
      ...paths.flatMap((p) =>
        p === 'tcp' || !base ? [cpu(pick(results[p]!))] : [cpu(pick(results[p]!)), ''],
      ),
    ])
  }
  if (base) {
    const cells = ['added median round trip (µs)']
    for (const p of paths) {
      const added = results[p]!.roundTrip.medianUs - base.roundTrip.medianUs
      cells.push(p === 'tcp' ? '0.0' : f(added), ...(p === 'tcp' ? [] : ['']))
    }
    rows.push(cells)
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
  console.log(
    `tunnel bench: Gadget Zero source/sink, ${ROUND_TRIPS} round trips (≤${ROUND_TRIP_BUDGET_S} s), ` +
      `bulk: median of ${BULK_REPEATS} runs of ${BULK_BYTES / 1024 / 1024} MiB, ${URB_SIZE / 1024} KiB URBs, loopback, node ${process.version}; ` +
      'exporter and relay in child processes, importer in this one',
  )
  console.log(line(header))
  for (const r of rows) console.log(line(r))
  if (targets.length > 0) {
    console.log('targets:')
    for (const t of targets) console.log(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.target}: ${t.value}`)
  }
}

await main()
