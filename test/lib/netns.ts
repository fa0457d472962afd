/**
 * Network-namespace topologies for end-to-end tests: NAT routers, a public segment and partitions,
 * all on this one machine, with the processes under test running inside the namespaces.
 *
 * Everything lives in namespaces this module creates (named `tether-net-<pid>.<starttime>-...`);
 * the root namespace's interfaces, routes and firewall are never touched, and no namespace has a
 * link to the root namespace, so no packet can leave the rig. Namespaces left behind by a run that
 * crashed (its owning process is gone) are swept away before the first topology of a process.
 *
 * Layout (see test/net/README.md):
 *   - `public`: a bridge in a namespace of its own, 198.51.100.0/24 (documentation range). Routers
 *     get .2, .3, ... on it (their WAN), public hosts .10, .11, ...
 *   - router k (1-based, in spec order): LAN bridge 10.k.0.1/24, hosts behind it 10.k.0.2, ...,
 *     MASQUERADE on the WAN, inbound from the WAN dropped unless established/related (or
 *     port-forwarded); no hairpinning. Hosts behind it route everything via 10.k.0.1.
 *   - Public hosts have no default route (only the segment); routers none either.
 *   - IPv6 is disabled on every link we create (loopback keeps ::1).
 *
 * Requires root, iproute2 (`ip`), iptables (with `iptables-restore`) and `sysctl`.
 *
 * This module must import nothing but Node built-ins.
 */
