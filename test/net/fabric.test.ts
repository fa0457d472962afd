/**
 * The fabric across NATs: `tether hub`, `tether export` and the importer agent run as separate
 * processes in network namespaces (test/lib/netns.ts). Each case asserts the path the tunnel
 * took and that USB/IP works through it — stock `usbip list` through the agent's local endpoint,
 * and bulk URBs (every byte checked) through the userspace client. Needs root.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  exporterBehindNatImporterPublic,
  type NetProcess,
  netnsSkipReason,
  type Topology,
  twoSitesBehindNat,
} from '../lib/netns.js'

const TETHER = fileURLToPath(new URL('../../../packages/cli/dist/src/main.js', import.meta.url))
const URB_LOAD = fileURLToPath(new URL('./urb-load.js', import.meta.url))
const HUB_PORT = 4001
const ENDPOINT = '127.0.0.1:3240'

const PLACES = `
name = "lab-a"
[[place]]
name = "bench"
tags = ["netns"]
  [[place.part]]
  name = "board"
    [[place.part.interface]]
    name = "console"
    model = "cdc-acm"
    [[place.part.interface]]
    name = "zero"
    model = "gadget-zero"
    pattern = 1
`

interface Fabric {
  topo: Topology
  hub: NetProcess
  exporter: NetProcess
  agent: NetProcess
  hubAddress: string
  dir: string
  tether(host: string, args: string[], timeoutMs?: number): Promise<string>
}

/** Hub on `hub`, exporter on `exporter`, agent on `importer`; the agent forwards place "bench". */
async function startFabric(topo: Topology): Promise<Fabric> {
  const dir = mkdtempSync(join(tmpdir(), 'tether-fabric-'))
  const env = (host: string) => ({
    XDG_STATE_HOME: join(dir, host, 'state'),
    TETHER_AGENT_SOCKET: join(dir, host, 'agent.sock'),
  })
  const hub = topo.spawnNode(
    'hub',
    TETHER,
    ['hub', '--insecure-open', '--listen', `/ip4/0.0.0.0/tcp/${HUB_PORT}`],
    env('hub'),
  )
  const hubLine = await hub.waitForLine(
    new RegExp(
      `^hub listening on (/ip4/${topo.hosts.hub?.address.replaceAll('.', '\\.')}/tcp/${HUB_PORT}/p2p/\\S+)$`,
    ),
    30_000,
  )
  const hubAddress = hubLine[1] as string
  const placesFile = join(dir, 'places.toml')
  writeFileSync(placesFile, PLACES)
  const exporter = topo.spawnNode(
    'exporter',
    TETHER,
    ['export', '--insecure-open', '--hub', hubAddress, placesFile],
    env('exporter'),
  )
  await exporter.waitForLine(/^registered with hub /, 30_000)
  const agent = topo.spawnNode('importer', TETHER, ['agent', '--hub', hubAddress], env('importer'))
  await agent.waitForLine(/^agent \S+ ready on /, 30_000)
  const tether = async (host: string, args: string[], timeoutMs = 60_000) => {
    const result = await topo.run(host, process.execPath, [TETHER, ...args], {
      env: { ...process.env, ...env(host) },
      timeoutMs,
    })
    assert.equal(
      result.code,
      0,
      `tether ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}\n--- agent ---\n${agent.describe()}`,
    )
    return result.stdout
  }
  return { topo, hub, exporter, agent, hubAddress, dir, tether }
}

async function stopFabric(fabric: Fabric | undefined): Promise<void> {
  if (!fabric) return
  await fabric.topo.destroy()
  rmSync(fabric.dir, { recursive: true, force: true })
}

interface Load {
  bytes: number
  mbps: number
}

async function urbLoad(fabric: Fabric, megabytes: number): Promise<Load> {
  const result = await fabric.topo.run(
    'importer',
    process.execPath,
    [URB_LOAD, ENDPOINT, '1-2', String(megabytes), '4'],
    {
      timeoutMs: 240_000,
    },
  )
  assert.equal(result.code, 0, `urb-load failed: ${result.stderr}\n--- agent ---\n${fabric.agent.describe()}`)
  return JSON.parse(result.stdout) as Load
}

async function forwardPath(fabric: Fabric): Promise<string> {
  const status = JSON.parse(await fabric.tether('importer', ['status', '--json'])) as {
    forwards: { path?: string; bytesIn: number }[]
  }
  const path = status.forwards[0]?.path
  assert.ok(path, `the agent has no connection to the exporter: ${JSON.stringify(status)}`)
  return path
}

async function usbipList(fabric: Fabric): Promise<string> {
  const result = await fabric.topo.run('importer', 'usbip', ['--tcp-port', '3240', 'list', '-r', '127.0.0.1'])
  assert.equal(result.code, 0, `usbip list failed: ${result.stderr}`)
  return result.stdout
}

const skip = netnsSkipReason()

describe('exporter behind NAT, importer reachable', { skip, timeout: 300_000 }, () => {
  let fabric: Fabric | undefined
  before(async () => {
    fabric = await startFabric(await exporterBehindNatImporterPublic())
    await fabric.tether('importer', ['forward', 'bench', '--listen', ENDPOINT, '--no-start'])
  })
  after(() => stopFabric(fabric))

  test('stock usbip lists the remote devices through the local endpoint', async () => {
    const f = fabric as Fabric
    const listing = await usbipList(f)
    assert.match(listing, /1-1: .*\(0525:a4a7\)/)
    assert.match(listing, /1-2: .*\(0525:a4a0\)/)
  })

  test('the tunnel is direct: the exporter dialled the importer back', async () => {
    const f = fabric as Fabric
    assert.equal(await forwardPath(f), 'direct')
    const load = await urbLoad(f, 16)
    assert.equal(load.bytes, 16 * 1024 * 1024)
  })

  test('hub stopped: the direct tunnel keeps working', async () => {
    const f = fabric as Fabric
    await f.hub.kill('SIGTERM', 5_000)
    const load = await urbLoad(f, 8)
    assert.equal(load.bytes, 8 * 1024 * 1024)
    assert.match(await usbipList(f), /0525:a4a0/)
    assert.equal(await forwardPath(f), 'direct')
  })
})

describe('both behind NAT', { skip, timeout: 300_000 }, () => {
  let fabric: Fabric | undefined
  before(async () => {
    fabric = await startFabric(await twoSitesBehindNat())
    await fabric.tether('importer', ['forward', 'bench', '--listen', ENDPOINT, '--no-start'])
  })
  after(() => stopFabric(fabric))

  test('the tunnel is relayed through the hub and carries more than 100 MB', async () => {
    const f = fabric as Fabric
    assert.match(await usbipList(f), /1-2: .*\(0525:a4a0\)/)
    assert.equal(await forwardPath(f), 'relayed')
    const load = await urbLoad(f, 112)
    assert.equal(load.bytes, 112 * 1024 * 1024)
    assert.equal(await forwardPath(f), 'relayed')
  })
})
