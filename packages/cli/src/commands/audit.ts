/**
 * `tether admin audit`: the hub's audit log — leases, queue entries, grants, kicks, maintenance
 * and refusals — filtered, as a table (local times; the hub writes the summaries) or JSON. Asks
 * page by page (after the last seq seen) until --limit records; when more match, stderr names the
 * --after that continues.
 */
import type { AuditRecordInfo, HubRequestBody } from '@tether/control'
import type { CommandModule } from 'yargs'
import { CliUsageError } from '../address.js'
import {
  formatLocalStamp,
  formatTable,
  type HubSession,
  hubOption,
  parseDuration,
  parseTime,
  printJson,
  withHub,
} from './hub-session.js'

export const DEFAULT_AUDIT_LIMIT = 100

interface AuditArgs {
  hub?: string | undefined
  user?: string | undefined
  place?: string | undefined
  type: string[]
  since?: string | undefined
  after?: number | undefined
  limit: number
  json: boolean
}

export type AuditFilters = Omit<Extract<HubRequestBody, { type: 'audit' }>, 'type' | 'limit'>

const DURATION_ONLY = /^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/

/** --since: a TIME (as for admin grant --from), or a DURATION meaning that long ago ("2h"). */
export function parseSince(text: string, now: number): number {
  const ms = DURATION_ONLY.test(text.trim())
    ? now - parseDuration(text, '--since')
    : parseTime(text, now, '--since')
  return Math.max(0, ms)
}

/** The request's filters from the arguments; `types` are the event types the hub knows. */
export function auditFilters(args: AuditArgs, now: number, types: readonly string[]): AuditFilters {
  const unknown = args.type.filter((t) => !types.includes(t))
  if (unknown.length > 0) {
    throw new CliUsageError(`--type ${unknown.join(', ')}: not an event type; use ${types.join(', ')}`)
  }
  if (args.after !== undefined && !(Number.isSafeInteger(args.after) && args.after >= 0)) {
    throw new CliUsageError(`--after must be a record's seq (a whole number), not ${args.after}`)
  }
  return {
    ...(args.after !== undefined ? { afterSeq: args.after } : {}),
    ...(args.since !== undefined ? { sinceMs: parseSince(args.since, now) } : {}),
    ...(args.user !== undefined ? { user: args.user } : {}),
    ...(args.place !== undefined ? { place: args.place } : {}),
    types: args.type as AuditFilters['types'],
  }
}

/** Up to `limit` records, asking again after the last seq while the hub says more match. */
export async function readAudit(
  call: (body: HubRequestBody) => ReturnType<HubSession['call']>,
  filters: AuditFilters,
  limit: number,
  perRequest: number,
): Promise<{ records: AuditRecordInfo[]; more: boolean }> {
  const records: AuditRecordInfo[] = []
  let afterSeq = filters.afterSeq
  for (;;) {
    const answer = await call({
      type: 'audit',
      ...filters,
      ...(afterSeq !== undefined ? { afterSeq } : {}),
      limit: Math.min(limit - records.length, perRequest),
    })
    if (answer.type !== 'audit') throw new Error(`unexpected answer to audit: ${answer.type}`)
    records.push(...answer.records)
    const last = answer.records.at(-1)
    if (!answer.more || last === undefined) return { records, more: false }
    if (records.length >= limit) return { records, more: true }
    afterSeq = last.seq
  }
}

/** SEQ, local TIME, TYPE, USER, PLACE, SUMMARY. */
export function formatAudit(records: readonly AuditRecordInfo[]): string {
  if (records.length === 0) return 'no audit records match\n'
  return formatTable(
    ['SEQ', 'TIME', 'TYPE', 'USER', 'PLACE', 'SUMMARY'],
    records.map((r) => [
      String(r.seq),
      formatLocalStamp(r.atMs),
      r.type,
      r.user || '-',
      r.place || '-',
      r.summary,
    ]),
  )
}

export const auditCommand: CommandModule<object, AuditArgs> = {
  command: 'audit',
  describe: "The hub's audit log: leases, queue, grants, kicks, maintenance, refusals",
  builder: (a) =>
    a
      .option('hub', hubOption)
      .option('user', { type: 'string', describe: 'Only records about this user' })
      .option('place', { type: 'string', describe: 'Only records about this place (or EXPORTER/PLACE)' })
      .option('type', {
        type: 'string',
        array: true,
        default: [] as string[],
        describe: 'Only this event type (repeatable): lease-started, lease-ended, refused, ...',
      })
      .option('since', { type: 'string', describe: 'From this TIME, or this long ago (2h)' })
      .option('after', { type: 'number', describe: 'Only records after this seq (the next page)' })
      .option('limit', {
        type: 'number',
        default: DEFAULT_AUDIT_LIMIT,
        describe: 'At most this many records',
      })
      .option('json', { type: 'boolean', default: false, describe: 'Print JSON' })
      .example('$0 admin audit --user carol --since 1d', "carol's day")
      .example('$0 admin audit --type lease-ended --type refused --json', 'lease ends and refusals'),
  handler: async (args) => {
    if (!Number.isSafeInteger(args.limit) || args.limit < 1) {
      throw new CliUsageError(`--limit must be a whole number of records, 1 or more, not ${args.limit}`)
    }
    const { AUDIT_EVENT_TYPES, MAX_AUDIT_RECORDS } = await import('@tether/control')
    const filters = auditFilters(args, Date.now(), AUDIT_EVENT_TYPES)
    await withHub(args.hub, async (session) => {
      const { records, more } = await readAudit(
        (body) => session.call(body),
        filters,
        args.limit,
        MAX_AUDIT_RECORDS,
      )
      if (args.json) {
        printJson({
          records: records.map(({ eventJson, ...r }) => ({ ...r, event: JSON.parse(eventJson) as unknown })),
          more,
        })
      } else process.stdout.write(formatAudit(records))
      const last = records.at(-1)
      if (more && last) {
        process.stderr.write(
          `${records.length} records shown (--limit ${args.limit}); more match: add --after ${last.seq} for the next page\n`,
        )
      }
    })
  },
}
