/** Enrollment state in the hub's SQLite database (tables from store/schema.ts). */
import type Database from 'better-sqlite3'
import { migrate } from '../store/sqlite.js'
import type { EnrollmentStore, JoinTokenRecord } from './enrollment.js'

export class SqliteEnrollmentStore implements EnrollmentStore {
  private readonly save: Database.Statement
  private readonly find: Database.Statement
  private readonly bindStatement: Database.Statement
  private readonly bound: Database.Statement

  constructor(db: Database.Database) {
    migrate(db)
    this.save = db.prepare(
      'INSERT INTO join_tokens (hash, exporter, expires_at, data) VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO UPDATE SET data = excluded.data',
    )
    this.find = db.prepare('SELECT data FROM join_tokens WHERE hash = ?')
    this.bindStatement = db.prepare(
      'INSERT INTO exporter_bindings (exporter, peer_id, bound_at) VALUES (?, ?, ?) ON CONFLICT (exporter) DO UPDATE SET peer_id = excluded.peer_id, bound_at = excluded.bound_at',
    )
    this.bound = db.prepare('SELECT peer_id FROM exporter_bindings WHERE exporter = ?')
  }

  saveToken(record: JoinTokenRecord): void {
    this.save.run(record.hash, record.exporter, record.expiresAt, JSON.stringify(record))
  }

  findToken(hash: string): JoinTokenRecord | undefined {
    const row = this.find.get(hash) as { data: string } | undefined
    return row ? (JSON.parse(row.data) as JoinTokenRecord) : undefined
  }

  bind(exporter: string, peerId: string, at: number): void {
    this.bindStatement.run(exporter, peerId, at)
  }

  boundPeer(exporter: string): string | undefined {
    return (this.bound.get(exporter) as { peer_id: string } | undefined)?.peer_id
  }
}
