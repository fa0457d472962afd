/**
 * What the account, reservation and admin commands share: the hub's address and key, durations and
 * times as users write them, tables, and a session — an ephemeral libp2p node plus the user's login
 * token — to ask the hub with. libp2p, the hub's codecs and @tether/identity load only when a session
 * opens, so `tether --help` stays fast.
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import type { HubRequestBody, HubResponse, LeaseInfo, QueueEntryInfo } from '@tether/control'
import type { CredentialStore } from '@tether/identity'
import type { TetherNode } from '@tether/net'
import { CliUsageError } from '../address.js'

export const HUB_HELP =
  'The hub: /ip4/HOST/tcp/PORT/p2p/HUBID as `tether hub` prints it (default: $TETHER_HUB)'

/** The `--hub` option (or positional) of every command that talks to a hub. */
export const hubOption = {
  type: 'string' as const,
  default: process.env.TETHER_HUB,
  defaultDescription: '$TETHER_HUB',
  describe: HUB_HELP,
}

export const jsonOption = { type: 'boolean' as const, default: false, describe: 'Print JSON' }

/** How long a one-shot request may take (dial included) before the CLI gives up. */
export const REQUEST_TIMEOUT_MS = 30_000

/** The hub's address, or a usage error naming how to give one. */
export function requireHub(hub: string | undefined): string {
  if (!hub) throw new CliUsageError('no hub given: pass --hub HUB (or set TETHER_HUB)')
  if (!hub.startsWith('/')) {
    throw new CliUsageError(`"${hub}" is not a hub address; give the multiaddr \`tether hub\` printed`)
  }
  hubKey(hub)
  return hub
}

/**
 * The key credentials are stored under: the hub's peer id, the last `/p2p/ID` of its multiaddr (so a
 * login survives the hub moving to another address). A bare peer id is accepted too (for logout).
 */
export function hubKey(hub: string): string {
  if (!hub.startsWith('/')) {
    if (/^[1-9A-HJ-NP-Za-km-z]{40,100}$/.test(hub)) return hub
    throw new CliUsageError(`"${hub}" is neither a hub multiaddr nor a peer id`)
  }
  const ids = [...hub.matchAll(/\/p2p\/([1-9A-HJ-NP-Za-km-z]+)(?=\/|$)/g)].map((m) => m[1] as string)
  const id = ids.at(-1)
  if (id === undefined) {
    throw new CliUsageError(
      `the hub address ${hub} has no /p2p/HUBID part; use the one \`tether hub\` printed`,
    )
  }
  return id
}

const UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
}

/** "2h", "90m", "1h30m", "45s", "1d", "500ms" → milliseconds (a positive whole number). */
export function parseDuration(text: string, what = 'duration'): number {
  const trimmed = text.trim()
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)]
  const consumed = parts.map((p) => p[0]).join('')
  if (parts.length === 0 || consumed !== trimmed) {
    throw new CliUsageError(
      `${what} "${text}" is not a duration; write a number with a unit: 30s, 15m, 2h, 1h30m, 1d`,
    )
  }
  const ms = Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * (UNITS[p[2] as string] as number), 0))
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new CliUsageError(`${what} "${text}" must be longer than 0`)
  return ms
}

/**
 * A point in time for --from/--until: "now", "+DURATION" (from now), or a date the way people
 * write it — "2025-06-02 14:00" (local time), an ISO 8601 time with an offset, "2025-06-02" (local
 * midnight).
 */
export function parseTime(text: string, now: number, what = 'time'): number {
  const trimmed = text.trim()
  if (trimmed === 'now') return now
  if (trimmed.startsWith('+')) return now + parseDuration(trimmed.slice(1), what)
  const local = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(trimmed)
  if (local) {
    const [y, mo, d, h, mi, s] = local.slice(1).map((v) => (v === undefined ? 0 : Number(v))) as number[]
    const date = new Date(y as number, (mo as number) - 1, d, h, mi, s)
    if (date.getMonth() !== (mo as number) - 1 || date.getDate() !== d || (h as number) > 23) {
      throw new CliUsageError(`${what} "${text}" is not a real date and time`)
    }
    return date.getTime()
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(trimmed)) {
    const ms = Date.parse(trimmed)
    if (Number.isFinite(ms)) return ms
  }
  throw new CliUsageError(
    `${what} "${text}" is not a time; write now, +2h, "2025-06-02 14:00" (local) or 2025-06-02T14:00Z`,
  )
}