import { type ChildProcess, type SpawnOptions, spawn, spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { readdir } from 'node:fs/promises'

/** Every namespace this module creates starts with this. */
/**
 * `skip` for node:test when namespaces cannot be made (not root). In CI (CI set) it is never a
 * skip: the suite must run there, so not being root is an error that names the fix.
 */
export function netnsSkipReason(env: NodeJS.ProcessEnv = process.env): string | false {
  if (process.getuid?.() === 0) return false
  if (env.CI) throw new Error('network-namespace tests need root and CI must run them: run CI as root')
  return 'needs root (network namespaces)'
}

export const NS_PREFIX = 'tether-net-'
export const PUBLIC_SUBNET = '198.51.100.0/24'
const PUBLIC_NET = '198.51.100.'
/** Router WAN addresses are PUBLIC_NET + (ROUTER_WAN_BASE + index). */
const ROUTER_WAN_BASE = 2
/** Public host addresses are PUBLIC_NET + (PUBLIC_HOST_BASE + index). */
const PUBLIC_HOST_BASE = 10
const MAX_ROUTERS = PUBLIC_HOST_BASE - ROUTER_WAN_BASE
const MAX_PUBLIC_HOSTS = 200
const MAX_HOSTS_PER_ROUTER = 200
/** Bound on every setup/teardown command (ip, iptables, sysctl). */
const COMMAND_TIMEOUT_MS = 10_000
/** Default bound for `run()`. */
const RUN_TIMEOUT_MS = 30_000
/** SIGTERM → SIGKILL grace when destroying a topology or killing a process. */
const KILL_GRACE_MS = 2_000
/** After 'exit', how long to wait for the stdio pipes to close before giving up on them. */
const PIPE_CLOSE_GRACE_MS = 500
/** Per stream, how much output a NetProcess keeps (oldest lines are dropped beyond it). */
const OUTPUT_LIMIT_CHARS = 8 << 20
/** The iptables chain partition rules go in (raw PREROUTING everywhere, filter FORWARD on routers). */
const PARTITION_CHAIN = 'TETHER-PART'
const NAME_RE = /^[A-Za-z][A-Za-z0-9-]{0,23}$/

export type NetnsErrorCode =
  | 'ERR_NOT_ROOT'
  | 'ERR_MISSING_TOOL'
  | 'ERR_BAD_SPEC'
  | 'ERR_COMMAND_FAILED'
  | 'ERR_TIMEOUT'
  | 'ERR_PROCESS_EXITED'
  | 'ERR_ABORTED'
  | 'ERR_DESTROYED'
  | 'ERR_UNKNOWN_HOST'

/** Every failure of the rig, with a stable code. */
export class NetnsError extends Error {
  constructor(
    readonly code: NetnsErrorCode,
    message: string,
  ) {
    super(message)
    this.name = 'NetnsError'
  }
}

// ---------------------------------------------------------------------------------------------
// Spec and topology types

export interface HostSpec {
  /** The router this host sits behind; absent: the host is on the public segment. */
  behind?: string
}

export interface PortForward {
  protocol: 'tcp' | 'udp'
  /** Port on the router's WAN address. */
  port: number
  /** Host behind this router that receives it. */
  to: string
  /** Port on that host (default: `port`). */
  toPort?: number
}

export interface RouterSpec {
  /** Port forwards (DNAT) from the WAN address to hosts behind the router. */
  forwards?: PortForward[]
}

export interface TopologySpec {
  /** Routers, in order: the k-th (1-based) gets WAN 198.51.100.(1+k) and LAN 10.k.0.0/24. */
  routers?: Record<string, RouterSpec>
  /** Hosts, in order: public ones get 198.51.100.10, .11, ...; NAT'd ones 10.k.0.2, .3, ... */
  hosts: Record<string, HostSpec>
  signal?: AbortSignal
}

export interface Host {
  readonly name: string
  readonly ns: string
  /** The host's own address (198.51.100.x on the public segment, 10.k.0.x behind a router). */
  readonly address: string
  /** The router it sits behind, if any. */
  readonly router?: string
  /** The address other sites see its connections come from: its own, or its router's WAN. */
  readonly publicAddress: string
}

export interface Router {
  readonly name: string
  readonly ns: string
  readonly wanAddress: string
  readonly lanAddress: string
  readonly lanSubnet: string
}

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface RunOptions {
  /** Kill (SIGKILL) and reject with ERR_TIMEOUT after this long (default 30 s). */
  timeoutMs?: number
  /** Written to stdin, which is then closed. */
  input?: string
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
}

export interface ExitStatus {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface WaitForLineOptions {
  /** Only lines with a number >= since count (line numbers start at 0; see lineCount()). */
  since?: number
  /** Which stream to watch (default stdout). */
  stream?: 'stdout' | 'stderr'
  signal?: AbortSignal
}

/** A regex match on one output line, with that line's number on its stream. */
export type LineMatch = RegExpExecArray & { lineNumber: number }

/** A process spawned inside a namespace, its output collected line by line. */
export interface NetProcess {
  readonly child: ChildProcess
  /** The host (or router) it runs on. */
  readonly host: string
  readonly pid: number | undefined
  /** Resolves (never rejects) once the process has exited and its output is read. */
  readonly exited: Promise<ExitStatus>
  /** The exit status, or undefined while it runs. */
  exitStatus(): ExitStatus | undefined
  stdout(): string
  stderr(): string
  /** Complete lines seen so far on a stream (the next line will get this number). */
  lineCount(stream?: 'stdout' | 'stderr'): number
  /**
   * Resolves with the first line (already seen or still to come) matching `pattern`; rejects
   * with ERR_TIMEOUT after timeoutMs, ERR_PROCESS_EXITED if the process ends first, ERR_ABORTED.
   * The error message carries describe().
   */
  waitForLine(pattern: RegExp, timeoutMs: number, opts?: WaitForLineOptions): Promise<LineMatch>
  /** Sends `signal` (default SIGTERM), SIGKILL after graceMs; resolves with the exit status. */
  kill(signal?: NodeJS.Signals, graceMs?: number): Promise<ExitStatus>
  /** Host, command, exit status and the tail of stdout and stderr, for failure messages. */
  describe(): string
}

export interface Topology extends AsyncDisposable {
  /** Unique per topology; part of every namespace name. */
  readonly id: string
  readonly hosts: Readonly<Record<string, Host>>
  readonly routers: Readonly<Record<string, Router>>
  /** The namespace holding the public bridge. */
  readonly publicNs: string
  /** Every namespace of this topology. */
  readonly namespaces: readonly string[]
  /** The address `from` must dial to reach `target` (its own if on the same segment, else its publicAddress). */
  addressOf(target: string, from: string): string
  /** Spawns `cmd args` inside the namespace of a host or router (via `ip netns exec`). */
  exec(host: string, cmd: string, args?: readonly string[], opts?: SpawnOptions): ChildProcess
  /** Runs a command to completion inside a host's or router's namespace (non-zero exit does not reject). */
  run(host: string, cmd: string, args?: readonly string[], opts?: RunOptions): Promise<RunResult>
  /** Runs a Node script (with this process's Node binary) inside a host's namespace. */
  spawnNode(
    host: string,
    scriptPath: string,
    args?: readonly string[],
    env?: NodeJS.ProcessEnv,
    opts?: { cwd?: string },
  ): NetProcess
  /**
   * Silently drops every packet between a and b (both directions), like a cut cable: connections
   * time out, established ones stall and resume after heal(). With b omitted, a is cut off from
   * everything but its own loopback. Idempotent.
   */
  partition(a: string, b?: string): Promise<void>
  /** Undoes partition(a, b) (or partition(a)). Idempotent. */
  heal(a: string, b?: string): Promise<void>
  /** Kills every process in the topology's namespaces and deletes them. Idempotent. */
  destroy(): Promise<void>
}

// ---------------------------------------------------------------------------------------------
// Commands

interface CommandOptions {
  timeoutMs?: number
  input?: string
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
}

/** Runs a command with a bound; rejects on spawn failure, timeout or abort, not on a non-zero exit. */
function runCommand(file: string, args: readonly string[], opts: CommandOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? COMMAND_TIMEOUT_MS
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new NetnsError('ERR_ABORTED', `${file}: aborted before start`))
      return
    }
    const child = spawn(file, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    })
    let stdout = ''
    let stderr = ''
    let settled = false
    const finish = (err: Error | undefined, result?: RunResult) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
      if (err) reject(err)
      else resolve(result!)
    }
    const commandLine = [file, ...args].join(' ')
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      finish(
        new NetnsError('ERR_TIMEOUT', `${commandLine}: no exit within ${timeoutMs} ms\n${stdout}${stderr}`),
      )
    }, timeoutMs)
    const onAbort = () => {
      child.kill('SIGKILL')
      finish(new NetnsError('ERR_ABORTED', `${commandLine}: aborted`))
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      stdout += s
    })
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr += s
    })
    child.on('error', (err: NodeJS.ErrnoException) => {
      finish(
        err.code === 'ENOENT'
          ? new NetnsError('ERR_MISSING_TOOL', `${file} not found: ${missingToolHint(file)}`)
          : err,
      )
    })
    child.on('close', (code, signal) => finish(undefined, { code, signal, stdout, stderr }))
    if (opts.input !== undefined) child.stdin?.end(opts.input)
  })
}

