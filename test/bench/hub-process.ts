/**
 * The hub of `pnpm bench:hub`, in its own process so that its memory and CPU are its own:
 *
 *   node --expose-gc hub-process.js ISSUER_URL DIR
 *
 * startHub() with [auth] (the bench's hub.toml), SQLite in DIR (the hub's defaults: WAL,
 * synchronous=FULL). Prints one JSON line with its address, then answers JSON-line commands:
 *
 *   {"cmd":"memory"}                           process.memoryUsage() after a full GC
 *   {"cmd":"register","exporters":N,"places":P} N simulated exporters of P places each
 *   {"cmd":"counters"}                         time in the engine, in SQLite commits, in directory
 *                                              queries, and the event loop's utilization since
 *                                              the last call
 *   {"cmd":"profile-start"}, {"cmd":"profile-stop","path":F}  a CPU profile (.cpuprofile) of a phase
 *
 * The simulated exporters are registered in-process, the way the directory service does it for
 * a Register request (enrollment check, then registry.register), each under a real Ed25519 peer
 * id enrolled with a join token of its own (Enrollment.issue + enroll, as `tether admin
 * join-token` and an exporter's first registration do). They then refresh in-process on the
 * exporters' schedule (every DEFAULT_REFRESH_MS, spread evenly). What this leaves out is the
 * exporters' libp2p connections and the network half of their refreshes.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { generateSigningKey, parseHubToml } from '@tether/auth'
import { DEFAULT_REFRESH_MS, type DirectoryRegistry, type ExporterRegistration } from '@tether/directory'
import { type ReservationEngine, type ReservationService, startHub } from '@tether/hub'
import { benchHubToml, exporterName, placeName, serveCommands } from './hub-issuer.js'

const gc = (globalThis as { gc?: () => void }).gc

async function main(): Promise<void> {
  const [issuer, dir] = process.argv.slice(2)
  if (!issuer || !dir) throw new Error('usage: hub-process.js ISSUER_URL DIR')
  await mkdir(dir, { recursive: true })
  const database = join(dir, 'hub.db')
  const hub = await startHub({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    auth: {
      policy: parseHubToml(benchHubToml(issuer), 'hub.toml'),
      database,
      signingKeys: [await generateSigningKey()],
    },
  })
  const authority = hub.authority!
  const counters = instrument(authority.reservations, hub.registry)
  const peers: string[] = []
  let refresher: NodeJS.Timeout | undefined
  let profiler: Session | undefined

  const register = async (exporters: number, places: number) => {
    const started = performance.now()
    const keys = await Promise.all(Array.from({ length: exporters }, () => generateKeyPair('Ed25519')))
    const keyed = performance.now()
    for (let i = 0; i < exporters; i++) {
      // An Ed25519 public key's string form is its peer id.
      const peer = keys[i]!.publicKey.toString()
      const { token } = authority.enrollment.issue(exporterName(i), 60_000, 'bench-admin')
      authority.enrollment.enroll(token, peer)
      peers.push(peer)
    }
    const enrolled = performance.now()
    for (let i = 0; i < exporters; i++) {
      const registration: ExporterRegistration = {
        name: exporterName(i),
        addresses: [`/ip4/127.0.0.1/tcp/${10_000 + i}`],
        places: Array.from({ length: places }, (_, j) => ({
          name: placeName(i, j),
          tags: ['bench', `rack-${i % 50}`],
          parts: [
            {
              name: 'board',
              compatible: ['bench,board'],
              interfaces: [{ kind: 'usb' as const, name: 'usb', busid: `1-${j + 1}` }],
            },
          ],
        })),
      }
      authority.admit(peers[i]!, registration)
      hub.registry.register(peers[i]!, registration, `/ip4/127.0.0.1/tcp/${20_000 + i}`)
    }
    // The authority follows the registry through ReservationService.run(): let those settle.
    await authority.reservations.run(() => undefined)
    const registered = performance.now()
    const known = authority.reservations.engine.search({}, Date.now(), 1_000_000).length
    // Refresh on the exporters' schedule: each one every DEFAULT_REFRESH_MS, spread evenly.
    const slices = 10
    let next = 0
    refresher = setInterval(
      () => {
        for (let k = 0; k < Math.ceil(peers.length / slices); k++) {
          try {
            hub.registry.refresh(peers[next]!)
          } catch {
            // Expired (the hub was too busy to refresh in time): the count below will tell.
          }
          next = (next + 1) % peers.length
        }
      },
      Math.round(DEFAULT_REFRESH_MS / slices),
    )
    return {
      entries: hub.registry.size,
      places: known,
      keysMs: keyed - started,
      enrollMs: enrolled - keyed,
      registerMs: registered - enrolled,
    }
  }

  serveCommands(
    async (command) => {
      switch (command.cmd) {
        case 'memory': {
          gc?.()
          return {
            ...process.memoryUsage(),
            connections: hub.node.getConnections().length,
            gc: gc !== undefined,
          }
        }
        case 'counters':
          return counters.take()
        case 'profile-start':
          profiler ??= new Session()
          profiler.connect()
          await profiler.post('Profiler.enable')
          await profiler.post('Profiler.setSamplingInterval', { interval: 200 })
          await profiler.post('Profiler.start')
          return {}
        case 'profile-stop': {
          if (!profiler) throw new Error('no profile running')
          const { profile } = await profiler.post('Profiler.stop')
          profiler.disconnect()
          await writeFile(String(command.path), JSON.stringify(profile))
          return { path: command.path }
        }
        case 'register':
          return register(Number(command.exporters), Number(command.places))
        default:
          throw new Error(`unknown command ${String(command.cmd)}`)
      }
    },
    async () => {
      if (refresher) clearInterval(refresher)
      await hub.stop()
    },
  )
  process.stdout.write(`${JSON.stringify({ address: hub.addresses()[0]!.toString(), database })}\n`)
}

/**
 * Time spent in the reservation engine's operations, in the store's commits (one SQLite
 * transaction per batch of concurrent operations) and in directory look-ups (the control service
 * finds places and exporters by name), by wrapping this process's instances: where the hub's time
 * goes.
 */
