/**
 * Kick and expiry against the real kernel: inside the guest (Debian's kernel, vhci_hcd) a CI-style
 * service account logs in with `tether login --token-cmd`, reserves the bench and runs
 * `tether attach`, whose tunnels carry the lease's capability to the host's exporter (enrolled at
 * the host's `tether hub --config hub.toml` with a join token). Then:
 * - restart: the host restarts the exporter while the lease is valid; the agent re-attaches both
 *   devices by itself with the capability it holds (a lost tunnel is not a lost lease);
 * - kick: an admin (a second service account, logged in on the host) runs `tether admin kick`;
 *   the guest's /dev/ttyACM0 and /dev/sda vanish and the vhci ports are free within 5 s;
 * - expiry: a second reservation with a short lease (EXPIRY_LEASE), attached and used; when the
 *   lease ends the devices vanish within 5 s of its end;
 * each time the agent stops (both attachments "ended", with the reason) instead of reconnecting,
 * and attaches nothing again. The hub's audit log has the kick (by the admin) and the expiry.
 * The disconnects are announced (kernelErrors() flags any other, e.g. a re-attach that flaps).
 *
 * Clock: one, the host's. The hub stamps each audit record with the host's Date.now() (the kick's
 * commit; the lease's expiresAt is the host time the hub set at reserve). The guest prints "GONE
 * kick|expiry" the moment its polling (every 20 ms, plus a bash loop's cost under TCG) sees both
 * device nodes gone and no vhci port in use; this test stamps that line with Date.now() as it
 * arrives on the serial console. So "kick → gone" = arrival of GONE − the kick's audit time, and
 * "expiry → gone" = arrival − the lease's expiresAt: both include the guest's polling and the
 * console's latency, i.e. they can only overstate. The time from starting `tether admin kick` on
 * the host (Node start-up included) is reported as well.
 *
 * Network: the guest reaches the hub as 10.0.2.100:HUB and the exporter as 10.0.2.101:EXP
 * (guestfwd relays to 127.0.0.1); nothing else, the IdP included: the guest's login is a token
 * the host obtained (client credentials) and put in the scratch share, and the hub verifies it
 * against the IdP on the host. One guest boot.
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, type TestContext, test } from 'node:test'
import type { EngineEvent } from '@tether/hub'
import { openDatabase, SqliteReservationStore } from '@tether/hub'
import { serviceAccountHubToml } from '../lib/auth-hub.js'
import { writeBench } from '../lib/bench.js'
import { runTether, type TetherRun, tetherOk } from '../lib/cli-run.js'
import { type GuestSession, runGuestSession, sessionReporter } from '../lib/guest-session.js'
import { clientCredentials, type Idp, type ServiceClient, startIdp } from '../lib/idp.js'
import { freePort, startTether, type TetherProcess } from '../lib/tether-process.js'
import { CLI_MAIN } from '../lib/tether-server.js'
import { kernelErrors, repoRoot } from '../lib/vm.js'

const HUB_GUEST_ADDRESS = '10.0.2.100'
const EXPORTER_GUEST_ADDRESS = '10.0.2.101'
const IMAGE_MIB = 4
/** Long enough for `tether reserve` + `tether attach` + the checks under TCG, with room to spare. */
const EXPIRY_LEASE = '60s'
const LIMIT_MS = 5_000
const KICK_REASON = 'the release build needs this bench'

const hubToml = (idp: Idp) =>
  serviceAccountHubToml(
    idp,
    `
[[service_account]]
name = "lab-admin"
client_id = "${idp.adminServiceClient.clientId}"
roles = ["admin"]
`,
  )

type LeaseEnded = Extract<EngineEvent, { type: 'lease-ended' }>