const pad2 = (n: number) => String(n).padStart(2, '0')

/** Local time, "2025-06-02 14:03:09". */
export function formatLocalStamp(ms: number): string {
  const d = new Date(ms)
  return (
    `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`
  )
}

/** Local time, "2025-06-02 14:03:09", with how far away it is: "(in 1h 59m)" / "(3m ago)". */
export function formatLocalTime(ms: number, now: number): string {
  const delta = ms - now
  return `${formatLocalStamp(ms)} (${delta >= 0 ? `in ${formatSpan(delta)}` : `${formatSpan(-delta)} ago`})`
}

/** 3_660_000 → "1h 1m"; under a minute in seconds. */
export function formatSpan(ms: number): string {
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const d = Math.floor(s / 86_400)
  const h = Math.floor((s % 86_400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  return [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : ''].filter(Boolean).join(' ') || '0m'
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows]
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)))
  return all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] as number)))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('')
}

/** One line about a lease: id, place, exporter, holder, expiry in local time. */
export function describeLease(lease: LeaseInfo, now: number): string {
  return (
    `lease ${lease.id}: place ${lease.place} at exporter ${lease.exporter}` +
    `${lease.parts.length ? ` (parts ${lease.parts.join(', ')})` : ''}, held by ${lease.user}, ` +
    `expires ${formatLocalTime(lease.expiresAtMs, now)}`
  )
}

/** Leases and queue entries as one table (tether list, tether who). */
export function formatReservations(
  leases: readonly LeaseInfo[],
  queue: readonly QueueEntryInfo[],
  now: number,
): string {
  if (leases.length === 0 && queue.length === 0) return 'no leases and nobody waiting\n'
  const rows = [
    ...leases.map((l) => [
      l.id,
      'lease',
      l.user,
      `${l.exporter}/${l.place}`,
      String(l.priority),
      `expires ${formatLocalTime(l.expiresAtMs, now)}`,
    ]),
    ...queue.map((q) => [
      q.id,
      'queued',
      q.user,
      q.wanted,
      String(q.priority),
      `position ${q.position}, since ${formatLocalTime(q.enqueuedAtMs, now)}`,
    ]),
  ]
  return formatTable(['ID', 'KIND', 'USER', 'PLACE', 'PRIO', 'STATE'], rows)
}

export interface ReserveArgs {
  place?: string | undefined
  tag: readonly string[]
  compatible: readonly string[]
  priority: number
  for?: string | undefined
  wait: boolean
}

/** The reserve request for the CLI's arguments: a named place, or tags and compatible strings. */
export function reserveBody(args: ReserveArgs): Extract<HubRequestBody, { type: 'reserve' }> {
  const hasSpec = args.tag.length > 0 || args.compatible.length > 0
  if (args.place && hasSpec) {
    throw new CliUsageError('name a PLACE or describe one with --tag/--compatible, not both')
  }
  if (!args.place && !hasSpec) {
    throw new CliUsageError('name the PLACE to reserve, or describe one with --tag T and --compatible C')
  }
  if (!Number.isInteger(args.priority) || args.priority < 0 || args.priority > 1000) {
    throw new CliUsageError(`--priority must be a whole number 0-1000, not ${args.priority}`)
  }
  return {
    type: 'reserve',
    ...(args.place ? { place: args.place } : {}),
    tags: [...args.tag],
    // One part that is compatible with all of them, as `tether places --compatible` searches.
    parts: args.compatible.length ? [{ compatible: [...args.compatible], interfaces: [] }] : [],
    priority: args.priority,
    leaseMs: args.for === undefined ? 0 : parseDuration(args.for, '--for'),
    wait: args.wait,
  }
}