function instrument(
  service: ReservationService,
  registry: DirectoryRegistry,
): { take(): Record<string, number> } {
  let queryMs = 0
  let queries = 0
  const timed =
    <A extends unknown[], R>(f: (...args: A) => R) =>
    (...args: A): R => {
      const t = performance.now()
      try {
        return f(...args)
      } finally {
        queryMs += performance.now() - t
        queries++
      }
    }
  registry.query = timed(registry.query.bind(registry))
  registry.lookupPlace = timed(registry.lookupPlace.bind(registry))
  registry.lookupName = timed(registry.lookupName.bind(registry))
  let engineMs = 0
  let commitMs = 0
  let commits = 0
  let runs = 0
  let elu = performance.eventLoopUtilization()
  const store = service.store
  const commit = store.commit.bind(store)
  store.commit = (events) => {
    const t = performance.now()
    try {
      return commit(events)
    } finally {
      commitMs += performance.now() - t
      commits++
    }
  }
  const run = service.run.bind(service)
  service.run = <T>(op: (engine: ReservationEngine) => T) => {
    runs++
    return run((engine) => {
      const t = performance.now()
      try {
        return op(engine)
      } finally {
        engineMs += performance.now() - t
      }
    })
  }
  return {
    take() {
      const loop = performance.eventLoopUtilization(elu)
      elu = performance.eventLoopUtilization()
      const taken = {
        engineMs,
        commitMs,
        commits,
        runs,
        queryMs,
        queries,
        eventLoopUtilization: loop.utilization,
      }
      engineMs = commitMs = commits = runs = queryMs = queries = 0
      return taken
    },
  }
}

await main()
