/**
 * The hub's admin requests — kick, maintenance, grant, revoke, audit, join-token — answered for a
 * caller the policy has already found to be an admin (service.ts checks it once for all of them).
 */
import { DEFAULT_JOIN_TOKEN_MS, type HubRequestBody } from '@tether/control'
import type { Logger } from '@tether/net'
import type { Enrollment } from '../enrollment/enrollment.js'
import type { ReservationService } from '../reservations/service.js'
import { auditPage, auditQuery } from './audit.js'
import type { Send } from './streams.js'
import type { HubView } from './view.js'

const ADMIN_REQUESTS = ['kick', 'maintenance', 'grant', 'revoke', 'audit', 'join-token'] as const

export type AdminRequest = Extract<HubRequestBody, { type: (typeof ADMIN_REQUESTS)[number] }>

export interface AdminContext {
  readonly reservations: ReservationService
  readonly view: HubView
  readonly enrollment: Enrollment
  readonly log: Logger
  readonly now: () => number
}

export function isAdminRequest(body: HubRequestBody): body is AdminRequest {
  return (ADMIN_REQUESTS as readonly string[]).includes(body.type)
}

/** Carry out `body` for admin `user`, answering with `send`. */
export async function answerAdmin(
  ctx: AdminContext,
  body: AdminRequest,
  user: string,
  send: Send,
): Promise<void> {
  switch (body.type) {
    case 'kick': {
      const lease = await ctx.reservations.run((e) =>
        e.kick(body.leaseId, ctx.now(), { by: user, note: body.reason }),
      )
      return send({ type: 'lease', lease: ctx.view.leaseInfo(lease) })
    }
    case 'maintenance': {
      await ctx.reservations.run((e) =>
        e.setMaintenance(ctx.view.placeId(body.place), body.on, ctx.now(), {
          by: user,
          note: body.reason,
        }),
      )
      return send({ type: 'done' })
    }
    case 'grant': {
      const [kind, name] = splitSubject(body.subject)
      const grant = await ctx.reservations.run((e) =>
        e.grant(
          {
            subject: kind === 'user' ? { user: name } : { group: name },
            target:
              body.place !== undefined
                ? { place: ctx.view.placeId(body.place) }
                : { tag: body.tag as string },
            start: body.startsAtMs,
            end: body.endsAtMs,
            by: user,
          },
          ctx.now(),
        ),
      )
      return send({ type: 'granted', id: grant.id })
    }
    case 'revoke': {
      const shown = ctx.reservations.engine.show(body.id)
      if (shown?.kind === 'lease') {
        await ctx.reservations.run((e) =>
          e.kick(body.id, ctx.now(), { by: user, note: body.reason || 'revoked' }),
        )
      } else {
        await ctx.reservations.run((e) => e.revoke(body.id, ctx.now(), { by: user }))
      }
      return send({ type: 'done' })
    }
    case 'audit': {
      const query = auditQuery(body)
      // One record more than asked for tells whether there are more.
      const records = await ctx.reservations.store.audit({ ...query, limit: query.limit + 1 })
      return send({ type: 'audit', ...auditPage(records, query.limit) })
    }
    case 'join-token': {
      const { token, expiresAt } = ctx.enrollment.issue(
        body.exporter,
        body.validMs || DEFAULT_JOIN_TOKEN_MS,
        user,
      )
      ctx.log.info('join token issued', { exporter: body.exporter, by: user })
      return send({ type: 'join-token', token, expiresAtMs: expiresAt })
    }
  }
}

function splitSubject(subject: string): ['user' | 'group', string] {
  const colon = subject.indexOf(':')
  return [subject.slice(0, colon) === 'group' ? 'group' : 'user', subject.slice(colon + 1)]
}