/** A grant subject: user:NAME or group:NAME. */
export function parseSubject(text: string): string {
  if (!/^(user|group):\S{1,256}$/.test(text)) {
    throw new CliUsageError(`"${text}" is not a subject; write user:NAME or group:NAME`)
  }
  return text
}

export interface HubCallOptions {
  readonly signal?: AbortSignal
  readonly onProgress?: (entry: QueueEntryInfo) => void
  /** Default REQUEST_TIMEOUT_MS; 0 for none (waiting in the queue). */
  readonly timeoutMs?: number
}

export interface HubSession {
  readonly hub: string
  readonly key: string
  readonly store: CredentialStore
  /** The login token (refreshed when needed); throws IdentityError ERR_NOT_LOGGED_IN without a login. */
  token(): Promise<string>
  /** One request; `login: false` sends none (auth-info). */
  call(
    body: HubRequestBody,
    options?: HubCallOptions & { login?: boolean },
  ): Promise<Exclude<HubResponse, { type: 'failure' }>>
  close(): Promise<void>
}

/**
 * Opens the credential store and an ephemeral node (no listening, a throwaway key), or uses
 * `options.node` (the caller's, which close() leaves running).
 */
export async function openHubSession(
  hub: string,
  options: { node?: TetherNode } = {},
): Promise<HubSession & { notice?: string }> {
  const [{ generateKeyPair }, { multiaddr }, hubModule, { createTetherNode }, identity] = await Promise.all([
    import('@libp2p/crypto/keys'),
    import('@multiformats/multiaddr'),
    import('@tether/control'),
    import('@tether/net'),
    import('@tether/identity'),
  ])
  const key = hubKey(hub)
  let address: Multiaddr
  try {
    address = multiaddr(hub)
  } catch {
    throw new CliUsageError(`"${hub}" is not a multiaddr; give the address \`tether hub\` printed`)
  }
  const { store, notice } = await identity.openCredentialStore()
  let node: TetherNode | undefined = options.node
  const session: HubSession & { notice?: string } = {
    hub,
    key,
    store,
    ...(notice ? { notice } : {}),
    async token() {
      try {
        return await identity.currentToken(store, key)
      } catch (err) {
        // Name the hub as the user wrote it: `tether login` takes the address, not the peer id.
        if (!identity.isIdentityError(err, 'ERR_NOT_LOGGED_IN')) throw err
        throw new identity.IdentityError('ERR_NOT_LOGGED_IN', err.message.split(key).join(hub))
      }
    },
    async call(body, options = {}) {
      const login = options.login === false ? '' : await session.token()
      node ??= await createTetherNode({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
      const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS
      const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined
      const signals = [options.signal, timeout].filter((s): s is AbortSignal => s !== undefined)
      const signal = signals.length ? AbortSignal.any(signals) : undefined
      try {
        return await hubModule.callHub(
          node,
          address,
          { login, body },
          {
            ...(signal ? { signal } : {}),
            ...(options.onProgress ? { onProgress: options.onProgress } : {}),
          },
        )
      } catch (err) {
        if (err instanceof hubModule.HubRequestError) throw err
        if (options.signal?.aborted) throw err
        const why = timeout?.aborted
          ? `it did not answer within ${timeoutMs / 1000} s`
          : (err as Error)?.message || String(err)
        throw new hubModule.HubRequestError(
          'ERR_HUB_UNREACHABLE',
          `cannot reach the hub at ${hub}: ${why}; check the address and that the hub runs`,
        )
      }
    },
    async close() {
      if (node && node !== options.node) await (await import('@tether/net')).stopNodeWithin(node)
    },
  }
  return session
}

/** Runs `fn` with a session to the hub and closes it afterwards. */
export async function withHub<T>(
  hub: string | undefined,
  fn: (session: HubSession & { notice?: string }) => Promise<T>,
): Promise<T> {
  const session = await openHubSession(requireHub(hub))
  try {
    return await fn(session)
  } finally {
    await session.close()
  }
}

/** Prints JSON on one line. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}
