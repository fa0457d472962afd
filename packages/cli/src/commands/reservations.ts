/**
 * Reservations at a hub with [auth]: `tether reserve` (waiting in the queue, showing the position),
 * `return`, `renew`, `list`, `who` and `show`.
 */
import type { LeaseInfo, QueueEntryInfo } from '@tether/control'
import type { Argv } from 'yargs'
import {
  describeLease,
  formatLocalTime,
  formatReservations,
  type HubSession,
  hubOption,
  jsonOption,
  parseDuration,
  printJson,
  reserveBody,
  withHub,
} from './hub-session.js'

interface ReserveCliArgs {
  place?: string
  hub?: string
  tag: string[]
  compatible: string[]
  priority: number
  for?: string
  wait: boolean
  json: boolean
}

export function describeEntry(entry: QueueEntryInfo, now: number): string {
  return (
    `queue entry ${entry.id}: ${entry.user} waits for ${entry.wanted} at position ${entry.position} ` +
    `(priority ${entry.priority}, since ${formatLocalTime(entry.enqueuedAtMs, now)})`
  )
}

/** Asks for a lease; waits in the queue (unless --no-wait) until Ctrl-C, which leaves the queue. */
async function reserve(
  session: HubSession,
  body: ReturnType<typeof reserveBody>,
  args: ReserveCliArgs,
): Promise<void> {
  const controller = new AbortController()
  const stop = () => controller.abort(new Error('cancelled'))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  let entry: QueueEntryInfo | undefined
  let lastPosition = -1
  let answer: Awaited<ReturnType<HubSession['call']>>
  try {
    answer = await session.call(body, {
      signal: controller.signal,
      timeoutMs: args.wait ? 0 : undefined,
      onProgress: (e) => {
        entry = e
        if (e.position === lastPosition) return
        lastPosition = e.position
        process.stderr.write(`waiting: position ${e.position} in the queue (${e.id})\n`)
      },
    })
  } catch (err) {
    if (!controller.signal.aborted) throw err
    await leaveQueue(session, entry)
    process.exitCode = 130
    return
  } finally {
    process.removeListener('SIGINT', stop)
    process.removeListener('SIGTERM', stop)
  }
  if (answer.type !== 'lease') throw new Error(`unexpected answer to reserve: ${answer.type}`)
  printLease(answer.lease, args.json)
}

/** The hub keeps a waiting entry when the connection drops: giving up needs an explicit return. */
async function leaveQueue(session: HubSession, entry: QueueEntryInfo | undefined): Promise<void> {
  if (!entry) {
    process.stderr.write('cancelled before the hub named a queue entry; check with tether list\n')
    return
  }
  try {
    const answer = await session.call({ type: 'return', id: entry.id }, { timeoutMs: 10_000 })
    if (answer.type === 'lease') {
      // The lease came just as we gave up: it was returned with the entry's id... or not ours.
      process.stderr.write(`cancelled; returned lease ${answer.lease.id}\n`)
    } else process.stderr.write(`cancelled; left the queue (${entry.id})\n`)
  } catch (err) {
    process.stderr.write(
      `tether: could not leave the queue (${entry.id}): ${(err as Error).message}; ` +
        `run tether return ${entry.id}, and see tether list\n`,
    )
    process.exitCode = 1
  }
}

function printLease(lease: LeaseInfo, json: boolean): void {
  if (json) printJson(lease)
  else process.stdout.write(`${describeLease(lease, Date.now())}\n`)
}

