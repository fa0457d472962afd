/**
 * Acceptance: Debian's real kernel attaches the devices `tether serve` exports, with the stock
 * `usbip` client, and its drivers (cdc_acm, usb-storage + sd_mod, usbtest) work them.
 *
 * The server runs on the host as a child process (packages/cli's build) with three devices, in
 * this order, so their busids are: 1-1 CDC-ACM (echo peer), 1-2 Gadget Zero (0525:a4a0),
 * 1-3 mass storage backed by a temporary image file. One guest boot exercises all three (to save
 * the boot); each test below checks its own part of that session. Every guest step is bounded.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { type GuestSession, guestSection, runGuestSession, sessionReporter } from '../lib/guest-session.js'
import { startTetherServer, type TetherServer } from '../lib/tether-server.js'
import { kernelErrors, repoRoot, tail } from '../lib/vm.js'

const execFileAsync = promisify(execFile)
/** Debian puts usbip in /usr/sbin, which is not on a normal user's PATH. */
const USBIP = existsSync('/usr/sbin/usbip') ? '/usr/sbin/usbip' : 'usbip'

const IMAGE_MIB = 32
const PATTERN_OFFSET_MIB = 8
const GUEST_TIMEOUT_MS = 300_000
const ACM_BUSID = '1-1'
const GZ_BUSID = '1-2'
const DISK_BUSID = '1-3'
const BOARD_BUSID = '1-4'

/** The guest's half of the session (bash); each section prints "RESULT <name> <exit code>". */
const GUEST_SCRIPT_PATH = join(repoRoot, 'test', 'vm', 'usbip-kernel.guest.sh')

