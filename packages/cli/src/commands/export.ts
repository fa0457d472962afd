/** `tether export`: serve the places of a places.toml through tunnels and register them with a hub. */
import type { Logger } from '@tether/net'
import type { Argv } from 'yargs'

export interface ExportArgs {
  places: string
  hub: string | undefined
  listen: string[] | undefined
  announce: string[] | undefined
  identity: string | undefined
  insecureOpen: boolean
  joinToken: string | undefined
  json: boolean
  check: boolean
}

export function exportCommand(cli: Argv, makeLogger: () => Logger) {
  return cli.command<ExportArgs>(
    'export <places>',
    'Export the places described in a places.toml: serve their devices over tunnels and register with a hub',
    (y) =>
      y
        .positional('places', { type: 'string', demandOption: true, describe: 'The places.toml file' })
        .option('hub', {
          type: 'string',
          describe: 'Hub multiaddr ending in /p2p/<hub peer id> (overrides [hub] address)',
        })
        .option('listen', {
          type: 'string',
          array: true,
          describe: 'Multiaddr to listen on, repeatable (overrides [network] listen)',
        })
        .option('announce', {
          type: 'string',
          array: true,
          describe: 'Extra multiaddr to announce, repeatable (overrides [network] announce)',
        })
        .option('identity', {
          type: 'string',
          describe:
            'Identity key file (default [network] identity, else $XDG_STATE_HOME/tether/exporter.key)',
        })
        .option('join-token', {
          type: 'string',
          describe:
            'A one-time join token from a hub admin (tether admin join-token NAME): enrolls this exporter',
        })
        .option('insecure-open', {
          type: 'boolean',
          default: false,
          describe:
            'Without a hub with [auth]: accept tunnels without tokens (anyone who can reach it can attach)',
        })
        .option('json', { type: 'boolean', default: false, describe: 'Print events as JSON lines' })
        .option('check', {
          type: 'boolean',
          default: false,
          describe: 'Only validate the file and print its places (no network); exit 0 if valid, 1 if not',
        })
        .example('$0 export --check places.toml', 'validate places.toml')
        .example(
          '$0 export --insecure-open --hub /ip4/192.0.2.1/tcp/4001/p2p/12D3KooW... places.toml',
          'run the exporter',
        ),
    async (args) => (await import('./export-run.js')).runExport(args, makeLogger),
  )
}
