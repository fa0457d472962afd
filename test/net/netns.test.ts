/**
 * The netns rig behaves like the NATs we claim: plain TCP/UDP probes (test/net/probe.ts) run as
 * separate processes inside the namespaces; no tether code. Needs root.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  createTopology,
  exporterBehindNatImporterPublic,
  listRigNamespaces,
  NetnsError,
  type NetProcess,
  netnsSkipReason,
  sweepStaleNamespaces,
  type Topology,
  twoSitesBehindNat,
} from '../lib/netns.js'

const PROBE = fileURLToPath(new URL('./probe.js', import.meta.url))
const skip = netnsSkipReason()
const PORT = 7000
/** How long a probe waits for a connection that should fail by being dropped. */
const DROPPED_MS = 1500

async function listen(topo: Topology, host: string, port = PORT): Promise<NetProcess> {
  const proc = topo.spawnNode(host, PROBE, ['tcp-listen', String(port)])
  await proc.waitForLine(/^listening /, 10_000)
  return proc
}

interface Attempt {
  ok: boolean
  /** "ADDR:PORT" the client's socket had, when it connected. */
  local?: string
  /** The error code, when it failed. */
  failure?: string
  proc: NetProcess
}

async function tryConnect(topo: Topology, from: string, address: string, port = PORT): Promise<Attempt> {
  const proc = topo.spawnNode(from, PROBE, ['tcp-connect', address, String(port), String(DROPPED_MS)])
  const result = await proc.waitForLine(/^(ok|failed (\S+))$/, DROPPED_MS + 15_000)
  await proc.exited
  const connected = /^connected (\S+)$/m.exec(proc.stdout())
  return { ok: result[1] === 'ok', local: connected?.[1], failure: result[2], proc }
}

async function assertConnects(topo: Topology, from: string, address: string, port = PORT): Promise<Attempt> {
  const attempt = await tryConnect(topo, from, address, port)
  assert.ok(attempt.ok, `${from} → ${address}:${port} should connect\n${attempt.proc.describe()}`)
  return attempt
}

async function assertBlocked(
  topo: Topology,
  from: string,
  address: string,
  codes: string[],
  port = PORT,
): Promise<void> {
  const attempt = await tryConnect(topo, from, address, port)
  assert.ok(!attempt.ok, `${from} → ${address}:${port} should fail\n${attempt.proc.describe()}`)
  assert.ok(
    codes.includes(attempt.failure ?? ''),
    `${from} → ${address}:${port} failed with ${attempt.failure}, expected one of ${codes.join(', ')}`,
  )
}

/** The "accepted ADDR:PORT" lines a tcp-listen probe has printed. */
function accepted(listener: NetProcess): string[] {
  return [...listener.stdout().matchAll(/^accepted (\S+)$/gm)].map((m) => m[1]!)
}

