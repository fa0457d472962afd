/**
 * `tether places`: the hub's directory searched (text, tags, compatible, exporter), each place
 * with its reservation state when the user is logged in to that hub (place-states.ts).
 */
import { AgentError } from '@tether/agent/client'
import type { Argv } from 'yargs'
import { hubOption } from './hub-session.js'
import { describePlaceState, placeStates } from './place-states.js'

export function placesCommand(cli: Argv): Argv {
  return cli.command<{
    query?: string
    hub?: string
    tag: string[]
    compatible: string[]
    exporter?: string
    json: boolean
  }>(
    'places [query]',
    'List or search the places registered with a hub',
    (y) =>
      y
        .positional('query', {
          type: 'string',
          describe: 'Text to look for in exporter, place, part and tag names',
        })
        .option('hub', hubOption)
        .option('tag', {
          type: 'string',
          array: true,
          default: [] as string[],
          describe: 'Only places with this tag (repeatable: all must match)',
        })
        .option('compatible', {
          type: 'string',
          array: true,
          default: [] as string[],
          describe: 'Only places with a part compatible with all of these',
        })
        .option('exporter', { type: 'string' })
        .option('json', { type: 'boolean', default: false }),
    async (args) => {
      if (!args.hub) throw new AgentError('ERR_BAD_REQUEST', 'no hub given: pass --hub (or set TETHER_HUB)')
      const [{ generateKeyPair }, { multiaddr }, { searchDirectory }, { createTetherNode, stopNodeWithin }] =
        await Promise.all([
          import('@libp2p/crypto/keys'),
          import('@multiformats/multiaddr'),
          import('@tether/directory'),
          import('@tether/net'),
        ])
      const node = await createTetherNode({
        privateKey: await generateKeyPair('Ed25519'),
        listen: [],
        webSockets: true,
      })
      try {
        const { entries, truncated } = await searchDirectory(node, multiaddr(args.hub), {
          ...(args.query ? { text: args.query } : {}),
          ...(args.tag.length ? { tags: args.tag } : {}),
          ...(args.compatible.length ? { compatible: args.compatible } : {}),
          ...(args.exporter ? { exporter: args.exporter } : {}),
        })
        if (truncated) {
          process.stderr.write(
            'tether: the hub matched more places than fit in one reply; narrow the search\n',
          )
        }
        const ids = entries.flatMap((e) => e.places.map((p) => `${e.name}/${p.name}`))
        const states = await placeStates(args.hub, ids, node)
        const stateOf = (exporter: string, place: string) => states?.get(`${exporter}/${place}`)
        if (args.json) {
          const withStates = entries.map((e) => ({
            ...e,
            places: e.places.map((p) => {
              const reservation = stateOf(e.name, p.name)
              return reservation ? { ...p, reservation } : p
            }),
          }))
          process.stdout.write(`${JSON.stringify(withStates)}\n`)
          return
        }
        if (entries.length === 0) process.stdout.write('no places match\n')
        const now = Date.now()
        for (const e of entries) {
          for (const p of e.places) {
            const state = stateOf(e.name, p.name)
            process.stdout.write(
              `${e.name}:${p.name}${p.tags.length ? `  [${p.tags.join(', ')}]` : ''}` +
                `${state ? `  — ${describePlaceState(state, now)}` : ''}\n`,
            )
            for (const part of p.parts) {
              for (const i of part.interfaces) {
                process.stdout.write(
                  `  ${part.name}/${i.name}  ${i.kind}${i.busid ? ` ${i.busid}` : ''}${i.description ? `  ${i.description}` : ''}\n`,
                )
              }
            }
          }
        }
      } finally {
        await stopNodeWithin(node)
      }
    },
  )
}
