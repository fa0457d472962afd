/**
 * `tether attach` inside the guest (Debian's kernel, vhci_hcd) attaches the CDC-ACM board and the
 * virtual disk that the host exports through a hub and a direct libp2p tunnel: the line echo and
 * the sha256 read-back pass; the host restarts the exporter mid-session and the agent re-attaches
 * both by itself; `tether detach` leaves no kernel error. One guest boot.
 *
 * Network: the guest reaches the host's hub as 10.0.2.100:HUB and the exporter as 10.0.2.101:EXP
 * (guestfwd relays to 127.0.0.1); the exporter announces that address (`--announce`).
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, type TestContext, test } from 'node:test'
import { writeBench } from '../lib/bench.js'
import { freePort, startTether, type TetherProcess } from '../lib/tether-process.js'
import { CLI_MAIN } from '../lib/tether-server.js'
import { type GuestResult, kernelErrors, repoRoot, runGuest, tail } from '../lib/vm.js'

const HUB_GUEST_ADDRESS = '10.0.2.100'
const EXPORTER_GUEST_ADDRESS = '10.0.2.101'
const IMAGE_MIB = 8

describe('tether attach in the guest, through the hub and a tunnel', { timeout: 10 * 60_000 }, () => {
  let dir = ''
  let hub: TetherProcess | undefined
  let exporter: TetherProcess | undefined
  let result: GuestResult | undefined
  let restarted = false
  let exporterArgs: string[] = []
  let env: NodeJS.ProcessEnv = {}

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-fabric-vm-'))
    env = { XDG_STATE_HOME: join(dir, 'state') }
    const sha = await writeBench(dir, IMAGE_MIB)

    const hubPort = await freePort()
    hub = startTether(['hub', '--insecure-open', '--listen', `/ip4/127.0.0.1/tcp/${hubPort}`], env)
    const hubLine = await hub.waitForLine(
      /^hub listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/(\S+))$/,
      30_000,
    )
    const hubPeer = hubLine[2] as string
    const exporterPort = await freePort()
    exporterArgs = [
      'export',
      '--insecure-open',
      '--hub',
      hubLine[1] as string,
      '--listen',
      `/ip4/127.0.0.1/tcp/${exporterPort}`,
      '--announce',
      `/ip4/${EXPORTER_GUEST_ADDRESS}/tcp/${exporterPort}`,
      join(dir, 'places.toml'),
    ]
    exporter = startTether(exporterArgs, env)
    await exporter.waitForLine(/^registered with hub /, 30_000)

    let seen = ''
    result = await runGuest({
      script: [
        `TETHER='${process.execPath} ${CLI_MAIN}'`,
        `HUB=/ip4/${HUB_GUEST_ADDRESS}/tcp/${hubPort}/p2p/${hubPeer}`,
        `DISK_SHA256=${sha}`,
        await readFile(join(repoRoot, 'test', 'vm', 'fabric-attach.guest.sh'), 'utf8'),
      ].join('\n'),
      forwards: [
        { guestAddress: HUB_GUEST_ADDRESS, guestPort: hubPort, hostPort: hubPort },
        { guestAddress: EXPORTER_GUEST_ADDRESS, guestPort: exporterPort, hostPort: exporterPort },
      ],
      timeoutMs: 8 * 60_000,
      onOutput: (text) => {
        seen += text
        if (!restarted && seen.includes('RESTART-EXPORTER-NOW')) {
          restarted = true
          void (async () => {
            await exporter?.stop()
            exporter = startTether(exporterArgs, env)
          })()
        }
      },
    })
  })

  after(async () => {
    await exporter?.stop()
    await hub?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  const section = (name: string, t?: TestContext) => {
    const r = result as GuestResult
    const timing = new RegExp(`^TIMING ${name}: .*$`, 'm').exec(r.output)?.[0]
    if (timing) t?.diagnostic(timing.slice('TIMING '.length))
    const match = new RegExp(`^RESULT ${name} (\\d+)`, 'm').exec(r.output)
    assert.ok(
      match,
      `section ${name} did not run:\n${tail(r.output, 60)}\n--- exporter ---\n${tail(exporter?.output() ?? '', 20)}`,
    )
    assert.equal(
      match[1],
      '0',
      `section ${name} failed:\n${tail(r.output, 60)}\n--- exporter ---\n${tail(exporter?.output() ?? '', 20)}`,
    )
  }

  test('tether attach: direct tunnel, /dev/ttyACM0 echoes, /dev/sda reads back byte-identical', (t) =>
    section('attach', t))

  test('exporter restarted mid-session: the agent re-attaches by itself', (t) => {
    assert.ok(restarted, 'the guest never asked for the restart')
    section('restart', t)
  })

  test('tether detach leaves no kernel error', () => {
    section('detach')
    assert.deepEqual(kernelErrors((result as GuestResult).dmesg), [])
  })
})
