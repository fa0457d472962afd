/**
 * `tether usbip attach` against Debian's real vhci_hcd: the guest attaches the CDC-ACM echo device
 * and a mass-storage disk that the host's `tether serve` exports, with tether's own attach code
 * (no stock usbip), in direct mode (the TCP socket's fd goes to the kernel) and in pump mode (the
 * attachStream code path tunnels use: kernel ⇄ loopback pair ⇄ pump ⇄ TCP), then detaches with
 * `tether usbip detach` and, for a pump, with SIGINT. One guest boot; every step is bounded. The
 * pumped disk goes through a second guest forward (10.0.2.101:4001), which also proves
 * runGuest's `forwards` option.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type GuestSession, guestSection, runGuestSession, sessionReporter } from '../lib/guest-session.js'
import { CLI_MAIN, startTetherServer, type TetherServer } from '../lib/tether-server.js'
import { kernelErrors, repoRoot, tail } from '../lib/vm.js'

const IMAGE_MIB = 8
const GUEST_TIMEOUT_MS = 480_000
const ACM_BUSID = '1-1'
const DISK_BUSID = '1-2'
const GUEST_SCRIPT_PATH = join(repoRoot, 'test', 'vm', 'vhci-attach.guest.sh')

describe('tether usbip attach with Debian vhci_hcd', { timeout: 10 * 60_000 }, () => {
  let dir = ''
  let image: Buffer
  let server: TetherServer | undefined
  let session: Promise<GuestSession> | undefined

  before(async () => {
    assert.ok(existsSync(CLI_MAIN), `${CLI_MAIN} is missing; build the workspace first (pnpm build)`)
    dir = await mkdtemp(join(tmpdir(), 'tether-vhci-'))
    image = randomBytes(IMAGE_MIB * 1024 * 1024)
    await writeFile(join(dir, 'disk.img'), image)
    server = await startTetherServer(['cdc-acm', `disk:${join(dir, 'disk.img')}`])
  })

  after(async () => {
    await server?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  function guestSession(): Promise<GuestSession> {
    session ??= readFile(GUEST_SCRIPT_PATH, 'utf8').then((body) =>
      runGuestSession({
        script: [
          `TETHER='${process.execPath} ${CLI_MAIN} usbip'`,
          `ACM_BUSID=${ACM_BUSID} DISK_BUSID=${DISK_BUSID}`,
          `IMAGE_SHA256=${createHash('sha256').update(image).digest('hex')}`,
          body,
        ].join('\n'),
        hostPort: server!.port,
        // A second way in (runGuest's `forwards`): the pump attaches the disk through it.
        forwards: [{ guestAddress: '10.0.2.101', guestPort: 4001, hostPort: server!.port }],
        timeoutMs: GUEST_TIMEOUT_MS,
      }),
    )
    return session
  }

  const { context, assertSectionPassed } = sessionReporter('tether serve', () => server?.log() ?? '')

  function timings(t: { diagnostic(message: string): void }, text: string) {
    for (const m of text.matchAll(/^TIMING (\S+) (\S+) (\d+) ms$/gm)) {
      t.diagnostic(`${m[1]} ${m[2]} (tether command, Node start included): ${m[3]} ms`)
    }
    for (const m of text.matchAll(/vhci: enumerated port=(\d+) busid=(\S+) ms=(\d+)/g)) {
      t.diagnostic(`attach -> drivers bound and /dev nodes present (port ${m[1]}, ${m[2]}): ${m[3]} ms`)
    }
  }

  test('direct mode: the socket fd goes to vhci; ttyACM echoes, /dev/sdX reads the image, tether usbip detach frees the port', {
    timeout: GUEST_TIMEOUT_MS + 30_000,
  }, async (t) => {
    const s = await guestSession()
    const text = assertSectionPassed(s, 'direct')
    assert.match(text, /^attached 1-1 as \d+-\d+ on port \d+: \/dev\/ttyACM\d+/m)
    assert.match(text, /^ACM echo 3000 ok$/m)
    assert.match(text, /^DIRECT acm ok$/m)
    assert.match(text, /^DISK sha256 ([0-9a-f]{64})$/m)
    assert.match(text, /^DIRECT disk ok$/m)
    timings(t, text)
  })

  test('pump mode (attachStream): same devices through the loopback pump; detach from outside and by SIGINT', {
    timeout: GUEST_TIMEOUT_MS + 30_000,
  }, async (t) => {
    const s = await guestSession()
    const text = assertSectionPassed(s, 'pump')
    assert.match(text, /^ACM echo 3000 ok$/m)
    assert.match(text, /^detached port \d+ \(kernel-closed\): [1-9]\d* bytes in, [1-9]\d* bytes out$/m)
    assert.match(text, /^PUMP acm ok$/m)
    assert.match(text, /^DISK sha256 ([0-9a-f]{64})$/m)
    assert.match(text, /^detached port \d+ \(detached\): [1-9]\d* bytes in, [1-9]\d* bytes out$/m)
    assert.match(text, /^PUMP disk ok$/m)
    timings(t, text)
  })

  test('detaching a free port fails with ERR_VHCI_NOT_ATTACHED', {
    timeout: GUEST_TIMEOUT_MS + 30_000,
  }, async () => {
    const s = await guestSession()
    const text = assertSectionPassed(s, 'errors')
    assert.match(text, /ERR_VHCI_NOT_ATTACHED/)
  })

  test('no kernel errors: every disconnect was a requested detach', {
    timeout: GUEST_TIMEOUT_MS + 30_000,
  }, async (t) => {
    const s = await guestSession()
    if (!s.result) assert.fail(`the guest session did not complete${context(s)}`)
    for (const name of ['direct', 'pump', 'errors']) {
      assert.notEqual(
        guestSection(s.output, name).rc,
        undefined,
        `guest section "${name}" did not finish${context(s)}`,
      )
    }
    const detaches = s.result.dmesg.match(/tether: detach port/g)?.length ?? 0
    const closed = s.result.dmesg.match(/vhci_hcd: connection closed/g)?.length ?? 0
    t.diagnostic(
      `guest session: ${Math.round(s.result.durationMs)} ms, ${detaches} detaches, ${closed} connections closed`,
    )
    assert.equal(detaches, 4, 'four detaches were announced')
    assert.equal(closed, 4, `vhci closed ${closed} connections, not 4\n${tail(s.result.dmesg, 60)}`)
    const errors = kernelErrors(s.result.dmesg)
    assert.deepEqual(
      errors,
      [],
      `kernel log problems:\n${errors.join('\n')}\n--- dmesg (tail) ---\n${tail(s.result.dmesg, 60)}`,
    )
    assert.equal(s.result.exitCode, 0, `guest script exit code${context(s)}`)
  })
})