function missingToolHint(file: string): string {
  if (file === 'ip') return 'install iproute2 (scripts/vm/install-deps does)'
  if (file.startsWith('iptables')) return 'install iptables (scripts/vm/install-deps does)'
  if (file === 'sysctl') return 'install procps'
  return 'install it'
}

/** Runs a setup command; rejects with ERR_COMMAND_FAILED (naming the command and its stderr) on a non-zero exit. */
async function must(file: string, args: readonly string[], opts: CommandOptions = {}): Promise<string> {
  const result = await runCommand(file, args, opts)
  if (result.code !== 0) {
    throw new NetnsError(
      'ERR_COMMAND_FAILED',
      `${[file, ...args].join(' ')} failed (${result.signal ?? result.code}): ${result.stderr.trim() || result.stdout.trim()}`,
    )
  }
  return result.stdout
}

// ---------------------------------------------------------------------------------------------
// Prerequisites, ownership and the stale sweep

let prerequisites: Promise<void> | undefined

function checkPrerequisites(): Promise<void> {
  prerequisites ??= (async () => {
    if (process.platform !== 'linux') {
      throw new NetnsError('ERR_NOT_ROOT', 'network namespaces need Linux')
    }
    if (process.getuid?.() !== 0) {
      throw new NetnsError(
        'ERR_NOT_ROOT',
        'network namespaces need root: run the test as root (e.g. sudo -E node --test ...)',
      )
    }
    await must('ip', ['-V'])
    await must('iptables', ['-V'])
    await must('iptables-restore', ['-V'])
    await must('sysctl', ['--version'])
  })()
  prerequisites.catch(() => {
    prerequisites = undefined
  })
  return prerequisites
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot): pid plus this names a process uniquely. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

const ownerTag = `${process.pid}.${processStartTime(process.pid) ?? '0'}`
const OWNER_RE = /^tether-net-(\d+)\.(\d+)-/
let topologyCounter = 0

/** Whether the process that created namespace `name` is still running. */
function ownerAlive(name: string): boolean {
  const match = OWNER_RE.exec(name)
  if (!match) return false
  return processStartTime(Number(match[1])) === match[2]
}

async function listNamespaces(): Promise<string[]> {
  try {
    return await readdir('/run/netns')
  } catch {
    return []
  }
}

function pidsIn(ns: string): number[] {
  const result = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS })
  return (result.stdout ?? '')
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 0 && pid !== process.pid)
}

/** SIGKILLs every process inside `ns` and waits (bounded) until they are gone. */
async function killAllIn(ns: string): Promise<void> {
  const deadline = Date.now() + KILL_GRACE_MS * 2
  for (;;) {
    const pids = pidsIn(ns)
    if (pids.length === 0) return
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    if (Date.now() > deadline) {
      throw new NetnsError('ERR_TIMEOUT', `processes ${pids.join(', ')} in ${ns} survive SIGKILL`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function deleteNamespace(ns: string): Promise<void> {
  const result = await runCommand('ip', ['netns', 'delete', ns])
  if (result.code !== 0 && !/No such file/.test(result.stderr)) {
    throw new NetnsError('ERR_COMMAND_FAILED', `ip netns delete ${ns}: ${result.stderr.trim()}`)
  }
}

/**
 * Deletes namespaces named with NS_PREFIX whose owning process is gone (a run that crashed or
 * was killed), after killing whatever still runs in them. Returns the names removed.
 */
export async function sweepStaleNamespaces(): Promise<string[]> {
  const removed: string[] = []
  for (const name of await listNamespaces()) {
    if (!name.startsWith(NS_PREFIX) || ownerAlive(name)) continue
    try {
      await killAllIn(name)
      await deleteNamespace(name)
      removed.push(name)
    } catch {
      // Another run sweeping at the same time, or a process that will not die: next sweep.
    }
  }
  return removed
}

let swept: Promise<unknown> | undefined

// Topologies not yet destroyed, torn down synchronously if the process exits without destroy().
const live = new Set<{ namespaces: readonly string[]; children: Set<ChildProcess> }>()
let exitHookInstalled = false

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const topo of live) {
      for (const child of topo.children) child.kill('SIGKILL')
      for (const ns of topo.namespaces) {
        for (const pid of pidsIn(ns)) {
          try {
            process.kill(pid, 'SIGKILL')
          } catch {
            // gone
          }
        }
        spawnSync('ip', ['netns', 'delete', ns], { timeout: COMMAND_TIMEOUT_MS, stdio: 'ignore' })
      }
    }
  })
}