describe('netns rig', { skip, timeout: 180_000 }, () => {
  test('a host behind NAT reaches a public host, which sees the router WAN address (same port)', async () => {
    await using topo = await twoSitesBehindNat()
    const { hub, exporter, importer } = topo.hosts
    assert.equal(hub!.address, '198.51.100.10')
    assert.equal(exporter!.address, '10.1.0.2')
    assert.equal(importer!.address, '10.2.0.2')
    assert.equal(topo.routers.natA!.wanAddress, '198.51.100.2')
    assert.equal(topo.routers.natB!.wanAddress, '198.51.100.3')

    const listener = await listen(topo, 'hub')
    for (const [host, router] of [
      ['exporter', 'natA'],
      ['importer', 'natB'],
    ] as const) {
      const attempt = await assertConnects(topo, host, hub!.address)
      const [localAddress, localPort] = attempt.local!.split(':')
      assert.equal(localAddress, topo.hosts[host]!.address, 'the client binds its private address')
      const seen = await listener.waitForLine(
        new RegExp(`^accepted ${topo.routers[router]!.wanAddress}:(\\d+)$`),
        5000,
      )
      // Masquerade keeps the source port when it is free (endpoint-independent mapping).
      assert.equal(seen[1], localPort, `source port kept\n${listener.describe()}`)
    }
    assert.equal(accepted(listener).length, 2)
  })

  test('a public host cannot open a connection to a host behind NAT', async () => {
    const topo = await twoSitesBehindNat()
    try {
      const listener = await listen(topo, 'exporter')
      // Control: the listener is up and accepts (from inside its own namespace).
      await assertConnects(topo, 'exporter', '127.0.0.1')
      // Unsolicited SYNs to the router's WAN address are dropped silently, the private address has no route.
      await assertBlocked(topo, 'hub', topo.routers.natA!.wanAddress, ['ETIMEDOUT'])
      await assertBlocked(topo, 'hub', topo.hosts.exporter!.address, ['ENETUNREACH', 'EHOSTUNREACH'])
      assert.deepEqual(
        accepted(listener).map((a) => a.split(':')[0]),
        ['127.0.0.1'],
        'only the control connection arrived',
      )
    } finally {
      await topo.destroy()
    }
  })

  test('hosts behind different NATs reach neither private addresses nor unmapped WAN ports', async () => {
    await using topo = await twoSitesBehindNat()
    const listener = await listen(topo, 'exporter')
    await assertBlocked(topo, 'importer', topo.hosts.exporter!.address, [
      'ENETUNREACH',
      'EHOSTUNREACH',
      'ETIMEDOUT',
    ])
    await assertBlocked(topo, 'importer', topo.routers.natA!.wanAddress, ['ETIMEDOUT'])
    // No hairpinning either: the exporter's own router WAN address does not lead back to it.
    await assertBlocked(topo, 'exporter', topo.routers.natA!.wanAddress, ['ECONNREFUSED', 'ETIMEDOUT'])
    assert.deepEqual(accepted(listener), [])
    assert.equal(topo.addressOf('exporter', 'importer'), topo.routers.natA!.wanAddress)
    assert.equal(topo.addressOf('hub', 'importer'), topo.hosts.hub!.address)
  })

  test('UDP: unsolicited datagrams are filtered, simultaneous open between two NATs works', async () => {
    await using topo = await twoSitesBehindNat()
    const { natA, natB } = topo.routers
    const quiet = topo.spawnNode('exporter', PROBE, ['udp-listen', '5000', '1500'])
    await quiet.waitForLine(/^listening /, 10_000)
    const sender = topo.spawnNode('hub', PROBE, ['udp-send', natA!.wanAddress, '5000', '5'])
    await sender.waitForLine(/^sent 5$/, 10_000)
    // Control: the listener does receive what reaches it.
    await topo.run('exporter', process.execPath, [PROBE, 'udp-send', '127.0.0.1', '5000', '1'])
    await quiet.exited
    assert.deepEqual(
      [...quiet.stdout().matchAll(/^received (\S+)/gm)].map((m) => m[1]!.split(':')[0]),
      ['127.0.0.1'],
      quiet.describe(),
    )

    const a = topo.spawnNode('exporter', PROBE, ['udp-punch', '5000', natB!.wanAddress, '6000', '3000'])
    const b = topo.spawnNode('importer', PROBE, ['udp-punch', '6000', natA!.wanAddress, '5000', '3000'])
    await a.waitForLine(new RegExp(`^received ${natB!.wanAddress}:6000 punch from 6000$`), 10_000)
    await b.waitForLine(new RegExp(`^received ${natA!.wanAddress}:5000 punch from 5000$`), 10_000)
  })

  test('partition blocks (silently, precisely) and heal restores, also established connections', async () => {
    await using topo = await twoSitesBehindNat()
    const hub = topo.hosts.hub!.address
    await listen(topo, 'hub')
    const chat = topo.spawnNode('exporter', PROBE, ['tcp-chat', hub, String(PORT), '5000'])
    await chat.waitForLine(/^connected /, 10_000)
    chat.child.stdin!.write('one\n')
    await chat.waitForLine(/^echo one$/, 5000)

    await topo.partition('exporter', 'hub')
    await assertBlocked(topo, 'exporter', hub, ['ETIMEDOUT'])
    await assertConnects(topo, 'importer', hub) // only that pair is cut
    const before = chat.lineCount()
    chat.child.stdin!.write('two\n')
    await assert.rejects(chat.waitForLine(/^echo two$/, 2000, { since: before }), { code: 'ERR_TIMEOUT' })

    await topo.heal('exporter', 'hub')
    // TCP retransmits the stalled line once the path is back.
    await chat.waitForLine(/^echo two$/, 30_000, { since: before })
    await assertConnects(topo, 'exporter', hub)
    await topo.heal('exporter', 'hub') // idempotent
  })

  test('partition between public hosts, and isolating one host', async () => {
    await using topo = await exporterBehindNatImporterPublic()
    const { hub, importer } = topo.hosts
    assert.equal(importer!.address, '198.51.100.11')
    await listen(topo, 'hub')
    await listen(topo, 'importer')

    await topo.partition('importer', 'hub')
    await assertBlocked(topo, 'importer', hub!.address, ['ETIMEDOUT'])
    await assertBlocked(topo, 'hub', importer!.address, ['ETIMEDOUT'])
    await assertConnects(topo, 'exporter', hub!.address)
    await assertConnects(topo, 'exporter', importer!.address) // NAT'd dialing out to a public peer
    await topo.heal('importer', 'hub')
    await assertConnects(topo, 'importer', hub!.address)

    await topo.partition('hub')
    await assertBlocked(topo, 'importer', hub!.address, ['ETIMEDOUT'])
    await assertBlocked(topo, 'exporter', hub!.address, ['ETIMEDOUT'])
    await assertConnects(topo, 'hub', '127.0.0.1') // loopback still works
    await topo.heal('hub')
    await assertConnects(topo, 'exporter', hub!.address)

    await topo.partition('exporter')
    await assertBlocked(topo, 'exporter', hub!.address, ['ETIMEDOUT'])
    await topo.heal('exporter')
    await assertConnects(topo, 'exporter', hub!.address)
  })

  test('a port forward makes a host behind NAT reachable (and keeps the caller address)', async () => {
    await using topo = await createTopology({
      routers: { natA: { forwards: [{ protocol: 'tcp', port: 7100, to: 'exporter', toPort: PORT }] } },
      hosts: { hub: {}, exporter: { behind: 'natA' } },
    })
    const listener = await listen(topo, 'exporter')
    await assertConnects(topo, 'hub', topo.routers.natA!.wanAddress, 7100)
    await listener.waitForLine(new RegExp(`^accepted ${topo.hosts.hub!.address}:\\d+$`), 5000)
    await assertBlocked(topo, 'hub', topo.routers.natA!.wanAddress, ['ETIMEDOUT'], PORT)
  })

  test('bad specs are refused before anything is created', async () => {
    const before = listRigNamespaces()
    await assert.rejects(createTopology({ hosts: { a: { behind: 'nope' } } }), { code: 'ERR_BAD_SPEC' })
    await assert.rejects(createTopology({ hosts: { 'bad name': {} } }), { code: 'ERR_BAD_SPEC' })
    assert.deepEqual(listRigNamespaces(), before)
  })

  test('destroy kills every process and removes every namespace (idempotent)', async () => {
    const topo = await twoSitesBehindNat()
    for (const ns of topo.namespaces) assert.ok(listRigNamespaces().includes(ns), ns)
    const node = await listen(topo, 'hub')
    // A grandchild the rig did not spawn itself.
    const shell = topo.exec('exporter', 'sh', ['-c', 'sleep 300 & echo $!; wait'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    const sleepPid = await new Promise<number>((resolve) =>
      shell.stdout!.once('data', (b: Buffer) => resolve(Number(b.toString()))),
    )
    assert.ok(alive(sleepPid) && alive(node.pid!))

    await topo.destroy()
    const ipList = await runRoot('ip', ['netns', 'list'])
    for (const ns of topo.namespaces) {
      assert.ok(!ipList.includes(ns), `${ns} still listed:\n${ipList}`)
      assert.ok(!listRigNamespaces().includes(ns))
    }
    assert.ok(!alive(sleepPid), 'grandchild killed')
    assert.ok(!alive(node.pid!), 'node child killed')
    assert.notEqual(node.exitStatus(), undefined)
    await topo.destroy()
    assert.throws(
      () => topo.exec('hub', 'true'),
      (e: unknown) => e instanceof NetnsError && e.code === 'ERR_DESTROYED',
    )
  })

  test('the root namespace is untouched and nothing can leave the rig', async () => {
    const snapshot = async () => ({
      links: (await runRoot('ip', ['-o', 'link', 'show'])).split('\n').map((l) => l.split(':')[1]?.trim()),
      routes: await runRoot('ip', ['route', 'show']),
      rules: await runRoot('iptables-save', []).then((s) => s.replace(/^#.*$/gm, '')),
      forward: readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'),
    })
    const before = await snapshot()
    const topo = await twoSitesBehindNat()
    try {
      const listener = await listen(topo, 'hub')
      const rootListeners = await runRoot('ss', ['-ltnpH'])
      assert.ok(!rootListeners.includes(`pid=${listener.pid},`), 'the listener is not in the root namespace')
      const inHub = await topo.run('hub', 'ss', ['-ltnpH'])
      assert.match(inHub.stdout, new RegExp(`pid=${listener.pid},`), 'control: ss sees it inside')
      assert.deepEqual(await snapshot(), before, 'root namespace changed while the topology is up')

      // No route out: a public host or router cannot even address 192.0.2.1 (TEST-NET-1); a NAT'd
      // host's only route leads to its router. Checked with `ip route get`: no packet is sent.
      for (const name of [...Object.keys(topo.hosts), ...Object.keys(topo.routers)]) {
        const route = await topo.run(name, 'ip', ['route', 'get', '192.0.2.1'])
        const host = topo.hosts[name]
        if (host?.router) {
          assert.match(route.stdout, new RegExp(`via ${topo.routers[host.router]!.lanAddress} dev eth0`))
        } else {
          assert.notEqual(route.code, 0, `${name} has a route out: ${route.stdout}`)
          assert.match(route.stderr, /unreachable/i)
        }
      }
      // And the bridge namespace has no addresses at all.
      const pub = await runRoot('ip', ['-n', topo.publicNs, '-4', '-o', 'addr', 'show'])
      assert.deepEqual(
        pub.split('\n').filter((l) => l.trim() !== '' && !/ lo /.test(l)),
        [],
      )
    } finally {
      await topo.destroy()
    }
    assert.deepEqual(await snapshot(), before, 'root namespace changed by the topology')
  })

  test('namespaces of a dead run are swept (with their processes), live ones are kept', async () => {
    const dead = spawn(process.execPath, ['-e', ''])
    const deadPid = await new Promise<number>((resolve) => dead.once('exit', () => resolve(dead.pid!)))
    const stale = `tether-net-${deadPid}.1-0-stale`
    const ownStart = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')[19]
    const kept = `tether-net-${process.pid}.${ownStart}-0-kept`
    await runRoot('ip', ['netns', 'add', stale])
    await runRoot('ip', ['netns', 'add', kept])
    try {
      const sleeper = spawn('ip', ['netns', 'exec', stale, 'sleep', '300'], { stdio: 'ignore' })
      const sleeperExit = new Promise((resolve) => sleeper.once('exit', resolve))
      await waitUntil(async () => (await runRoot('ip', ['netns', 'pids', stale])).trim() !== '', 5000)
      const removed = await sweepStaleNamespaces()
      assert.ok(removed.includes(stale), `swept: ${removed.join(', ')}`)
      assert.ok(!removed.includes(kept))
      assert.ok(!listRigNamespaces().includes(stale))
      assert.ok(listRigNamespaces().includes(kept))
      await sleeperExit
    } finally {
      await runRoot('ip', ['netns', 'delete', kept]).catch(() => {})
      await runRoot('ip', ['netns', 'delete', stale]).catch(() => {})
    }
  })
})

/** Running (a zombie awaiting its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

/** Runs a read-only command (or one on our own namespaces) in the root namespace; rejects on failure. */
function runRoot(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 })
    let out = ''
    let err = ''
    child.stdout.on('data', (b: Buffer) => {
      out += b
    })
    child.stderr.on('data', (b: Buffer) => {
      err += b
    })
    child.once('error', reject)
    child.once('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${file} ${args.join(' ')}: ${code} ${err}`)),
    )
  })
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