describe('Debian kernel (vhci_hcd + stock usbip) with tether serve', { timeout: 8 * 60_000 }, () => {
  let dir = ''
  let imagePath = ''
  let image: Buffer
  let pattern: Buffer
  let server: TetherServer | undefined
  let session: Promise<GuestSession> | undefined

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-kernel-'))
    imagePath = join(dir, 'disk.img')
    image = randomBytes(IMAGE_MIB * 1024 * 1024)
    pattern = randomBytes(1024 * 1024)
    await writeFile(imagePath, image)
    server = await startTetherServer(['cdc-acm', 'gadget-zero', `disk:${imagePath}`, 'cdc-acm:board'])
  })

  after(async () => {
    await server?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  /** The one guest boot, started by whichever guest test runs first; never rejects. */
  function guestSession(): Promise<GuestSession> {
    session ??= readFile(GUEST_SCRIPT_PATH, 'utf8').then((body) =>
      runGuestSession({
        script: [
          `ACM_BUSID=${ACM_BUSID} GZ_BUSID=${GZ_BUSID} DISK_BUSID=${DISK_BUSID} BOARD_BUSID=${BOARD_BUSID}`,
          `PATTERN_OFFSET_MIB=${PATTERN_OFFSET_MIB}`,
          body,
        ].join('\n'),
        hostPort: server!.port,
        timeoutMs: GUEST_TIMEOUT_MS,
        files: { 'pattern.bin': pattern },
      }),
    )
    return session
  }

  const { context, assertSectionPassed } = sessionReporter('tether serve', () => server?.log() ?? '')

  test('usbip list -r on the host lists every device', { timeout: 60_000 }, async (t) => {
    let stdout: string
    try {
      ;({ stdout } = await execFileAsync(
        USBIP,
        ['--tcp-port', String(server!.port), 'list', '-r', '127.0.0.1'],
        {
          timeout: 20_000,
        },
      ))
    } catch (err) {
      const e = err as { code?: string; stderr?: string; message: string }
      if (e.code === 'ENOENT') assert.fail('usbip is not installed; run scripts/vm/install-deps')
      assert.fail(
        `usbip list -r failed: ${e.message}\n${e.stderr ?? ''}\n--- tether serve ---\n${server!.log()}`,
      )
    }
    for (const line of stdout.trimEnd().split('\n')) t.diagnostic(line)
    const devices = parseUsbipList(stdout)
    const show = `\n--- usbip list -r ---\n${stdout}`
    assert.deepEqual([...devices.keys()], [ACM_BUSID, GZ_BUSID, DISK_BUSID, BOARD_BUSID], `busids${show}`)

    const acm = devices.get(ACM_BUSID)!
    assert.match(acm.id, /^[0-9a-f]{4}:[0-9a-f]{4}$/, `CDC-ACM VID:PID${show}`)
    assert.ok(
      acm.interfaces.some((c) => c.startsWith('02/02/')),
      `CDC-ACM has no Communications / Abstract (modem) interface (02/02/xx)${show}`,
    )
    assert.ok(
      acm.interfaces.some((c) => c.startsWith('0a/')),
      `CDC-ACM has no CDC Data interface (0a/xx/xx)${show}`,
    )

    const gz = devices.get(GZ_BUSID)!
    assert.equal(gz.id, '0525:a4a0', `Gadget Zero VID:PID${show}`)
    assert.ok(
      gz.interfaces.some((c) => c.startsWith('ff/')),
      `Gadget Zero has no vendor-specific interface${show}`,
    )

    const disk = devices.get(DISK_BUSID)!
    assert.match(disk.id, /^[0-9a-f]{4}:[0-9a-f]{4}$/, `mass storage VID:PID${show}`)
    assert.ok(
      disk.interfaces.includes('08/06/50'),
      `mass storage has no SCSI transparent Bulk-Only interface (08/06/50)${show}`,
    )
  })

  test('CDC-ACM: /dev/ttyACM0 appears and echoes lines back', {
    timeout: GUEST_TIMEOUT_MS + 30_000,
  }, async (t) => {
    const s = await guestSession()
    const text = assertSectionPassed(s, 'acm')
    assert.match(text, /^ACM echo 32 ok$/m)
    assert.match(text, /^ACM echo 3000 ok$/m)
    const timing = /TIMING acm attach-to-tty (\d+) ms/.exec(text)?.[1]
    if (timing) t.diagnostic(`attach -> /dev/ttyACM0: ${timing} ms`)
  })

  test('board console: the scripted board boots on DTR and answers at its prompt via cdc_acm', {
    timeout: GUEST_TIMEOUT_MS + 30_000,
  }, async () => {
    const s = await guestSession()
    const text = assertSectionPassed(s, 'board')
    assert.match(text, /^BOARD banner ok: U-Boot/m)
    assert.match(text, /^BOARD uname ok$/m)
  })

  test('mass storage: /dev/sda reads the image, writes land in the file', {
    timeout: GUEST_TIMEOUT_MS + 30_000,
  }, async (t) => {
    const s = await guestSession()
    const text = assertSectionPassed(s, 'storage')
    const size = Number(/^DISK size (\d+)$/m.exec(text)?.[1])
    assert.equal(size, image.length, `/dev/sda size${context(s, 15)}`)
    const sha = /^DISK sha256 ([0-9a-f]{64})$/m.exec(text)?.[1]
    assert.equal(sha, sha256(image), `sha256 of /dev/sda differs from the image's${context(s, 15)}`)
    assert.match(text, /^DISK write ok$/m)

    // The image file now holds the pattern at the offset, and nothing else changed.
    const after = await readFile(imagePath)
    const offset = PATTERN_OFFSET_MIB * 1024 * 1024
    assert.equal(after.length, image.length, 'the image file changed size')
    assert.ok(
      after.subarray(offset, offset + pattern.length).equals(pattern),
      `the 1 MiB written at ${PATTERN_OFFSET_MIB} MiB is not in the image file`,
    )
    assert.ok(
      after.subarray(0, offset).equals(image.subarray(0, offset)),
      'image bytes before the pattern changed',
    )
    assert.ok(
      after.subarray(offset + pattern.length).equals(image.subarray(offset + pattern.length)),
      'image bytes after the pattern changed',
    )

    for (const [what, match] of [
      ['direct read of all of /dev/sda', /^DISK read-direct (\d+) bytes (\d+) ms$/m.exec(text)],
      ['direct write + fsync of 1 MiB', /^DISK write-direct (\d+) bytes (\d+) ms$/m.exec(text)],
    ] as const) {
      if (!match) continue
      const mbps = Number(match[1]) / 1e6 / (Math.max(1, Number(match[2])) / 1000)
      t.diagnostic(
        `${what}: ${mbps.toFixed(1)} MB/s (${(Number(match[1]) / 2 ** 20).toFixed(0)} MiB in ${match[2]} ms, TCG guest)`,
      )
    }
    const timing = /TIMING storage attach-to-disk (\d+) ms/.exec(text)?.[1]
    if (timing) t.diagnostic(`attach -> /dev/sda: ${timing} ms`)
  })

  test('Gadget Zero: usbtest control, bulk, unlink and halt cases pass', {
    timeout: GUEST_TIMEOUT_MS + 30_000,
  }, async (t) => {
    const s = await guestSession()
    const { rc, text } = guestSection(s.output, 'usbtest')
    const results = [...text.matchAll(/^test (\d+): (ok|FAIL)(.*)$/gm)].map((m) => ({
      test: Number(m[1]),
      ok: m[2] === 'ok',
      line: m[0],
    }))
    if (results.length === 0) t.diagnostic('(no usbtest results)')
    for (const r of results) t.diagnostic(r.line)
    const failed = results.filter((r) => !r.ok)
    assert.deepEqual(
      failed.map((r) => r.line),
      [],
      `usbtest cases failed:\n${text}${context(s, 10)}`,
    )
    for (const n of [9, 10, 14, 1, 2, 3, 4, 11, 12, 24, 13]) {
      assert.ok(
        results.some((r) => r.test === n && r.ok),
        `usbtest case ${n} did not report ok:\n${text}${context(s, 10)}`,
      )
    }
    assert.equal(rc, 0, `guest section "usbtest" failed:\n${text}${context(s, 15)}`)
  })

  test('Gadget Zero alt 1: usbtest isochronous write/read cases pass (15, 16, 22, 23)', {
    timeout: GUEST_TIMEOUT_MS + 30_000,
  }, async (t) => {
    const s = await guestSession()
    const { rc, text } = guestSection(s.output, 'usbtest-iso')
    const results = [...text.matchAll(/^test (\d+): (ok|FAIL)(.*)$/gm)].map((m) => ({
      test: Number(m[1]),
      ok: m[2] === 'ok',
      line: m[0],
    }))
    if (results.length === 0) t.diagnostic('(no usbtest iso results)')
    for (const r of results) t.diagnostic(r.line)
    for (const n of [15, 16, 22, 23]) {
      assert.ok(
        results.some((r) => r.test === n && r.ok),
        `usbtest iso case ${n} did not report ok:\n${text}${context(s, 10)}`,
      )
    }
    assert.deepEqual(
      results.filter((r) => !r.ok).map((r) => r.line),
      [],
      `usbtest iso cases failed:\n${text}${context(s, 10)}`,
    )
    assert.equal(rc, 0, `guest section "usbtest-iso" failed:\n${text}${context(s, 15)}`)
  })

  test('detaching every device leaves no kernel errors', {
    timeout: GUEST_TIMEOUT_MS + 30_000,
  }, async (t) => {
    const s = await guestSession()
    if (!s.result) assert.fail(`the guest session did not complete${context(s)}`)
    for (const name of ['acm', 'board', 'storage', 'usbtest', 'usbtest-iso']) {
      assert.notEqual(
        guestSection(s.output, name).rc,
        undefined,
        `guest section "${name}" did not finish${context(s)}`,
      )
    }
    const detaches = s.result.dmesg.match(/tether: detach port/g)?.length ?? 0
    t.diagnostic(`guest session: ${Math.round(s.result.durationMs)} ms, ${detaches} detaches`)
    const errors = kernelErrors(s.result.dmesg)
    assert.deepEqual(
      errors,
      [],
      `kernel log problems:\n${errors.join('\n')}\n--- dmesg (tail) ---\n${tail(s.result.dmesg, 60)}`,
    )
    assert.equal(s.result.exitCode, 0, `guest script exit code${context(s)}`)
  })
})

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

interface ListedDevice {
  /** vvvv:pppp */
  id: string
  /** Interface class triples, "cc/ss/pp". */
  interfaces: string[]
}

/**
 * Parses `usbip list -r` output:
 *         1-1: vendor : product (0525:a4a7)
 *            : /sys/devices/...
 *            : device class / subclass / protocol (02/00/00)
 *            :  0 - interface class / subclass / protocol (02/02/01)
 */
function parseUsbipList(text: string): Map<string, ListedDevice> {
  const devices = new Map<string, ListedDevice>()
  let current: ListedDevice | undefined
  for (const line of text.split('\n')) {
    const head = /^\s*(\d+-[\d.]+): .*\(([0-9a-f]{4}):([0-9a-f]{4})\)\s*$/i.exec(line)
    if (head) {
      current = { id: `${head[2]!.toLowerCase()}:${head[3]!.toLowerCase()}`, interfaces: [] }
      devices.set(head[1]!, current)
      continue
    }
    const iface = /^\s*:\s+\d+ - .*\(([0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{2})\)\s*$/i.exec(line)
    if (iface && current) current.interfaces.push(iface[1]!.toLowerCase())
  }
  return devices
}
