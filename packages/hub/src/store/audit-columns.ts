/**
 * Who and what an engine event concerns — the audit log's user, place and ref columns, which
 * its filters use: the holder, the waiter, a grant's user, the admin who changed maintenance, the
 * refused caller; the place id (or the place a refused request named); the lease, queue entry or
 * grant id.
 */
import type { EngineEvent } from '../reservations/types.js'

export interface AuditColumns {
  readonly user?: string
  readonly place?: string
  readonly ref?: string
}

export function auditColumns(event: EngineEvent): AuditColumns {
  switch (event.type) {
    case 'lease-started':
    case 'lease-renewed':
    case 'lease-ended':
      return { user: event.lease.user, place: event.lease.place, ref: event.lease.id }
    case 'queued':
    case 'dequeued': {
      const { entry } = event
      return {
        user: entry.user,
        ...('place' in entry.target ? { place: entry.target.place } : {}),
        ref: entry.id,
      }
    }
    case 'grant-added':
    case 'grant-removed': {
      const { grant } = event
      return {
        ...('user' in grant.subject ? { user: grant.subject.user } : {}),
        ...('place' in grant.target ? { place: grant.target.place } : {}),
        ref: grant.id,
      }
    }
    case 'maintenance':
      return { ...(event.by !== undefined ? { user: event.by } : {}), place: event.place }
    case 'refused':
      return {
        ...(event.user !== undefined ? { user: event.user } : {}),
        ...(event.place !== undefined ? { place: event.place } : {}),
        ...(event.id !== undefined ? { ref: event.id } : {}),
      }
  }
}
