/**
 * The kernel-in-the-loop rig: boots Debian's kernel in a QEMU guest (TCG by default) and runs a
 * bash script there, in a chroot of the host's root filesystem (shared read-only over 9p), so the
 * guest runs the host's own `usbip`, bash and Node binaries against a real vhci_hcd.
 *
 * The guest reaches the host only through QEMU user-mode-net forwards: TCP connections to
 * 10.0.2.100:3240 are relayed to 127.0.0.1:hostPort, and each of `forwards` relays one more guest
 * address:port to a host port on 127.0.0.1 (per connection, by scripts/vm/guestfwd-relay.c);
 * `restrict=on` refuses everything else.
 *
 * This module must import nothing but Node built-ins: it is used while the packages under test
 * may not build.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The address the guest connects to for the host's USB/IP server. */
export const GUEST_SERVER_ADDRESS = '10.0.2.100'
export const GUEST_SERVER_PORT = 3240

/** One more address the guest may connect to: guestAddress:guestPort → 127.0.0.1:hostPort. */
export interface GuestForward {
  /** An address in the guest's 10.0.2.0/24 net other than 10.0.2.2/.3/.15, e.g. 10.0.2.100. */
  guestAddress: string
  guestPort: number
  hostPort: number
}

export interface GuestOptions {
  /** Bash run in the guest after test/lib/guest-lib.sh; its exit code is the guest's result. */
  script: string
  /** Host port on 127.0.0.1 that guest connections to 10.0.2.100:3240 are relayed to. */
  hostPort?: number
  /**
   * More guest → host forwards (e.g. a hub and an exporter reached over libp2p TCP), each relayed
   * per connection like hostPort. Every guestAddress:guestPort pair must be distinct (and not
   * 10.0.2.100:3240 when hostPort is given).
   */
  forwards?: readonly GuestForward[]
  /** Hard bound on the whole boot-run-poweroff; QEMU is killed when it passes. */
  timeoutMs: number
  /** Guest memory (default 512 MiB). */
  memoryMiB?: number
  signal?: AbortSignal
  /** Files put in the scratch share (the script's working directory, $TETHER_SCRATCH) first. */
  files?: Record<string, string | Uint8Array>
  /** Extra kernel command line words. */
  kernelArgs?: string[]
  /** Called with the guest console output as it arrives (debugging). */
  onOutput?: (text: string) => void
}

export interface GuestResult {
  /** The guest script's exit code. */
  exitCode: number
  /** Everything the guest printed on its serial console (the script's stdout and stderr). */
  output: string
  /** The guest kernel log (`dmesg -r`: each line starts with <level>). */
  dmesg: string
  /** Files the script left in $TETHER_SCRATCH, by path relative to it. */
  files: Record<string, Buffer>
  /** Boot to power-off, wall clock. */
  durationMs: number
}

/** A failure of the rig itself (QEMU, boot, timeout, abort), with what the console showed. */
export class GuestError extends Error {
  constructor(
    message: string,
    readonly output: string,
    readonly dmesg = '',
  ) {
    super(`${message}\n--- guest console (tail) ---\n${tail(output, 60)}`)
    this.name = 'GuestError'
  }
}

export interface Manifest {
  kernelVersion: string
  kernel: string
  initrd: string
  usbtestRun: string
  guestfwdRelay: string
}

/** The repository root (the directory holding scripts/vm/prepare). */
export const repoRoot: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, 'scripts', 'vm', 'prepare'))) return dir
    const parent = dirname(dir)
    if (parent === dir) throw new Error('cannot find the repository root (scripts/vm/prepare) above test/lib')
    dir = parent
  }
})()

let prepared: Promise<Manifest> | undefined

/** Runs scripts/vm/prepare (once per process) and returns what it built. */
export function ensurePrepared(): Promise<Manifest> {
  prepared ??= new Promise<Manifest>((resolve, reject) => {
    const child = execFile(
      join(repoRoot, 'scripts', 'vm', 'prepare'),
      [],
      { cwd: repoRoot, maxBuffer: 1 << 20, timeout: 15 * 60_000 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`scripts/vm/prepare failed: ${err.message}\n${stderr}`))
          return
        }
        const path = stdout.trim().split('\n').at(-1) ?? ''
        readManifest(path).then(resolve, reject)
      },
    )
    // Progress lines of the slow first run, passed on as they come.
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk))
  })
  prepared.catch(() => {
    prepared = undefined
  })
  return prepared
}