describe('kick and expiry: the guest kernel loses the devices within 5 s', { timeout: 15 * 60_000 }, () => {
  let dir = ''
  let idp: Idp | undefined
  let hub: TetherProcess | undefined
  let exporter: TetherProcess | undefined
  let session: GuestSession = { output: '' }
  const reporter = sessionReporter('exporter', () => exporter?.output() ?? '')
  /** Host Date.now() when each marker line arrived on the guest console. */
  const seen = new Map<string, number>()
  const kick: { lease?: string; startedAt?: number; run?: TetherRun } = {}
  let kickDone: Promise<void> = Promise.resolve()
  let restarted: Promise<void> | undefined
  let expiryLease: string | undefined
  let ended: LeaseEnded[] = []

  const token = async (client: ServiceClient) => {
    const r = await clientCredentials(idp as Idp, (idp as Idp).resources.hub, client)
    assert.equal(r.status, 200, JSON.stringify(r))
    return r.access_token as string
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-fabric-auth-vm-'))
    idp = await startIdp()
    const diskSha256 = await writeBench(dir, IMAGE_MIB)
    await writeFile(join(dir, 'hub.toml'), hubToml(idp))
    await writeFile(join(dir, 'admin.jwt'), await token(idp.adminServiceClient), { mode: 0o600 })
    const importerToken = await token(idp.serviceClient)
    const env = { XDG_STATE_HOME: join(dir, 'state') }

    const hubPort = await freePort()
    hub = startTether(
      [
        'hub',
        '--config',
        join(dir, 'hub.toml'),
        '--listen',
        `/ip4/127.0.0.1/tcp/${hubPort}`,
        '--identity',
        join(dir, 'hub.key'),
        '--state',
        join(dir, 'hub-state'),
      ],
      env,
    )
    const hubLine = await hub.waitForLine(
      /^hub listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/(\S+))$/,
      30_000,
    )
    const hubAddress = hubLine[1] as string
    const admin = {
      XDG_STATE_HOME: join(dir, 'admin'),
      TETHER_CREDENTIALS: 'file',
      TETHER_HUB: hubAddress,
      DISPLAY: '',
      WAYLAND_DISPLAY: '',
    }
    assert.match(
      await tetherOk(['login', hubAddress, '--token-cmd', `cat '${join(dir, 'admin.jwt')}'`], admin),
      /as lab-admin \(roles: admin\)/,
    )
    const join_ = JSON.parse(await tetherOk(['admin', 'join-token', 'host', '--json'], admin)) as {
      token: string
    }
    const exporterPort = await freePort()
    const exporterArgs = [
      'export',
      '--hub',
      hubAddress,
      '--listen',
      `/ip4/127.0.0.1/tcp/${exporterPort}`,
      '--announce',
      `/ip4/${EXPORTER_GUEST_ADDRESS}/tcp/${exporterPort}`,
      '--identity',
      join(dir, 'exporter.key'),
      join(dir, 'places.toml'),
    ]
    exporter = startTether([...exporterArgs, '--join-token', join_.token], env)
    await exporter.waitForLine(/^registered with hub /, 30_000)

    let partial = ''
    session = await runGuestSession({
      script: [
        `TETHER='${process.execPath} ${CLI_MAIN}'`,
        `HUB=/ip4/${HUB_GUEST_ADDRESS}/tcp/${hubPort}/p2p/${hubLine[2]}`,
        `DISK_SHA256=${diskSha256}`,
        `EXPIRY_LEASE=${EXPIRY_LEASE}`,
        await readFile(join(repoRoot, 'test', 'vm', 'fabric-attach-auth.guest.sh'), 'utf8'),
      ].join('\n'),
      files: { 'importer.jwt': importerToken },
      forwards: [
        { guestAddress: HUB_GUEST_ADDRESS, guestPort: hubPort, hostPort: hubPort },
        { guestAddress: EXPORTER_GUEST_ADDRESS, guestPort: exporterPort, hostPort: exporterPort },
      ],
      timeoutMs: 12 * 60_000,
      onOutput: (text) => {
        const at = Date.now()
        const lines = (partial + text).split('\n')
        partial = lines.pop() ?? ''
        for (const raw of lines) {
          const line = raw.replace(/\r$/, '')
          if (line === 'RESTART-EXPORTER-NOW' && !restarted) {
            // Enrolled already: the restarted exporter needs no join token.
            restarted = (async () => {
              await exporter?.stop()
              exporter = startTether(exporterArgs, env)
            })()
          }
          const marker = /^(KICK-NOW|EXPIRY-ARMED|GONE) (\S+)$/.exec(line)
          if (!marker) continue
          const [, what, arg] = marker as unknown as [string, string, string]
          if (what === 'GONE') seen.set(`gone ${arg}`, at)
          else seen.set(what, at)
          if (what === 'EXPIRY-ARMED') expiryLease = arg
          if (what === 'KICK-NOW' && kick.lease === undefined) {
            kick.lease = arg
            kick.startedAt = at
            kickDone = runTether(['admin', 'kick', arg, '--reason', KICK_REASON], admin, 60_000).then((r) => {
              kick.run = r
            })
          }
        }
      },
    })
    await Promise.all([kickDone, restarted])
    // The audit log, from the hub's own database once it has stopped.
    await exporter?.stop()
    await hub.stop()
    const store = new SqliteReservationStore(openDatabase(join(dir, 'hub-state', 'hub.db')))
    try {
      ended = (await store.audit({ types: ['lease-ended'] })).map((r) => r.event as LeaseEnded)
    } finally {
      store.close()
    }
  })

  after(async () => {
    await exporter?.stop()
    await hub?.stop()
    await idp?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  const timing = (t: TestContext | undefined, name: string) => {
    const line = new RegExp(`^TIMING ${name}: .*$`, 'm').exec(session.output)?.[0]
    if (line) t?.diagnostic(line.slice('TIMING '.length))
  }
  /** The agent's reason per attachment, as the section printed it ("TARGET ended: REASON"). */
  const endedReasons = (t: TestContext, text: string) => {
    const lines = text
      .split('\n')
      .map((l) => l.trimEnd())
      .filter((l) => / ended: /.test(l))
    for (const line of lines) t.diagnostic(line)
    return lines
  }

  test('CI login with --token-cmd, tether reserve, tether attach with a capability: echo and disk work', (t) => {
    reporter.assertSectionPassed(session, 'login')
    reporter.assertSectionPassed(session, 'attach')
    timing(t, 'attach')
  })

  test('the exporter restarted while the lease is valid: the agent re-attaches with its capability', () => {
    assert.ok(restarted, 'the guest never asked for the restart')
    reporter.assertSectionPassed(session, 'restart')
  })

  test('tether admin kick: the devices are gone and the vhci ports free within 5 s; the agent stops', (t) => {
    const text = reporter.assertSectionPassed(session, 'kick')
    assert.equal(endedReasons(t, text).filter((l) => /ERR_TOKEN_REVOKED/.test(l)).length, 2)
    assert.ok(kick.run, 'the host never ran tether admin kick')
    assert.equal(kick.run.code, 0, `tether admin kick failed:\n${kick.run.stderr}${kick.run.stdout}`)
    assert.match(
      kick.run.stdout,
      new RegExp(`^kicked ci-lab from host/bench \\(lease ${kick.lease}\\)$`, 'm'),
    )
    const record = ended.find((e) => e.lease.id === kick.lease)
    assert.ok(record, `no lease-ended record for the kicked lease ${kick.lease}: ${JSON.stringify(ended)}`)
    assert.deepEqual([record.reason, record.by, record.note], ['kicked', 'lab-admin', KICK_REASON])
    const gone = seen.get('gone kick')
    assert.ok(gone !== undefined, 'the guest never reported the devices gone')
    const sinceKick = gone - record.at
    t.diagnostic(`kick → gone: ${sinceKick} ms after the hub committed the kick`)
    t.diagnostic(`${gone - (kick.startedAt as number)} ms after tether admin kick started on the host`)
    timing(t, 'kick')
    assert.ok(sinceKick >= 0, `the devices were gone ${-sinceKick} ms before the kick`)
    assert.ok(sinceKick < LIMIT_MS, `the devices were still there ${sinceKick} ms after the kick`)
  })

  test('lease expiry: the devices are gone within 5 s of the lease end; the agent stops', (t) => {
    assert.equal(endedReasons(t, reporter.assertSectionPassed(session, 'expiry')).length, 2)
    const record = ended.find((e) => e.lease.id === expiryLease)
    assert.ok(record, `no lease-ended record for lease ${expiryLease}: ${JSON.stringify(ended)}`)
    assert.equal(record.reason, 'expired')
    const end = record.lease.expiresAt
    const armed = seen.get('EXPIRY-ARMED') as number
    const gone = seen.get('gone expiry')
    assert.ok(gone !== undefined, 'the guest never reported the devices gone')
    t.diagnostic(`the devices were verified ${end - armed} ms before the lease's end (${EXPIRY_LEASE} lease)`)
    t.diagnostic(`expiry → gone: ${gone - end} ms after the lease's end`)
    timing(t, 'expiry')
    assert.ok(
      armed < end,
      `the lease (${EXPIRY_LEASE}) ended before the guest had attached and checked the devices`,
    )
    // A capability's exp is whole seconds: the exporter may close up to 1 s before the lease's end.
    assert.ok(gone > end - 1_500, `the devices went ${end - gone} ms before the lease ended`)
    assert.ok(gone - end < LIMIT_MS, `the devices were still there ${gone - end} ms after the lease ended`)
  })

  test('tether detach clears the ended attachments; the kernel log has no error', () => {
    reporter.assertSectionPassed(session, 'detach')
    assert.ok(session.result, 'the guest did not finish')
    assert.deepEqual(kernelErrors(session.result.dmesg), [])
  })
})
