#!/usr/bin/env node
/** The `tether` command. */
import { isUsbipError } from '@tether/usbip'
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { CliUsageError } from './address.js'
import { accountCommands } from './commands/account.js'
import { adminCommands } from './commands/admin.js'
import { consoleCommand } from './commands/console.js'
import { exportCommand } from './commands/export.js'
import { hubCommand } from './commands/hub.js'
import { importerCommands } from './commands/importer.js'
import { placesCommand } from './commands/places.js'
import { reservationCommands } from './commands/reservations.js'
import { serveCommand } from './commands/serve.js'
import { usbipAttachCommand } from './commands/usbip-attach.js'
import { usbipListCommand } from './commands/usbip-list.js'
import { createCliLogger, type LogFormat, type LogLevel } from './logger.js'

/** System errors a user can fix, with the fix; others keep their stack trace. */
const SYSTEM_ERROR_HINTS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'choose another port with --listen HOST:PORT, or :0 for a free one',
  ECONNREFUSED: 'nothing listens there; is `tether serve` (or usbipd) running on that address?',
  EHOSTUNREACH: 'check the address and your network',
  ENOENT: '',
  EACCES: 'run as a user allowed to use it (ports below 1024 need root)',
}

/** The packages' typed errors: their message already names the fix. */
const TETHER_ERRORS = new Set([
  'AgentError',
  'AuthError',
  'IdentityError',
  'ReservationError',
  'VhciError',
  'DirectoryError',
  'ExporterError',
  'HubError',
  'HubRequestError',
  'NetError',
  'VirtualDeviceError',
])

function isTetherError(err: unknown): err is Error & { code: string } {
  return (
    err instanceof Error &&
    TETHER_ERRORS.has(err.name) &&
    typeof (err as { code?: unknown }).code === 'string'
  )
}

const argv = hideBin(process.argv)
const logOptions = { format: 'human' as LogFormat, level: 'info' as LogLevel }
const makeLogger = () => createCliLogger(logOptions)

const cli = yargs(argv)
  .scriptName('tether')
  // Repeatable options take one value each, so they never swallow a positional argument.
  .parserConfiguration({ 'greedy-arrays': false })
  .option('log-format', { choices: ['human', 'json'] as const, default: 'human' as const, global: true })
  .option('log-level', {
    choices: ['debug', 'info', 'warn', 'error'] as const,
    default: 'info' as const,
    global: true,
  })
  .middleware((args) => {
    logOptions.format = args['log-format']
    logOptions.level = args['log-level']
  })
  .command('usbip', 'Talk to USB/IP servers with the userspace client', (y) =>
    usbipAttachCommand(consoleCommand(usbipListCommand(y)), makeLogger).demandCommand(
      1,
      'name a usbip subcommand: list, console, attach, detach or port',
    ),
  )
  .command(
    'admin',
    "Hub administration: join tokens, grants, kicks, maintenance, the audit log (the hub's admins)",
    (y) =>
      adminCommands(y).demandCommand(
        1,
        'name an admin subcommand: join-token, grant, revoke, kick, maintenance or audit',
      ),
  )
  .demandCommand(1, 'name a command; see tether --help')
  .strict()
  .help()
  .fail((message, error) => {
    if (error) throw error
    process.stderr.write(`tether: ${message}; see tether --help\n`)
    process.exit(2)
  })

serveCommand(cli, makeLogger)
hubCommand(cli, makeLogger)
exportCommand(cli, makeLogger)
importerCommands(cli, makeLogger)
placesCommand(cli)
accountCommands(cli)
reservationCommands(cli)

try {
  await cli.parseAsync()
  // Done: a handle libp2p failed to close must not keep a finished command alive. Unref'd, so a
  // command that ends normally exits at once.
  setTimeout(() => process.exit(), 5_000).unref()
} catch (err) {
  if (err instanceof CliUsageError) {
    process.stderr.write(`tether: ${err.message}\n`)
    process.exit(2)
  }
  if (isUsbipError(err) || isTetherError(err)) {
    process.stderr.write(`tether: ${err.message} (${err.code})\n`)
    process.exit(1)
  }
  const code = (err as NodeJS.ErrnoException).code
  const hint = code === undefined ? undefined : SYSTEM_ERROR_HINTS[code]
  if (hint !== undefined) {
    process.stderr.write(`tether: ${(err as Error).message}${hint ? `; ${hint}` : ''}\n`)
    process.exit(1)
  }
  throw err
}
