/**
 * Exporter enrollment: an admin issues a one-time join token for an exporter name; the exporter
 * presents it once over its noise-authenticated connection and the hub binds the name to that
 * PeerId. Only the token's hash is stored; a used token stays recorded so reuse is refused with
 * who used it and when. A new token for the same name re-binds it (a replaced machine or key).
 */
import { createHash, randomBytes } from 'node:crypto'
import { HubError } from '../errors.js'

export const JOIN_TOKEN_PREFIX = 'tjt_'
const TOKEN_BYTES = 32

export interface JoinTokenRecord {
  readonly hash: string
  readonly exporter: string
  readonly issuedBy: string
  readonly issuedAt: number
  readonly expiresAt: number
  readonly usedBy?: string
  readonly usedAt?: number
}

/** Where enrollment state lives (SQLite in the hub, a Map in tests). */
export interface EnrollmentStore {
  saveToken(record: JoinTokenRecord): void
  findToken(hash: string): JoinTokenRecord | undefined
  bind(exporter: string, peerId: string, at: number): void
  boundPeer(exporter: string): string | undefined
}

export class Enrollment {
  constructor(
    private readonly store: EnrollmentStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new join token (shown once; only its hash is kept). */
  issue(exporter: string, validMs: number, issuedBy: string): { token: string; expiresAt: number } {
    const token = `${JOIN_TOKEN_PREFIX}${randomBytes(TOKEN_BYTES).toString('base64url')}`
    const issuedAt = this.now()
    const expiresAt = issuedAt + validMs
    this.store.saveToken({ hash: hashToken(token), exporter, issuedBy, issuedAt, expiresAt })
    return { token, expiresAt }
  }

  /** Consume a join token for `peerId`; returns the exporter name now bound to it. */
  enroll(token: string, peerId: string): string {
    const record = this.store.findToken(hashToken(token))
    if (!record) {
      throw new HubError(
        'ERR_JOIN_TOKEN_INVALID',
        'this join token is not known to the hub; ask an admin for a new one (tether admin join-token NAME)',
      )
    }
    if (record.usedBy !== undefined) {
      throw new HubError(
        'ERR_JOIN_TOKEN_USED',
        `this join token was already used by ${record.usedBy} at ${new Date(record.usedAt ?? 0).toISOString()}; a join token works once — ask an admin for a new one`,
        { details: { exporter: record.exporter, usedBy: record.usedBy } },
      )
    }
    const now = this.now()
    if (now >= record.expiresAt) {
      throw new HubError(
        'ERR_JOIN_TOKEN_EXPIRED',
        `this join token expired at ${new Date(record.expiresAt).toISOString()}; ask an admin for a new one`,
        { details: { exporter: record.exporter } },
      )
    }
    this.store.saveToken({ ...record, usedBy: peerId, usedAt: now })
    this.store.bind(record.exporter, peerId, now)
    return record.exporter
  }

  /** Whether `peerId` may register as `exporter`. */
  check(exporter: string, peerId: string): void {
    const bound = this.store.boundPeer(exporter)
    if (bound === peerId) return
    throw new HubError(
      'ERR_NOT_ENROLLED',
      bound === undefined
        ? `exporter ${exporter} is not enrolled; an admin issues a join token (tether admin join-token ${exporter}) and the exporter presents it once (join_token in places.toml or --join-token)`
        : `exporter name ${exporter} is bound to another peer (${bound}); enroll this machine with a new join token to take the name over`,
      { details: { exporter, peerId, bound } },
    )
  }
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** An in-memory store: tests, and hubs that keep no state on disk. */
export class MemoryEnrollmentStore implements EnrollmentStore {
  private readonly tokens = new Map<string, JoinTokenRecord>()
  private readonly bindings = new Map<string, string>()

  saveToken(record: JoinTokenRecord): void {
    this.tokens.set(record.hash, record)
  }
  findToken(hash: string): JoinTokenRecord | undefined {
    return this.tokens.get(hash)
  }
  bind(exporter: string, peerId: string): void {
    this.bindings.set(exporter, peerId)
  }
  boundPeer(exporter: string): string | undefined {
    return this.bindings.get(exporter)
  }
}
