/**
 * Builds a netns topology and keeps it up until Ctrl-C, for poking at it by hand (needs root).
 *
 *   node test/dist/lib/netns-cli.js [two-sites | exporter-public]   (default two-sites)
 *   node test/dist/lib/netns-cli.js --sweep    remove namespaces left by dead runs
 *   node test/dist/lib/netns-cli.js --list     list this rig's namespaces on the machine
 *
 * While it runs, open a shell on a host with the printed `ip netns exec <ns> bash`. Ctrl-C kills
 * everything running in the namespaces (those shells too) and deletes them.
 */
import { parseArgs } from 'node:util'
import {
  exporterBehindNatImporterPublic,
  listRigNamespaces,
  sweepStaleNamespaces,
  type Topology,
  twoSitesBehindNat,
} from './netns.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    sweep: { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
  },
})

const builders: Record<string, () => Promise<Topology>> = {
  'two-sites': twoSitesBehindNat,
  'exporter-public': exporterBehindNatImporterPublic,
}

if (values.list) {
  for (const name of listRigNamespaces()) process.stdout.write(`${name}\n`)
  process.exit(0)
}
if (values.sweep) {
  const removed = await sweepStaleNamespaces()
  process.stdout.write(removed.length === 0 ? 'nothing stale\n' : `removed ${removed.join(' ')}\n`)
  process.exit(0)
}
const which = positionals[0] ?? 'two-sites'
const build = builders[which]
if (!build || positionals.length > 1) {
  process.stderr.write(`usage: netns-cli [${Object.keys(builders).join(' | ')}] | --sweep | --list\n`)
  process.exit(2)
}

const topo = await build()
const lines = [`topology ${which} (${topo.id}); public segment 198.51.100.0/24 in ${topo.publicNs}`]
for (const r of Object.values(topo.routers)) {
  lines.push(`  router ${r.name}: WAN ${r.wanAddress}, LAN ${r.lanSubnet}`)
  lines.push(`    ip netns exec ${r.ns} bash`)
}
for (const h of Object.values(topo.hosts)) {
  const where = h.router ? `behind ${h.router}, seen as ${h.publicAddress}` : 'public'
  lines.push(`  host ${h.name}: ${h.address} (${where})`)
  lines.push(`    ip netns exec ${h.ns} bash`)
}
lines.push('Ctrl-C to tear it down.')
process.stdout.write(`${lines.join('\n')}\n`)

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  process.stdout.write('tearing down...\n')
  try {
    await topo.destroy()
    process.exit(0)
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  }
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
// Keep the event loop alive until a signal arrives.
setInterval(() => {}, 1 << 30)
