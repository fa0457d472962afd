/**
 * The reservation store on SQLite (better-sqlite3): WAL journal, schema migrated by
 * `PRAGMA user_version`, each commit of engine events one transaction that updates the state
 * tables and appends the audit log.
 */
import Database from 'better-sqlite3'
import { ReservationEngine, type ReservationEngineInit } from '../reservations/engine.js'
import { ReservationService } from '../reservations/service.js'
import type {
  EngineEvent,
  EngineSnapshot,
  Grant,
  Lease,
  MaintenanceFlag,
  QueueEntry,
} from '../reservations/types.js'
import { auditColumns } from './audit-columns.js'
import { StoreError } from './errors.js'
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js'
import type { AuditQuery, AuditRecord, ReservationStore } from './types.js'

export interface SqliteStoreOptions {
  /** PRAGMA synchronous (default FULL: a committed event survives a power cut too). */
  readonly synchronous?: 'FULL' | 'NORMAL'
}

/** Open (creating if need be) a database file for the store; ':memory:' for tests. */
export function openDatabase(path: string): Database.Database {
  return new Database(path)
}

/** Bring `db` to the current schema; throws StoreError ERR_SCHEMA_TOO_NEW. */
export function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number
  if (version > SCHEMA_VERSION) {
    throw new StoreError(
      'ERR_SCHEMA_TOO_NEW',
      `the reservation database has schema version ${version}; this hub knows up to ${SCHEMA_VERSION}`,
      { details: { version, known: SCHEMA_VERSION } },
    )
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!)
      db.pragma(`user_version = ${v + 1}`)
    })()
  }
}

export class SqliteReservationStore implements ReservationStore {
  readonly db: Database.Database
  private readonly statements: ReturnType<typeof prepare>
  private readonly applyAll: (events: readonly EngineEvent[]) => void

