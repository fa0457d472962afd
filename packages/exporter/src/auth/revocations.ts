/**
 * The leases the hub told us have ended (returned, kicked, revoked, expired), kept on disk so that
 * an exporter restarted while its hub is unreachable still refuses their tokens. An entry is kept
 * for CAPABILITY_LIFETIME_MS after it arrived: no token of an ended lease outlives that. Writes
 * are serialised and coalesced (a hub's replay of many ends costs a few writes, not one each).
 */
import { ConfigFileError, readProtectedFile, replaceProtectedFile } from '@tether/config'
import { CAPABILITY_LIFETIME_MS } from '@tether/control'
import { ExporterError } from '../errors.js'

/** Entries kept at most (oldest dropped first). */
const MAX_ENTRIES = 100_000
const MAX_FILE_BYTES = 16 * 1024 * 1024
const LEASE_ID = /^[A-Za-z0-9._:-]{1,128}$/

interface FileShape {
  readonly version: 1
  /** [lease id, forget after (ms since the epoch)], oldest first. */
  readonly revoked: readonly (readonly [string, number])[]
}

export class RevocationList {
  /** Lease id → forget after; insertion order is arrival order. */
  private readonly entries = new Map<string, number>()
  /** The write not started yet (it will take every entry added until it starts). */
  private queued: Promise<void> | undefined
  private tail: Promise<void> = Promise.resolve()

  private constructor(
    private readonly path: string | undefined,
    private readonly now: () => number,
  ) {}

  /** Load `path` (absent: empty). A damaged file throws ExporterError ERR_REVOCATIONS naming it. */
  static async open(path: string, now: () => number = Date.now): Promise<RevocationList> {
    const list = new RevocationList(path, now)
    let text: Buffer | undefined
    try {
      text = await readProtectedFile(path, { othersMayRead: true, maxBytes: MAX_FILE_BYTES })
    } catch (err) {
      if (err instanceof ConfigFileError) throw damaged(path, err.message, err)
      throw err
    }
    if (text === undefined) return list
    for (const [lease, until] of parse(path, text.toString('utf8'))) {
      if (until > now()) list.entries.set(lease, until)
    }
    return list
  }

  static inMemory(now: () => number = Date.now): RevocationList {
    return new RevocationList(undefined, now)
  }

  has(leaseId: string): boolean {
    const until = this.entries.get(leaseId)
    return until !== undefined && until > this.now()
  }

  get size(): number {
    return this.entries.size
  }

  /** Remember `leaseId` as ended; resolves once it is on disk. */
  add(leaseId: string): Promise<void> {
    this.entries.delete(leaseId)
    this.entries.set(leaseId, this.now() + CAPABILITY_LIFETIME_MS)
    this.prune()
    return this.persist()
  }

  /** Resolves when every add() so far is on disk. */
  flush(): Promise<void> {
    return this.tail
  }

  private prune(): void {
    const now = this.now()
    for (const [lease, until] of this.entries) {
      if (until > now && this.entries.size <= MAX_ENTRIES) break
      this.entries.delete(lease)
    }
  }

  private persist(): Promise<void> {
    const path = this.path
    if (path === undefined) return Promise.resolve()
    if (this.queued) return this.queued
    const run = this.tail.then(async () => {
      this.queued = undefined
      const shape: FileShape = { version: 1, revoked: [...this.entries] }
      await replaceProtectedFile(path, `${JSON.stringify(shape)}\n`, { mode: 0o644 })
    })
    this.queued = run
    this.tail = run.catch(() => {})
    return run
  }
}

function parse(path: string, text: string): [string, number][] {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    throw damaged(path, `not JSON (${(err as Error).message})`, err)
  }
  const shape = data as Partial<FileShape> | null
  if (typeof shape !== 'object' || shape === null || shape.version !== 1 || !Array.isArray(shape.revoked)) {
    throw damaged(path, 'expected {"version": 1, "revoked": [[lease, until], ...]}')
  }
  return shape.revoked.map((entry, i) => {
    const [lease, until] = Array.isArray(entry) ? entry : []
    if (typeof lease !== 'string' || !LEASE_ID.test(lease) || !Number.isSafeInteger(until)) {
      throw damaged(path, `revoked[${i}] is not [lease id, time in ms]`)
    }
    return [lease, until as number]
  })
}

function damaged(path: string, why: string, cause?: unknown): ExporterError {
  return new ExporterError(
    'ERR_REVOCATIONS',
    `the list of ended leases ${path} cannot be read: ${why}. Remove it to start; the hub sends the ` +
      'lease ends of the last 12 hours again once the exporter reaches it, but until then tokens of ' +
      'leases ended meanwhile are not refused',
    { cause, details: { path } },
  )
}