export function reservationCommands(cli: Argv): Argv {
  return cli
    .command<ReserveCliArgs>(
      'reserve [place]',
      'Reserve a place (by name, or any with --tag/--compatible); waits in the queue when it is taken',
      (y) =>
        y
          .positional('place', { type: 'string', describe: 'The place to reserve' })
          .option('hub', hubOption)
          .option('tag', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: 'Any place with this tag (repeatable: all must match)',
          })
          .option('compatible', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: 'Any place with a part compatible with all of these (repeatable)',
          })
          .option('priority', { type: 'number', default: 0, describe: 'Queue priority, up to your cap' })
          .option('for', { type: 'string', describe: 'Lease length, e.g. 30m or 2h (default: the policy)' })
          .option('wait', {
            type: 'boolean',
            default: true,
            describe: 'Wait in the queue when nothing is free (--no-wait: fail at once)',
          })
          .option('json', jsonOption)
          .example('$0 reserve rpi-1 --for 2h', 'reserve place rpi-1 for two hours')
          .example('$0 reserve --tag lab-a --compatible raspberrypi,4-model-b', 'any matching place'),
      (args) => {
        const body = reserveBody(args)
        return withHub(args.hub, (session) => reserve(session, body, args))
      },
    )
    .command<{ id: string; hub?: string; json: boolean }>(
      'return <id>',
      'Return a lease (or leave the queue with a queue entry id)',
      (y) =>
        y
          .positional('id', { type: 'string', demandOption: true })
          .option('hub', hubOption)
          .option('json', jsonOption),
      (args) =>
        withHub(args.hub, async (session) => {
          const answer = await session.call({ type: 'return', id: args.id })
          if (args.json) printJson(answer.type === 'lease' ? answer.lease : answer)
          else if (answer.type === 'lease') {
            process.stdout.write(
              `returned ${answer.lease.id} (${answer.lease.exporter}/${answer.lease.place})\n`,
            )
          } else process.stdout.write(`left the queue (${args.id})\n`)
        }),
    )
    .command<{ id: string; hub?: string; for?: string; json: boolean }>(
      'renew <id>',
      'Extend a lease: it then ends --for from now (default: as late as the policy allows)',
      (y) =>
        y
          .positional('id', { type: 'string', demandOption: true })
          .option('hub', hubOption)
          .option('for', { type: 'string', describe: 'The lease ends this long from now, e.g. 1h' })
          .option('json', jsonOption),
      (args) => {
        const leaseMs = args.for === undefined ? 0 : parseDuration(args.for, '--for')
        return withHub(args.hub, async (session) => {
          const answer = await session.call({ type: 'renew', id: args.id, leaseMs })
          if (answer.type !== 'lease') throw new Error(`unexpected answer to renew: ${answer.type}`)
          printLease(answer.lease, args.json)
        })
      },
    )
    .command<{ hub?: string; all: boolean; json: boolean }>(
      'list',
      'Your leases and queue entries (--all: everyone’s, for admins)',
      (y) =>
        y
          .option('hub', hubOption)
          .option('all', { type: 'boolean', default: false, describe: "Everyone's (admins)" })
          .option('json', jsonOption),
      (args) =>
        withHub(args.hub, async (session) => {
          const answer = await session.call({ type: 'list', all: args.all })
          if (answer.type !== 'list') throw new Error(`unexpected answer to list: ${answer.type}`)
          if (args.json) printJson({ leases: answer.leases, queue: answer.queue })
          else process.stdout.write(formatReservations(answer.leases, answer.queue, Date.now()))
        }),
    )
    .command<{ place?: string; hub?: string; json: boolean }>(
      'who [place]',
      'Who holds and who waits for a place (or every place you may use)',
      (y) => y.positional('place', { type: 'string' }).option('hub', hubOption).option('json', jsonOption),
      (args) =>
        withHub(args.hub, async (session) => {
          const answer = await session.call({ type: 'who', ...(args.place ? { place: args.place } : {}) })
          if (answer.type !== 'list') throw new Error(`unexpected answer to who: ${answer.type}`)
          if (args.json) printJson({ leases: answer.leases, queue: answer.queue })
          else process.stdout.write(formatReservations(answer.leases, answer.queue, Date.now()))
        }),
    )
    .command<{ id: string; hub?: string; json: boolean }>(
      'show <id>',
      'Show a lease, queue entry or grant',
      (y) =>
        y
          .positional('id', { type: 'string', demandOption: true })
          .option('hub', hubOption)
          .option('json', jsonOption),
      (args) =>
        withHub(args.hub, async (session) => {
          const answer = await session.call({ type: 'show', id: args.id })
          const now = Date.now()
          if (answer.type === 'lease') {
            if (args.json) printJson({ kind: 'lease', lease: answer.lease })
            else process.stdout.write(`${describeLease(answer.lease, now)}\n`)
          } else if (answer.type === 'list' && answer.queue[0]) {
            if (args.json) printJson({ kind: 'queued', entry: answer.queue[0] })
            else process.stdout.write(`${describeEntry(answer.queue[0], now)}\n`)
          } else if (args.json) printJson({ kind: 'grant', id: args.id })
          else process.stdout.write(`${args.id} is a grant\n`)
        }),
    )
}