// ---------------------------------------------------------------------------------------------
// Building

interface Plan {
  hosts: Record<string, Host>
  routers: Record<string, Router & { index: number; forwards: PortForward[]; hostNames: string[] }>
  publicHosts: string[]
}

function plan(spec: TopologySpec, nsName: (label: string) => string): Plan {
  const routers: Plan['routers'] = {}
  const hosts: Record<string, Host> = {}
  const publicHosts: string[] = []
  const routerNames = Object.keys(spec.routers ?? {})
  if (routerNames.length > MAX_ROUTERS) {
    throw new NetnsError('ERR_BAD_SPEC', `at most ${MAX_ROUTERS} routers (got ${routerNames.length})`)
  }
  routerNames.forEach((name, i) => {
    if (!NAME_RE.test(name)) {
      throw new NetnsError('ERR_BAD_SPEC', `router name ${JSON.stringify(name)} must match ${NAME_RE}`)
    }
    const k = i + 1
    routers[name] = {
      name,
      ns: nsName(name),
      index: k,
      wanAddress: `${PUBLIC_NET}${ROUTER_WAN_BASE + i}`,
      lanAddress: `10.${k}.0.1`,
      lanSubnet: `10.${k}.0.0/24`,
      forwards: spec.routers?.[name]?.forwards ?? [],
      hostNames: [],
    }
  })
  for (const [name, hostSpec] of Object.entries(spec.hosts)) {
    if (!NAME_RE.test(name)) {
      throw new NetnsError('ERR_BAD_SPEC', `host name ${JSON.stringify(name)} must match ${NAME_RE}`)
    }
    if (routers[name]) throw new NetnsError('ERR_BAD_SPEC', `${name} is both a host and a router`)
    if (hostSpec.behind === undefined) {
      if (publicHosts.length >= MAX_PUBLIC_HOSTS)
        throw new NetnsError('ERR_BAD_SPEC', 'too many public hosts')
      const address = `${PUBLIC_NET}${PUBLIC_HOST_BASE + publicHosts.length}`
      publicHosts.push(name)
      hosts[name] = { name, ns: nsName(name), address, publicAddress: address }
    } else {
      const router = routers[hostSpec.behind]
      if (!router) {
        throw new NetnsError(
          'ERR_BAD_SPEC',
          `host ${name} is behind ${hostSpec.behind}, which is not a router`,
        )
      }
      if (router.hostNames.length >= MAX_HOSTS_PER_ROUTER) {
        throw new NetnsError('ERR_BAD_SPEC', `too many hosts behind ${router.name}`)
      }
      const address = `10.${router.index}.0.${2 + router.hostNames.length}`
      router.hostNames.push(name)
      hosts[name] = { name, ns: nsName(name), address, router: router.name, publicAddress: router.wanAddress }
    }
  }
  if (Object.keys(hosts).length === 0)
    throw new NetnsError('ERR_BAD_SPEC', 'a topology needs at least one host')
  for (const router of Object.values(routers)) {
    for (const fwd of router.forwards) {
      if (hosts[fwd.to]?.router !== router.name) {
        throw new NetnsError('ERR_BAD_SPEC', `${router.name} forwards to ${fwd.to}, which is not behind it`)
      }
      for (const port of [fwd.port, fwd.toPort ?? fwd.port]) {
        if (!Number.isInteger(port) || port < 1 || port > 65535) {
          throw new NetnsError('ERR_BAD_SPEC', `${router.name}: bad forwarded port ${port}`)
        }
      }
    }
  }
  return { hosts, routers, publicHosts }
}

function routerRules(router: Plan['routers'][string], hosts: Record<string, Host>): string {
  const dnat = router.forwards.map(
    (f) =>
      `-A PREROUTING -i wan -p ${f.protocol} --dport ${f.port} -j DNAT --to-destination ${hosts[f.to]!.address}:${f.toPort ?? f.port}`,
  )
  return [
    '*raw',
    ':PREROUTING ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    `:${PARTITION_CHAIN} - [0:0]`,
    `-A PREROUTING -j ${PARTITION_CHAIN}`,
    'COMMIT',
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':INPUT ACCEPT [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    ...dnat,
    '-A POSTROUTING -o wan -j MASQUERADE',
    'COMMIT',
    '*filter',
    ':INPUT DROP [0:0]',
    ':FORWARD DROP [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    `:${PARTITION_CHAIN} - [0:0]`,
    '-A INPUT -i lo -j ACCEPT',
    '-A INPUT -i lan -j ACCEPT',
    '-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
    `-A FORWARD -j ${PARTITION_CHAIN}`,
    '-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT',
    '-A FORWARD -i lan -j ACCEPT',
    ...(router.forwards.length > 0 ? ['-A FORWARD -i wan -m conntrack --ctstate DNAT -j ACCEPT'] : []),
    'COMMIT',
    '',
  ].join('\n')
}

