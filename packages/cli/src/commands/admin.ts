/**
 * `tether admin ...`: what the hub's admins do — exporter join tokens, grants and their revocation,
 * kicking a lease, taking a place into or out of maintenance, reading the audit log (audit.ts).
 * The hub checks the admin role.
 */
import type { Argv } from 'yargs'
import { CliUsageError } from '../address.js'
import { auditCommand } from './audit.js'
import {
  formatLocalTime,
  hubOption,
  jsonOption,
  parseDuration,
  parseSubject,
  parseTime,
  printJson,
  withHub,
} from './hub-session.js'

export interface GrantWindowArgs {
  from: string
  until?: string | undefined
  for?: string | undefined
}

/** [start, end) in epoch ms from --from and --until or --for. */
export function grantWindow(args: GrantWindowArgs, now: number): { startsAtMs: number; endsAtMs: number } {
  if ((args.until === undefined) === (args.for === undefined)) {
    throw new CliUsageError('say how long the grant lasts: --until TIME or --for DURATION')
  }
  const startsAtMs = parseTime(args.from, now, '--from')
  const endsAtMs =
    args.until !== undefined
      ? parseTime(args.until, now, '--until')
      : startsAtMs + parseDuration(args.for as string, '--for')
  if (endsAtMs <= startsAtMs) throw new CliUsageError('the grant must end after it starts')
  if (endsAtMs <= now) throw new CliUsageError('the grant would end in the past')
  return { startsAtMs, endsAtMs }
}

export function adminCommands(y: Argv): Argv {
  return y
    .command<{ exporter: string; hub?: string; valid?: string; json: boolean }>(
      'join-token <exporter>',
      'A one-time token that lets the exporter of that name enroll its key with the hub',
      (a) =>
        a
          .positional('exporter', { type: 'string', demandOption: true, describe: "The exporter's name" })
          .option('hub', hubOption)
          .option('valid', { type: 'string', describe: 'How long it may be used, e.g. 1h (default: 24h)' })
          .option('json', jsonOption),
      (args) => {
        const validMs = args.valid === undefined ? 0 : parseDuration(args.valid, '--valid')
        return withHub(args.hub, async (session) => {
          const answer = await session.call({ type: 'join-token', exporter: args.exporter, validMs })
          if (answer.type !== 'join-token') throw new Error(`unexpected answer: ${answer.type}`)
          if (args.json) {
            printJson({ exporter: args.exporter, token: answer.token, expiresAtMs: answer.expiresAtMs })
            return
          }
          process.stdout.write(
            `join token for exporter ${args.exporter} (shown only now; works once, until ` +
              `${formatLocalTime(answer.expiresAtMs, Date.now())}):\n\n  ${answer.token}\n\n` +
              `The exporter named "${args.exporter}" enrolls its key with it once, on its first start:\n` +
              `  tether export --hub ${session.hub} --join-token TOKEN places.toml\n` +
              'After that the hub admits it by its key; the token is spent.\n',
          )
        })
      },
    )
    .command<{
      subject: string
      hub?: string
      place?: string
      tag?: string
      from: string
      until?: string
      for?: string
      json: boolean
    }>(
      'grant <subject>',
      'Reserve a place (or every place with a tag) for a user or group over a time window',
      (a) =>
        a
          .positional('subject', { type: 'string', demandOption: true, describe: 'user:NAME or group:NAME' })
          .option('hub', hubOption)
          .option('place', { type: 'string', describe: 'The place' })
          .option('tag', { type: 'string', describe: 'Every place with this tag' })
          .option('from', { type: 'string', default: 'now', describe: 'Start: now, +1h, "2025-06-02 14:00"' })
          .option('until', { type: 'string', describe: 'End: a time like --from' })
          .option('for', { type: 'string', describe: 'Or the length, e.g. 4h' })
          .option('json', jsonOption)
          .conflicts('place', 'tag')
          .conflicts('until', 'for')
          .example('$0 admin grant group:lab-a --tag lab-a --from "2025-06-02 09:00" --for 8h', 'a lab day'),
      (args) => {
        const subject = parseSubject(args.subject)
        if (!args.place && !args.tag) throw new CliUsageError('name what to grant: --place P or --tag T')
        const now = Date.now()
        const window = grantWindow(args, now)
        return withHub(args.hub, async (session) => {
          const answer = await session.call({
            type: 'grant',
            subject,
            ...(args.place ? { place: args.place } : { tag: args.tag as string }),
            ...window,
          })
          const id = answer.type === 'granted' ? answer.id : undefined
          if (args.json) {
            printJson({ id, subject, place: args.place, tag: args.tag, ...window })
            return
          }
          process.stdout.write(
            `granted ${args.place ? `place ${args.place}` : `places tagged ${args.tag}`} to ${subject} ` +
              `from ${formatLocalTime(window.startsAtMs, now)} until ${formatLocalTime(window.endsAtMs, now)}` +
              `${id ? ` (${id}; tether admin revoke ${id} ends it)` : ''}\n`,
          )
        })
      },
    )
    .command<{ id: string; hub?: string; reason: string }>(
      'revoke <id>',
      'Revoke a grant (or end a lease)',
      (a) =>
        a
          .positional('id', { type: 'string', demandOption: true })
          .option('hub', hubOption)
          .option('reason', { type: 'string', default: '', describe: 'Why (kept in the hub’s log)' }),
      (args) =>
        withHub(args.hub, async (session) => {
          await session.call({ type: 'revoke', id: args.id, reason: args.reason })
          process.stdout.write(`revoked ${args.id}\n`)
        }),
    )
    .command<{ lease: string; hub?: string; reason: string; json: boolean }>(
      'kick <lease>',
      "End someone's lease now",
      (a) =>
        a
          .positional('lease', { type: 'string', demandOption: true })
          .option('hub', hubOption)
          .option('reason', { type: 'string', demandOption: true, describe: 'Why (the holder is told)' })
          .option('json', jsonOption),
      (args) => {
        if (!args.reason.trim()) throw new CliUsageError('give a --reason for the holder')
        return withHub(args.hub, async (session) => {
          const answer = await session.call({ type: 'kick', leaseId: args.lease, reason: args.reason })
          if (answer.type !== 'lease') throw new Error(`unexpected answer: ${answer.type}`)
          if (args.json) printJson(answer.lease)
          else {
            const l = answer.lease
            process.stdout.write(`kicked ${l.user} from ${l.exporter}/${l.place} (lease ${l.id})\n`)
          }
        })
      },
    )
    .command<{ place: string; state: string; hub?: string; reason: string }>(
      'maintenance <place> <state>',
      'Take a place out of service (on) or back into it (off)',
      (a) =>
        a
          .positional('place', { type: 'string', demandOption: true })
          .positional('state', { type: 'string', choices: ['on', 'off'], demandOption: true })
          .option('hub', hubOption)
          .option('reason', { type: 'string', default: '', describe: 'Why (kept in the hub’s log)' }),
      (args) =>
        withHub(args.hub, async (session) => {
          const on = args.state === 'on'
          await session.call({ type: 'maintenance', place: args.place, on, reason: args.reason })
          process.stdout.write(
            on ? `place ${args.place} is in maintenance\n` : `place ${args.place} is back in service\n`,
          )
        }),
    )
    .command(auditCommand)
}