  constructor(db: Database.Database, options: SqliteStoreOptions = {}) {
    this.db = db
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`)
    migrate(db)
    this.statements = prepare(db)
    this.applyAll = db.transaction((events: readonly EngineEvent[]) => {
      for (const event of events) this.apply(event)
      const last = events.at(-1)
      if (last) this.statements.setMeta.run('next_seq', last.seq + 1)
    })
  }

  load(): EngineSnapshot {
    const s = this.statements
    const data = <T>(rows: unknown[]) => rows.map((r) => JSON.parse((r as { data: string }).data) as T)
    const meta = s.getMeta.get('next_seq') as { value: number } | undefined
    return {
      nextSeq: meta?.value ?? 1,
      leases: data<Lease>(s.allLeases.all()),
      queue: data<QueueEntry>(s.allQueue.all()),
      grants: data<Grant>(s.allGrants.all()),
      maintenance: data<MaintenanceFlag>(s.allMaintenance.all()),
    }
  }

  commit(events: readonly EngineEvent[]): void {
    if (events.length === 0) return
    try {
      this.applyAll(events)
    } catch (cause) {
      throw new StoreError('ERR_STORE_FAILED', `committing ${events.length} reservation events failed`, {
        cause,
        details: { firstSeq: events[0]!.seq },
      })
    }
  }

  audit(query: AuditQuery = {}): AuditRecord[] {
    const where: string[] = []
    const params: (string | number)[] = []
    const when = (clause: string, value: string | number | undefined) => {
      if (value === undefined) return
      where.push(clause)
      params.push(value)
    }
    when('seq > ?', query.after)
    when('at >= ?', query.since)
    when('user = ?', query.user)
    if (query.place?.includes('/') === false) {
      // A bare place name: at any exporter ("exporter/name"), or as a refused request named it.
      where.push("(place = ? OR substr(place, instr(place, '/') + 1) = ?)")
      params.push(query.place, query.place)
    } else when('place = ?', query.place)
    if (query.types && query.types.length > 0) {
      where.push(`type IN (${query.types.map(() => '?').join(', ')})`)
      params.push(...query.types)
    }
    const sql =
      `SELECT seq, at, type, data FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ` +
      'ORDER BY seq LIMIT ?'
    const rows = this.db.prepare(sql).all(...params, query.limit ?? 1000) as {
      seq: number
      at: number
      type: AuditRecord['type']
      data: string
    }[]
    return rows.map((r) => ({ seq: r.seq, at: r.at, type: r.type, event: JSON.parse(r.data) as EngineEvent }))
  }

  close(): void {
    if (this.db.open) this.db.close()
  }

  private apply(event: EngineEvent): void {
    const s = this.statements
    switch (event.type) {
      case 'lease-started':
      case 'lease-renewed':
      case 'lease-ended': {
        const lease = event.lease
        if (event.type === 'lease-started') {
          s.insertLease.run(lease.id, lease.user, lease.place, lease.expiresAt, JSON.stringify(lease))
        } else if (event.type === 'lease-renewed') {
          s.updateLease.run(lease.expiresAt, JSON.stringify(lease), lease.id)
        } else {
          s.deleteLease.run(lease.id)
        }
        break
      }
      case 'queued':
      case 'dequeued': {
        const entry = event.entry
        if (event.type === 'queued') {
          s.insertQueue.run(entry.id, entry.seq, entry.priority, entry.user, JSON.stringify(entry))
        } else {
          s.deleteQueue.run(entry.id)
        }
        break
      }
      case 'grant-added':
      case 'grant-removed': {
        const grant = event.grant
        if (event.type === 'grant-added') {
          s.insertGrant.run(grant.id, grant.start, grant.end ?? null, JSON.stringify(grant))
        } else {
          s.deleteGrant.run(grant.id)
        }
        break
      }
      case 'maintenance': {
        if (event.on) {
          const flag: MaintenanceFlag = {
            place: event.place,
            since: event.at,
            ...(event.by !== undefined ? { by: event.by } : {}),
            ...(event.note !== undefined ? { note: event.note } : {}),
          }
          s.upsertMaintenance.run(event.place, event.at, JSON.stringify(flag))
        } else {
          s.deleteMaintenance.run(event.place)
        }
        break
      }
      case 'refused':
        break
    }
    const { user, place, ref } = auditColumns(event)
    s.insertAudit.run(
      event.seq,
      event.at,
      event.type,
      user ?? null,
      place ?? null,
      ref ?? null,
      JSON.stringify(event),
    )
  }
}

function prepare(db: Database.Database) {
  return {
    getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
    setMeta: db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ),
    allLeases: db.prepare('SELECT data FROM leases ORDER BY id'),
    insertLease: db.prepare('INSERT INTO leases (id, user, place, expires_at, data) VALUES (?, ?, ?, ?, ?)'),
    updateLease: db.prepare('UPDATE leases SET expires_at = ?, data = ? WHERE id = ?'),
    deleteLease: db.prepare('DELETE FROM leases WHERE id = ?'),
    allQueue: db.prepare('SELECT data FROM queue ORDER BY priority DESC, seq ASC'),
    insertQueue: db.prepare('INSERT INTO queue (id, seq, priority, user, data) VALUES (?, ?, ?, ?, ?)'),
    deleteQueue: db.prepare('DELETE FROM queue WHERE id = ?'),
    allGrants: db.prepare('SELECT data FROM grants ORDER BY starts_at, id'),
    insertGrant: db.prepare('INSERT INTO grants (id, starts_at, ends_at, data) VALUES (?, ?, ?, ?)'),
    deleteGrant: db.prepare('DELETE FROM grants WHERE id = ?'),
    allMaintenance: db.prepare('SELECT data FROM maintenance ORDER BY place'),
    upsertMaintenance: db.prepare(
      'INSERT INTO maintenance (place, since, data) VALUES (?, ?, ?) ' +
        'ON CONFLICT (place) DO UPDATE SET since = excluded.since, data = excluded.data',
    ),
    deleteMaintenance: db.prepare('DELETE FROM maintenance WHERE place = ?'),
    insertAudit: db.prepare(
      'INSERT INTO audit (seq, at, type, user, place, ref, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
  }
}

/**
 * Rebuild the engine from `db` (migrating it first), then process what fell due while the hub
 * was down (expiries, grant windows, queue timeouts) and commit those events.
 */
export function loadEngine(
  db: Database.Database,
  now: number,
  init: Omit<ReservationEngineInit, 'snapshot'> = {},
): ReservationEngine {
  return openReservations(db, now, init).engine
}

/** loadEngine(), wrapped in a ReservationService that persists every later operation to `db`. */
export function openReservations(
  db: Database.Database,
  now: number,
  init: Omit<ReservationEngineInit, 'snapshot'> & SqliteStoreOptions = {},
): ReservationService<SqliteReservationStore> {
  const store = new SqliteReservationStore(db, init)
  const engine = new ReservationEngine({ ...init, snapshot: store.load() })
  engine.tick(now)
  store.commit(engine.takeEvents())
  return new ReservationService(engine, store)
}
