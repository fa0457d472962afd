/**
 * pnpm bench:usbip — URB round trips and bulk throughput through the userspace client over
 * loopback TCP against the Gadget Zero model served by `tether serve` in its own process, with
 * raw TCP between the same two processes measured in the same run as the baseline.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { type ImportedDevice, importDevice } from '@tether/usbip'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const ROUND_TRIPS = Number(process.env.BENCH_ROUND_TRIPS ?? 20_000)
const BULK_BYTES = Number(process.env.BENCH_BULK_MB ?? 256) * 1024 * 1024
const URB_SIZE = 64 * 1024
const IN_FLIGHT = 8

async function startProcess(args: string[]): Promise<{ port: number; stop: () => void }> {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = (await once(child.stdout, 'data')) as [Buffer]
  const first = JSON.parse(line.toString().split('\n')[0]!)
  const port = first.listening?.port ?? first.port
  return { port, stop: () => child.kill('SIGTERM') }
}

function summarize(latenciesNs: number[]) {
  const sorted = [...latenciesNs].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! / 1000
  const totalS = latenciesNs.reduce((a, b) => a + b, 0) / 1e9
  return { perSecond: latenciesNs.length / totalS, medianUs: at(0.5), p99Us: at(0.99) }
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

const SOURCE_SINK_CONFIG = 3

async function urbRoundTrips(device: ImportedDevice) {
  const latencies: number[] = []
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const started = process.hrtime.bigint()
    const result = await device.submit({ ep: 1, direction: 'in', length: 64 })
    if (result.status !== 0 || result.actualLength !== 64) throw new Error(`bulk IN failed: ${result.status}`)
    latencies.push(Number(process.hrtime.bigint() - started))
  }
  return summarize(latencies)
}

async function urbStream(device: ImportedDevice, direction: 'in' | 'out'): Promise<number> {
  const data = new Uint8Array(URB_SIZE)
  let issued = 0
  const started = process.hrtime.bigint()
  const worker = async () => {
    while (issued < BULK_BYTES) {
      issued += URB_SIZE
      const result =
        direction === 'in'
          ? await device.submit({ ep: 1, direction: 'in', length: URB_SIZE })
          : await device.submit({ ep: 1, direction: 'out', data })
      if (result.status !== 0 || result.actualLength !== URB_SIZE)
        throw new Error(`bulk ${direction} failed: ${result.status}`)
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
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
    const set = await device.control({
      requestType: 0,
      request: 9,
      value: SOURCE_SINK_CONFIG,
      index: 0,
      length: 0,
    })
    if (set.status !== 0) throw new Error(`SET_CONFIGURATION failed: ${set.status}`)
    // Warm up both paths so JIT and socket buffers settle before measuring.
    await urbRoundTrips(device)
    const tcpRt = await tcpRoundTrips(baseline.port)
    const urbRt = await urbRoundTrips(device)
    const tcpIn = await tcpStream(baseline.port, 'in')
    const urbIn = await urbStream(device, 'in')
    const tcpOut = await tcpStream(baseline.port, 'out')
    const urbOut = await urbStream(device, 'out')
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
