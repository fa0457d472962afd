/**
 * pnpm bench:usbip — URB round trips and bulk throughput through the userspace client over
 * loopback TCP against the Gadget Zero model served by `tether serve` in its own process, with
 * raw TCP between the same two processes measured in the same run as the baseline.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { importDevice } from '@tether/usbip'
import { bulkThroughput, selectSourceSink, summarize, URB_SIZE, urbRoundTrips } from './urb-workload.js'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const ROUND_TRIPS = Number(process.env.BENCH_ROUND_TRIPS ?? 20_000)
const BULK_BYTES = Number(process.env.BENCH_BULK_MB ?? 256) * 1024 * 1024
const IN_FLIGHT = 8

async function startProcess(args: string[]): Promise<{ port: number; stop: () => void }> {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = (await once(child.stdout, 'data')) as [Buffer]
  const first = JSON.parse(line.toString().split('\n')[0]!)
  const port = first.listening?.port ?? first.port
  return { port, stop: () => child.kill('SIGTERM') }
}

async function tcpRoundTrips(port: number) {
  const socket = connect({ port, host: '127.0.0.1', noDelay: true })
  await once(socket, 'connect')
  socket.write('e')
  const message = Buffer.alloc(64)
  const latencies: number[] = []
  let pending = 0
  let resolveOne: (() => void) | undefined
  socket.on('data', (data) => {
    pending -= data.length
    if (pending <= 0) resolveOne?.()
  })
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const started = process.hrtime.bigint()
    pending = 64
    await new Promise<void>((resolve) => {
      resolveOne = resolve
      socket.write(message)
    })
    latencies.push(Number(process.hrtime.bigint() - started))
  }
  socket.destroy()
  return summarize(latencies)
}

async function tcpStream(port: number, direction: 'in' | 'out'): Promise<number> {
  const socket: Socket = connect({ port, host: '127.0.0.1', noDelay: true })
  await once(socket, 'connect')
  const started = process.hrtime.bigint()
  if (direction === 'in') {
    socket.write('s')
    let received = 0
    await new Promise<void>((resolve) => {
      socket.on('data', (data) => {
        received += data.length
        if (received >= BULK_BYTES) resolve()
      })
    })
  } else {
    socket.write('k')
    const chunk = Buffer.alloc(URB_SIZE)
    for (let sent = 0; sent < BULK_BYTES; sent += chunk.length) {
      if (!socket.write(chunk)) await once(socket, 'drain')
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  socket.destroy()
  return BULK_BYTES / seconds / 1e6
}

async function main() {
  const baseline = await startProcess(['test/dist/bench/baseline-server.js'])
  const usbip = await startProcess([
    'packages/cli/dist/src/main.js',
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--json',
    '-d',
    'gadget-zero',
    '--log-level',
    'warn',
  ])
  try {
    const device = await importDevice({ host: '127.0.0.1', port: usbip.port, busid: '1-1' })
    await selectSourceSink(device)
    // Warm up both paths so JIT and socket buffers settle before measuring.
    await urbRoundTrips(device, ROUND_TRIPS)
    const tcpRt = await tcpRoundTrips(baseline.port)
    const urbRt = await urbRoundTrips(device, ROUND_TRIPS)
    const tcpIn = await tcpStream(baseline.port, 'in')
    const urbIn = await bulkThroughput(device, 'in', IN_FLIGHT, BULK_BYTES)
    const tcpOut = await tcpStream(baseline.port, 'out')
    const urbOut = await bulkThroughput(device, 'out', IN_FLIGHT, BULK_BYTES)
    await device.close()
    const f = (n: number, d = 1) => n.toFixed(d)
    const rows = [
      [
        '64 B round trips/s',
        f(urbRt.perSecond, 0),
        f(tcpRt.perSecond, 0),
        f(urbRt.perSecond / tcpRt.perSecond, 2),
      ],
      [
        '64 B round trip median (µs)',
        f(urbRt.medianUs),
        f(tcpRt.medianUs),
        f(urbRt.medianUs / tcpRt.medianUs, 2),
      ],
      ['64 B round trip p99 (µs)', f(urbRt.p99Us), f(tcpRt.p99Us), f(urbRt.p99Us / tcpRt.p99Us, 2)],
      [
        `bulk IN MB/s (${IN_FLIGHT}×${URB_SIZE / 1024} KiB in flight)`,
        f(urbIn),
        f(tcpIn),
        f(urbIn / tcpIn, 2),
      ],
      [
        `bulk OUT MB/s (${IN_FLIGHT}×${URB_SIZE / 1024} KiB in flight)`,
        f(urbOut),
        f(tcpOut),
        f(urbOut / tcpOut, 2),
      ],
    ]
    const header = ['measure', 'USB/IP (Gadget Zero)', 'raw TCP', 'ratio']
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
    const line = (cells: string[]) =>
      cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')
    console.log(
      `usbip bench: ${ROUND_TRIPS} round trips, ${BULK_BYTES / 1024 / 1024} MiB per bulk direction, loopback, node ${process.version}`,
    )
    console.log(line(header))
    for (const row of rows) console.log(line(row))
    if (process.env.BENCH_JSON) console.log(JSON.stringify({ urbRt, tcpRt, urbIn, tcpIn, urbOut, tcpOut }))
  } finally {
    usbip.stop()
    baseline.stop()
  }
}

await main()