const HOST_RULES = [
  '*raw',
  ':PREROUTING ACCEPT [0:0]',
  ':OUTPUT ACCEPT [0:0]',
  `:${PARTITION_CHAIN} - [0:0]`,
  `-A PREROUTING -j ${PARTITION_CHAIN}`,
  'COMMIT',
  '',
].join('\n')

/** Builds a topology. Rejects (having removed whatever it created) if any step fails. */
export async function createTopology(spec: TopologySpec): Promise<Topology> {
  await checkPrerequisites()
  swept ??= sweepStaleNamespaces()
  await swept
  const id = `${ownerTag}-${++topologyCounter}${Math.floor(Math.random() * 0xfff).toString(16)}`
  const nsName = (label: string) => `${NS_PREFIX}${id}-${label}`
  const { hosts, routers, publicHosts } = plan(spec, nsName)
  const publicNs = nsName('_public')
  const namespaces = [
    publicNs,
    ...Object.values(routers).map((r) => r.ns),
    ...Object.values(hosts).map((h) => h.ns),
  ]
  const children = new Set<ChildProcess>()
  const entry = { namespaces, children }
  installExitHook()
  live.add(entry)

  const signal = spec.signal
  const ip = (ns: string, ...args: string[]) => must('ip', ['-n', ns, ...args], { signal })
  const inNs = (ns: string, file: string, args: string[], input?: string) =>
    must('ip', ['netns', 'exec', ns, file, ...args], { signal, input })

  const topology = new TopologyImpl(id, hosts, routers, publicNs, namespaces, children, () =>
    live.delete(entry),
  )
  try {
    for (const ns of namespaces) {
      await must('ip', ['netns', 'add', ns], { signal })
      await ip(ns, 'link', 'set', 'lo', 'up')
      // Links created from now on get no IPv6 (no link-local chatter or addresses); lo keeps ::1.
      await inNs(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1'])
    }
    await ip(publicNs, 'link', 'add', 'br0', 'type', 'bridge')
    await ip(publicNs, 'link', 'set', 'br0', 'up')
    let port = 0
    // One veth per segment member: `inside` in the member's namespace, `p<n>` on the bridge.
    const attachToPublic = async (ns: string, inside: string, address: string) => {
      const peer = `p${port++}`
      await ip(ns, 'link', 'add', inside, 'type', 'veth', 'peer', 'name', peer, 'netns', publicNs)
      await ip(publicNs, 'link', 'set', peer, 'master', 'br0')
      await ip(publicNs, 'link', 'set', peer, 'up')
      await ip(ns, 'addr', 'add', `${address}/24`, 'dev', inside)
      await ip(ns, 'link', 'set', inside, 'up')
    }
    for (const router of Object.values(routers)) {
      await attachToPublic(router.ns, 'wan', router.wanAddress)
      await ip(router.ns, 'link', 'add', 'lan', 'type', 'bridge')
      await ip(router.ns, 'addr', 'add', `${router.lanAddress}/24`, 'dev', 'lan')
      await ip(router.ns, 'link', 'set', 'lan', 'up')
      await inNs(router.ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'])
      await inNs(router.ns, 'iptables-restore', [], routerRules(router, hosts))
      let lanPort = 0
      for (const hostName of router.hostNames) {
        const host = hosts[hostName]!
        const peer = `l${lanPort++}`
        await ip(host.ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', peer, 'netns', router.ns)
        await ip(router.ns, 'link', 'set', peer, 'master', 'lan')
        await ip(router.ns, 'link', 'set', peer, 'up')
        await ip(host.ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0')
        await ip(host.ns, 'link', 'set', 'eth0', 'up')
        await ip(host.ns, 'route', 'add', 'default', 'via', router.lanAddress)
      }
    }
    for (const name of publicHosts) await attachToPublic(hosts[name]!.ns, 'eth0', hosts[name]!.address)
    for (const host of Object.values(hosts)) await inNs(host.ns, 'iptables-restore', [], HOST_RULES)
  } catch (err) {
    await topology.destroy().catch(() => {})
    throw err
  }
  return topology
}

// ---------------------------------------------------------------------------------------------
// The topology

interface Rule {
  ns: string
  table: 'raw' | 'filter'
  match: string[]
}

class TopologyImpl implements Topology {
  private destroying: Promise<void> | undefined
  private readonly partitions = new Map<string, Rule[]>()

  constructor(
    readonly id: string,
    readonly hosts: Readonly<Record<string, Host>>,
    readonly routers: Readonly<Record<string, Router>>,
    readonly publicNs: string,
    readonly namespaces: readonly string[],
    private readonly children: Set<ChildProcess>,
    private readonly onDestroyed: () => void,
  ) {}

  private host(name: string): Host {
    const host = this.hosts[name]
    if (!host) {
      throw new NetnsError(
        'ERR_UNKNOWN_HOST',
        `no host ${name} (hosts: ${Object.keys(this.hosts).join(', ')})`,
      )
    }
    return host
  }

  private nsOf(name: string): string {
    const ns = this.hosts[name]?.ns ?? this.routers[name]?.ns
    if (!ns) {
      const known = [...Object.keys(this.hosts), ...Object.keys(this.routers)].join(', ')
      throw new NetnsError('ERR_UNKNOWN_HOST', `no host or router ${name} (known: ${known})`)
    }
    return ns
  }

  private checkAlive(): void {
    if (this.destroying) throw new NetnsError('ERR_DESTROYED', `topology ${this.id} is destroyed`)
  }

  addressOf(target: string, from: string): string {
    const t = this.host(target)
    const f = this.host(from)
    return t.router === undefined || t.router === f.router ? t.address : t.publicAddress
  }

  exec(host: string, cmd: string, args: readonly string[] = [], opts: SpawnOptions = {}): ChildProcess {
    this.checkAlive()
    const child = spawn('ip', ['netns', 'exec', this.nsOf(host), cmd, ...args], opts)
    this.children.add(child)
    child.once('exit', () => this.children.delete(child))
    child.once('error', () => this.children.delete(child))
    return child
  }

  async run(
    host: string,
    cmd: string,
    args: readonly string[] = [],
    opts: RunOptions = {},
  ): Promise<RunResult> {
    this.checkAlive()
    return runCommand('ip', ['netns', 'exec', this.nsOf(host), cmd, ...args], {
      timeoutMs: opts.timeoutMs ?? RUN_TIMEOUT_MS,
      input: opts.input,
      env: opts.env,
      signal: opts.signal,
    })
  }

  spawnNode(
    host: string,
    scriptPath: string,
    args: readonly string[] = [],
    env: NodeJS.ProcessEnv = {},
    opts: { cwd?: string } = {},
  ): NetProcess {
    const child = this.exec(host, process.execPath, [scriptPath, ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd: opts.cwd,
    })
    return new NetProcessImpl(child, host, `node ${[scriptPath, ...args].join(' ')}`)
  }

  /** The rules that drop packets from a to b (see partition()). */
  private dropRules(a: Host, b: Host): Rule[] {
    if (a.router === b.router) {
      // Same segment (both public, or the same LAN): drop on arrival at b.
      return [{ ns: b.ns, table: 'raw', match: ['-s', a.address] }]
    }
    if (a.router !== undefined) {
      // Leaving a's LAN: a's router still sees a's private address, and b as a dials it.
      const ns = this.routers[a.router]!.ns
      return [{ ns, table: 'filter', match: ['-s', a.address, '-d', this.addressOf(b.name, a.name)] }]
    }
    // a is public, b behind a router: after de-NAT, b's router sees both real addresses.
    const ns = this.routers[b.router!]!.ns
    return [{ ns, table: 'filter', match: ['-s', a.address, '-d', b.address] }]
  }

  /** The rules that cut a off entirely. */
  private isolationRules(a: Host): Rule[] {
    const rules: Rule[] = [{ ns: a.ns, table: 'raw', match: ['!', '-i', 'lo'] }]
    // Everything a sends is dropped where it first enters another namespace holding an address.
    for (const other of Object.values(this.hosts)) {
      if (other !== a && other.router === a.router)
        rules.push({ ns: other.ns, table: 'raw', match: ['-s', a.address] })
    }
    if (a.router === undefined) {
      for (const r of Object.values(this.routers))
        rules.push({ ns: r.ns, table: 'raw', match: ['-s', a.address] })
    } else {
      rules.push({ ns: this.routers[a.router]!.ns, table: 'raw', match: ['-s', a.address] })
    }
    return rules
  }

  private async applyRules(rules: Rule[], op: '-A' | '-D'): Promise<void> {
    for (const rule of rules) {
      await must('ip', [
        'netns',
        'exec',
        rule.ns,
        'iptables',
        '-w',
        '5',
        '-t',
        rule.table,
        op,
        PARTITION_CHAIN,
        ...rule.match,
        '-j',
        'DROP',
      ])
    }
  }

  private partitionKey(a: string, b?: string): string {
    if (b === undefined) return `${a}|*`
    return a < b ? `${a}|${b}` : `${b}|${a}`
  }

  async partition(a: string, b?: string): Promise<void> {
    this.checkAlive()
    const ha = this.host(a)
    const hb = b === undefined ? undefined : this.host(b)
    if (hb === ha) throw new NetnsError('ERR_BAD_SPEC', `cannot partition ${a} from itself`)
    const key = this.partitionKey(a, b)
    if (this.partitions.has(key)) return
    const rules = hb ? [...this.dropRules(ha, hb), ...this.dropRules(hb, ha)] : this.isolationRules(ha)
    this.partitions.set(key, rules)
    await this.applyRules(rules, '-A')
  }

  async heal(a: string, b?: string): Promise<void> {
    this.checkAlive()
    this.host(a)
    if (b !== undefined) this.host(b)
    const key = this.partitionKey(a, b)
    const rules = this.partitions.get(key)
    if (!rules) return
    this.partitions.delete(key)
    await this.applyRules(rules, '-D')
  }

  destroy(): Promise<void> {
    this.destroying ??= this.teardown()
    return this.destroying
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy()
  }

  private async teardown(): Promise<void> {
    const errors: unknown[] = []
    // Our own children first, politely, then whatever else runs in the namespaces.
    await Promise.all(
      [...this.children].map((child) =>
        terminate(child, 'SIGTERM', KILL_GRACE_MS).catch((e) => errors.push(e)),
      ),
    )
    const existing = new Set(await listNamespaces())
    for (const ns of this.namespaces) {
      if (!existing.has(ns)) continue
      try {
        await killAllIn(ns)
        await deleteNamespace(ns)
      } catch (err) {
        errors.push(err)
      }
    }
    this.onDestroyed()
    if (errors.length > 0) {
      throw new NetnsError(
        'ERR_COMMAND_FAILED',
        `destroying topology ${this.id}: ${errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ')}`,
      )
    }
  }
}

/** Sends `signal`, SIGKILL after graceMs, resolves once the child has exited (bounded). */
function terminate(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<ExitStatus> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      resolve({ code: child.exitCode, signal: child.signalCode })
      return
    }
    const onExit = (code: number | null, sig: NodeJS.Signals | null) => {
      clearTimeout(killTimer)
      clearTimeout(giveUp)
      resolve({ code, signal: sig })
    }
    child.once('exit', onExit)
    const killTimer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    const giveUp = setTimeout(() => {
      child.removeListener('exit', onExit)
      reject(new NetnsError('ERR_TIMEOUT', `process ${child.pid} did not exit after SIGKILL`))
    }, graceMs + 5_000)
    child.kill(signal)
  })
}

// ---------------------------------------------------------------------------------------------
// Processes

class LineBuffer {
  private lines: string[] = []
  private dropped = 0
  private chars = 0
  private partial = ''

  constructor(private readonly onLine: (line: string, lineNumber: number) => void) {}

  push(text: string): void {
    const parts = (this.partial + text).split('\n')
    this.partial = parts.pop() ?? ''
    for (const line of parts) this.add(line)
  }

  flush(): void {
    if (this.partial !== '') this.add(this.partial)
    this.partial = ''
  }

  private add(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    this.lines.push(line)
    this.chars += line.length + 1
    while (this.chars > OUTPUT_LIMIT_CHARS && this.lines.length > 1) {
      this.chars -= this.lines.shift()!.length + 1
      this.dropped++
    }
    this.onLine(line, this.dropped + this.lines.length - 1)
  }

  count(): number {
    return this.dropped + this.lines.length
  }

  /** Lines numbered >= since that are still kept, with their numbers. */
  *from(since: number): Generator<[string, number]> {
    for (let i = Math.max(0, since - this.dropped); i < this.lines.length; i++) {
      yield [this.lines[i]!, this.dropped + i]
    }
  }

  text(): string {
    return this.lines.join('\n') + (this.lines.length > 0 ? '\n' : '') + this.partial
  }
}

interface Waiter {
  stream: 'stdout' | 'stderr'
  since: number
  pattern: RegExp
  resolve: (match: LineMatch) => void
  fail: (code: NetnsErrorCode, why: string) => void
}

class NetProcessImpl implements NetProcess {
  readonly exited: Promise<ExitStatus>
  private status: ExitStatus | undefined
  private finished = false
  private readonly waiters = new Set<Waiter>()
  private readonly out = new LineBuffer((line, n) => this.onLine('stdout', line, n))
  private readonly err = new LineBuffer((line, n) => this.onLine('stderr', line, n))
  private spawnError: Error | undefined

  constructor(
    readonly child: ChildProcess,
    readonly host: string,
    private readonly commandLine: string,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (s: string) => this.out.push(s))
    child.stderr?.setEncoding('utf8').on('data', (s: string) => this.err.push(s))
    this.exited = new Promise((resolve) => {
      let pipeTimer: NodeJS.Timeout | undefined
      const finish = () => {
        if (this.finished) return
        this.finished = true
        clearTimeout(pipeTimer)
        this.out.flush()
        this.err.flush()
        const why = this.spawnError
          ? `could not start: ${this.spawnError.message}`
          : `exited (${this.status?.signal ?? this.status?.code})`
        for (const w of this.waiters) w.fail('ERR_PROCESS_EXITED', why)
        resolve(this.status ?? { code: null, signal: null })
      }
      child.once('exit', (code, signal) => {
        this.status = { code, signal }
        // Output may still be in the pipes; a grandchild holding them open must not block us.
        pipeTimer = setTimeout(finish, PIPE_CLOSE_GRACE_MS)
      })
      child.once('close', finish)
      child.once('error', (e) => {
        this.spawnError = e
        this.status ??= { code: null, signal: null }
        finish()
      })
    })
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  exitStatus(): ExitStatus | undefined {
    return this.finished ? this.status : undefined
  }

  stdout(): string {
    return this.out.text()
  }

  stderr(): string {
    return this.err.text()
  }

  lineCount(stream: 'stdout' | 'stderr' = 'stdout'): number {
    return (stream === 'stdout' ? this.out : this.err).count()
  }

  private onLine(stream: 'stdout' | 'stderr', line: string, lineNumber: number): void {
    for (const w of this.waiters) {
      if (w.stream !== stream || lineNumber < w.since) continue
      const match = w.pattern.exec(line)
      if (match) w.resolve(Object.assign(match, { lineNumber }))
    }
  }

  waitForLine(pattern: RegExp, timeoutMs: number, opts: WaitForLineOptions = {}): Promise<LineMatch> {
    const stream = opts.stream ?? 'stdout'
    const since = opts.since ?? 0
    const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''))
    for (const [line, lineNumber] of (stream === 'stdout' ? this.out : this.err).from(since)) {
      const match = re.exec(line)
      if (match) return Promise.resolve(Object.assign(match, { lineNumber }))
    }
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer)
        opts.signal?.removeEventListener('abort', onAbort)
        this.waiters.delete(waiter)
      }
      const waiter: Waiter = {
        stream,
        since,
        pattern: re,
        resolve: (match) => {
          done()
          resolve(match)
        },
        fail: (code, why) => {
          done()
          reject(new NetnsError(code, `waiting for ${pattern} on ${stream}: ${why}\n${this.describe()}`))
        },
      }
      const timer = setTimeout(() => waiter.fail('ERR_TIMEOUT', `no match within ${timeoutMs} ms`), timeoutMs)
      const onAbort = () => waiter.fail('ERR_ABORTED', 'aborted')
      if (opts.signal?.aborted) {
        waiter.fail('ERR_ABORTED', 'aborted')
        return
      }
      if (this.finished) {
        waiter.fail('ERR_PROCESS_EXITED', `exited (${this.status?.signal ?? this.status?.code})`)
        return
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true })
      this.waiters.add(waiter)
    })
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM', graceMs = KILL_GRACE_MS): Promise<ExitStatus> {
    await terminate(this.child, signal, graceMs)
    return this.exited
  }

  describe(): string {
    const state = this.finished
      ? `exited (${this.status?.signal ?? this.status?.code})`
      : this.status
        ? `exited (${this.status.signal ?? this.status.code}), output pending`
        : 'running'
    return [
      `[${this.host}] ${this.commandLine} (pid ${this.child.pid}): ${state}`,
      '--- stdout (tail) ---',
      tailLines(this.stdout(), 40),
      '--- stderr (tail) ---',
      tailLines(this.stderr(), 40),
    ].join('\n')
  }
}

function tailLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n')
}

/** Waits for a line of `proc`'s stdout (or opts.stream) matching `pattern`; see NetProcess.waitForLine. */
export function waitForLine(
  proc: NetProcess,
  pattern: RegExp,
  timeoutMs: number,
  opts?: WaitForLineOptions,
): Promise<LineMatch> {
  return proc.waitForLine(pattern, timeoutMs, opts)
}

// ---------------------------------------------------------------------------------------------
// Standard topologies

/** hub public (198.51.100.10); exporter behind natA (10.1.0.2, WAN .2); importer behind natB (10.2.0.2, WAN .3). */
export function twoSitesBehindNat(opts: { signal?: AbortSignal } = {}): Promise<Topology> {
  return createTopology({
    routers: { natA: {}, natB: {} },
    hosts: { hub: {}, exporter: { behind: 'natA' }, importer: { behind: 'natB' } },
    signal: opts.signal,
  })
}

/** hub public (198.51.100.10); importer public (.11); exporter behind natA (10.1.0.2, WAN .2). */
export function exporterBehindNatImporterPublic(opts: { signal?: AbortSignal } = {}): Promise<Topology> {
  return createTopology({
    routers: { natA: {} },
    hosts: { hub: {}, importer: {}, exporter: { behind: 'natA' } },
    signal: opts.signal,
  })
}

/** Namespaces of this machine that this module created (any run), for tests and the CLI. */
export function listRigNamespaces(): string[] {
  try {
    return readdirSync('/run/netns').filter((n) => n.startsWith(NS_PREFIX))
  } catch {
    return []
  }
}