async function readManifest(path: string): Promise<Manifest> {
  const text = await readFile(path, 'utf8')
  const values = new Map(
    text
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const),
  )
  const get = (key: string) => {
    const value = values.get(key)
    if (!value) throw new Error(`${path}: no ${key}`)
    return value
  }
  return {
    kernelVersion: get('KERNEL_VERSION'),
    kernel: get('KERNEL'),
    initrd: get('INITRD'),
    usbtestRun: get('USBTEST_RUN'),
    guestfwdRelay: get('GUESTFWD_RELAY'),
  }
}

/** TETHER_VM_ACCEL=kvm uses KVM; the default is TCG, which works everywhere (slowly). */
function accelerator(): { accel: string; cpu: string } {
  const wanted = process.env.TETHER_VM_ACCEL ?? 'tcg'
  if (wanted === 'kvm') return { accel: 'kvm', cpu: 'host' }
  if (wanted !== 'tcg') throw new Error(`TETHER_VM_ACCEL must be tcg or kvm, not ${wanted}`)
  return { accel: 'tcg', cpu: 'max' }
}

/** Quotes one word for QEMU's option parser (`,` doubles) and libslirp's shell-style argv split. */
function slirpWord(word: string): string {
  const quoted = /^[\w./@:+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`
  return quoted.replaceAll(',', ',,')
}

export function qemuArgs(opts: {
  manifest: Manifest
  scratch: string
  hostPort?: number | undefined
  forwards?: readonly GuestForward[] | undefined
  memoryMiB?: number | undefined
  kernelArgs?: string[] | undefined
}): string[] {
  const { accel, cpu } = accelerator()
  let netdev = 'user,id=n0,restrict=on'
  const forwards: GuestForward[] = [...(opts.forwards ?? [])]
  if (opts.hostPort !== undefined) {
    forwards.unshift({
      guestAddress: GUEST_SERVER_ADDRESS,
      guestPort: GUEST_SERVER_PORT,
      hostPort: opts.hostPort,
    })
  }
  const seen = new Set<string>()
  for (const fwd of forwards) {
    if (
      !/^10\.0\.2\.\d{1,3}$/.test(fwd.guestAddress) ||
      ['10.0.2.2', '10.0.2.3', '10.0.2.15'].includes(fwd.guestAddress)
    ) {
      throw new Error(
        `forward guestAddress ${fwd.guestAddress}: use an unused address in 10.0.2.0/24 (not .2, .3 or .15)`,
      )
    }
    for (const [name, port] of [
      ['guestPort', fwd.guestPort],
      ['hostPort', fwd.hostPort],
    ] as const) {
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw new Error(`forward ${name} ${port} is not a TCP port`)
    }
    const key = `${fwd.guestAddress}:${fwd.guestPort}`
    if (seen.has(key)) throw new Error(`two forwards for guest address ${key}`)
    seen.add(key)
    // libslirp spawns the relay for each guest connection (a `-tcp:` chardev would carry them all
    // over one host connection); see scripts/vm/guestfwd-relay.c.
    const command = [opts.manifest.guestfwdRelay, String(fwd.hostPort)].map(slirpWord).join(' ')
    netdev += `,guestfwd=tcp:${key}-cmd:${command}`
  }
  // loglevel=5: warnings and worse reach the console live; printk.devkmsg=on: the script's
  // /dev/kmsg markers are never rate-limited away (kernelErrors() counts detach markers).
  const cmdline = [
    'console=ttyS0',
    'panic=-1',
    'mitigations=off',
    'loglevel=5',
    'printk.devkmsg=on',
    ...(opts.kernelArgs ?? []),
  ]
  if (opts.scratch.includes(',')) throw new Error(`scratch path may not contain a comma: ${opts.scratch}`)
  return [
    '-nodefaults',
    '-no-user-config',
    '-machine',
    `pc,accel=${accel}`,
    '-cpu',
    cpu,
    '-smp',
    '1',
    '-m',
    String(opts.memoryMiB ?? 512),
    '-display',
    'none',
    '-monitor',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    '-kernel',
    opts.manifest.kernel,
    '-initrd',
    opts.manifest.initrd,
    '-append',
    cmdline.join(' '),
    '-netdev',
    netdev,
    '-device',
    'virtio-net-pci,netdev=n0',
    // TETHER_VM_PCAP=FILE records the guest's network traffic (debugging).
    ...(process.env.TETHER_VM_PCAP
      ? ['-object', `filter-dump,id=pcap,netdev=n0,file=${process.env.TETHER_VM_PCAP}`]
      : []),
    '-fsdev',
    'local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap',
    '-device',
    'virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot',
    '-fsdev',
    `local,id=scratch,path=${opts.scratch},security_model=none`,
    '-device',
    'virtio-9p-pci,fsdev=scratch,mount_tag=scratch',
  ]
}

/** Boots the guest, runs `opts.script` in it and returns what it produced. */
export async function runGuest(opts: GuestOptions): Promise<GuestResult> {
  opts.signal?.throwIfAborted()
  const manifest = await ensurePrepared()
  const dir = await mkdtemp(join(tmpdir(), 'tether-vm-'))
  try {
    const scratch = join(dir, 'scratch')
    await mkdir(scratch)
    for (const [name, content] of Object.entries(opts.files ?? {})) {
      const path = join(scratch, name)
      if (relative(scratch, path).startsWith('..')) throw new Error(`file outside the scratch dir: ${name}`)
      await mkdir(dirname(path), { recursive: true })
      await writeFile(path, content)
    }
    await copyFile(join(repoRoot, 'test', 'lib', 'guest-lib.sh'), join(scratch, 'guest-lib.sh'))
    await writeFile(
      join(scratch, 'script.sh'),
      `source /run/tether/guest-lib.sh\nUSBTEST_RUN=${manifest.usbtestRun}\n${opts.script}\n`,
    )
    const started = performance.now()
    const output = await runQemu(
      qemuArgs({
        manifest,
        scratch,
        hostPort: opts.hostPort,
        forwards: opts.forwards,
        memoryMiB: opts.memoryMiB,
        kernelArgs: opts.kernelArgs,
      }),
      opts,
    )
    const durationMs = performance.now() - started
    const files = await readTree(scratch)
    const dmesg = files.dmesg?.toString('utf8') ?? ''
    let exitText = files['exit-code']?.toString('utf8')
    exitText ??= /^TETHER-EXIT (\d+)\r?$/m.exec(output)?.[1]
    for (const name of ['script.sh', 'guest-lib.sh', 'exit-code', 'dmesg']) delete files[name]
    for (const name of Object.keys(opts.files ?? {})) delete files[name]
    if (exitText === undefined || !/^\d+\s*$/.test(exitText)) {
      throw new GuestError(
        'the guest powered off without reporting an exit code (boot failure or kernel panic?)',
        output,
        dmesg,
      )
    }
    return { exitCode: Number(exitText), output, dmesg, files, durationMs }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

function runQemu(args: string[], opts: GuestOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const qemu = process.env.TETHER_VM_QEMU ?? 'qemu-system-x86_64'
    // `timeout` bounds QEMU even if this process dies without cleaning up; detached gives it a
    // process group of its own to kill.
    const hardLimitS = Math.ceil(opts.timeoutMs / 1000) + 30
    const child: ChildProcess = spawn('timeout', ['-s', 'KILL', String(hardLimitS), qemu, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    let output = ''
    let stderr = ''
    let settled = false
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', (text: string) => {
      output += text
      opts.onOutput?.(text)
    })
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (text: string) => {
      stderr += text
    })
    const killTree = () => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL')
        } catch {
          child.kill('SIGKILL')
        }
      }
    }
    const finish = (err?: Error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
      process.removeListener('exit', killTree)
      if (err) {
        killTree()
        reject(err)
      }
    }
    const timer = setTimeout(
      () =>
        finish(new GuestError(`the guest did not finish within ${opts.timeoutMs} ms; QEMU killed`, output)),
      opts.timeoutMs,
    )
    const onAbort = () => finish(new GuestError(`aborted: ${String(opts.signal?.reason)}`, output))
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    process.once('exit', killTree)
    child.on('error', (err) => finish(new GuestError(`cannot start ${qemu}: ${err.message}`, output)))
    child.on('close', (code, signal) => {
      if (settled) return
      if (code !== 0) {
        finish(new GuestError(`QEMU exited with ${signal ?? code}: ${stderr.trim()}`, output))
        return
      }
      finish()
      resolve(output)
    })
  })
}

async function readTree(root: string): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {}
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const path = join(entry.parentPath, entry.name)
    files[relative(root, path)] = await readFile(path)
  }
  return files
}

/** The last `lines` lines of `text`. */
export function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n')
}

// ---- kernel log checks -------------------------------------------------------------------------

/** Always a problem, whatever the log level. */
const ALWAYS_BAD: RegExp[] = [
  /\bBUG[:!]/,
  /\bWARNING:/,
  /\bOops\b/,
  /Call Trace:/,
  /general protection fault/,
  /\bkernel BUG\b/,
  /\bRIP: /,
  /soft lockup|hard LOCKUP|blocked for more than \d+ seconds/,
  /\b(KASAN|UBSAN|KFENCE):/,
  /list_(add|del) corruption/,
  /refcount_t: /,
  /\bstack-protector\b/,
  // vhci_rx.c / usbip_common.c / vhci_hcd.c: the peer spoke the protocol wrong or dropped us.
  /cannot find a urb of seqnum/,
  /received pdu size is/,
  /unknown pdu/,
  /cannot find the pending unlink/,
  /connection reset by peer/,
  /connection timed out with pending urbs/,
  /xmit failed/,
  /sendmsg failed/,
  /recv xbuf/,
  /total length of iso packets/,
  /may be in a error/,
  /vhci_hcd:.*seqnum max/,
  /usbip_core: unknown command/,
  // usbcore / usb-storage / SCSI: enumeration trouble, resets, I/O errors.
  /device descriptor read\/.*error/,
  /device not accepting address/,
  /unable to enumerate USB device/,
  /can't set config/,
  /\breset (low|full|high|super|wireless)[- +]*speed.* USB device/,
  /\bI\/O error\b/,
  /Buffer I\/O error/,
  /\bSense Key\b/,
  /rejecting I\/O to offline device/,
]

/** Seen after every detach; trouble only when no `tether: detach` marker announced it. */
const DISCONNECT = [/vhci_hcd: connection closed/, /USB disconnect, device number/]

/** Error-level lines that are a fact of life for simple devices, not a fault. */
const BENIGN: RegExp[] = [
  /\[sd[a-z]+\] No Caching mode page found/,
  /\[sd[a-z]+\] Assuming drive cache: write through/,
  /\[sd[a-z]+\] Asking for cache data failed/,
  // usbtest test 11 (async unlink) retries when its URB is completing; a race, not a fault.
  /usbtest .*unlink retry/,
]

/** Subsystems whose warnings (level 4) count: ours, the drivers on top and the HCD. */
const WATCHED_WARNINGS = /^(usb|usbcore|vhci_hcd|usbip|cdc_acm|usb-storage|usbtest|sd|scsi|hub)\b/

/**
 * The lines of a guest kernel log (`dmesg -r` or plain) that show something went wrong: oopses,
 * warnings and BUGs anywhere; USB/IP protocol faults (vhci_rx.c and usbip_common.c print these,
 * some only at info level: `cannot find a urb`, `connection reset by peer`, `recv xbuf`...);
 * enumeration failures, device resets and I/O errors; any error-level line (level <= 3) and
 * warnings from the USB and SCSI stack. The `connection closed` / `USB disconnect` messages that
 * follow a detach are normal; they count only when more of them arrive than `tether: detach`
 * markers (guest-lib.sh writes one before each `usbip detach`) announced, i.e. when the server
 * dropped a device.
 *
 * When the log holds the marker guest-init writes before the script runs, lines before it (the
 * boot) are skipped.
 */
export function kernelErrors(dmesg: string): string[] {
  let lines = dmesg.split('\n').filter((line) => line.trim() !== '')
  const start = lines.findIndex((line) => line.includes('tether-init: running'))
  if (start >= 0) lines = lines.slice(start + 1)
  const errors: string[] = []
  let announcedDetaches = 0
  let connectionsClosed = 0
  let disconnects = 0
  for (const raw of lines) {
    const match = /^<(\d+)>(.*)$/.exec(raw)
    const level = match ? Number(match[1]) & 7 : undefined
    const line = (match ? match[2]! : raw).trimEnd()
    const text = line.replace(/^\[\s*\d+\.\d+\]\s*/, '')
    if (/^tether: detach\b/.test(text)) {
      announcedDetaches += 1
      continue
    }
    if (text.startsWith('tether: ')) continue
    if (DISCONNECT[0]!.test(text)) {
      connectionsClosed += 1
      if (connectionsClosed > announcedDetaches) errors.push(`${line} (no detach was requested)`)
      continue
    }
    if (DISCONNECT[1]!.test(text)) {
      disconnects += 1
      if (disconnects > announcedDetaches) errors.push(`${line} (no detach was requested)`)
      continue
    }
    if (BENIGN.some((re) => re.test(text))) continue
    if (ALWAYS_BAD.some((re) => re.test(text))) {
      errors.push(line)
      continue
    }
    if (level !== undefined && level <= 3) {
      errors.push(line)
      continue
    }
    if (level === 4 && WATCHED_WARNINGS.test(text)) errors.push(line)
  }
  return errors
}
