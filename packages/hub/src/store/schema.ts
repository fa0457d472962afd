/**
 * The SQLite schema of the reservation store. MIGRATIONS[i] takes `PRAGMA user_version` from i
 * to i + 1; append, never edit. Rows keep the full object as JSON in `data`; the other columns
 * are there for indexes and ad-hoc queries.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE leases (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    place TEXT NOT NULL UNIQUE,
    expires_at INTEGER NOT NULL,
    data TEXT NOT NULL
  ) STRICT;
  CREATE INDEX leases_user ON leases (user);

  CREATE TABLE queue (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    priority INTEGER NOT NULL,
    user TEXT NOT NULL,
    data TEXT NOT NULL
  ) STRICT;
  CREATE INDEX queue_order ON queue (priority DESC, seq ASC);

  CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER,
    data TEXT NOT NULL
  ) STRICT;

  CREATE TABLE maintenance (
    place TEXT PRIMARY KEY,
    since INTEGER NOT NULL,
    data TEXT NOT NULL
  ) STRICT;

  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    type TEXT NOT NULL,
    user TEXT,
    place TEXT,
    ref TEXT,
    data TEXT NOT NULL
  ) STRICT;
  CREATE INDEX audit_at ON audit (at);
  CREATE INDEX audit_user ON audit (user, seq);
  CREATE INDEX audit_place ON audit (place, seq);
  `,
  // Exporter enrollment (packages/hub/src/enrollment): join tokens by hash, and name → PeerId.
  `
  CREATE TABLE join_tokens (
    hash TEXT PRIMARY KEY,
    exporter TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    data TEXT NOT NULL
  ) STRICT;

  CREATE TABLE exporter_bindings (
    exporter TEXT PRIMARY KEY,
    peer_id TEXT NOT NULL,
    bound_at INTEGER NOT NULL
  ) STRICT;
  `,
]

export const SCHEMA_VERSION = MIGRATIONS.length
