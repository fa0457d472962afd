/**
 * Capability tokens for the importer's tunnels, from a hub with [auth]: the user's lease on the
 * place (found with their login), then a token for it bound to this agent's key. Later tokens
 * come without the login (the hub gives them to the peer that holds the lease's capability), so
 * attachments outlive the user's login token.
 *
 * Also the one decision about a lease's end: which failures mean the lease is over (kicked,
 * returned, revoked, expired), so an attachment stops reconnecting instead of retrying forever.
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import { callHub, HubRequestError } from '@tether/control'
import { isNetError, type TetherNode } from '@tether/net'
import { AgentError, isAgentError } from './errors.js'

/** Ask for a fresh token when the current one has less than this left. */
export const REFRESH_BEFORE_MS = 5 * 60_000
/**
 * A token with less than this left is not worth a tunnel: the exporter would close it at once.
 * Also covers a second of clock difference between this machine and the hub (a token's `exp` is
 * whole seconds).
 */
export const LEASE_END_MARGIN_MS = 2_000

export interface CapabilitySource {
  readonly leaseId: string
  /**
   * A token valid now (asks the hub for a new one when the current one is about to end). Throws
   * AgentError ERR_LEASE_ENDED when the lease is over.
   */
  token(): Promise<Uint8Array>
}

export interface Capability {
  readonly token: Uint8Array
  /** When the exporter stops accepting it: the earlier of the hub's answer and the token's `exp`. */
  readonly expiresAtMs: number
}

/**
 * One lease's capability, renewed from the hub (`renew`, without a login, the token in hand as
 * proof of holding it) when it nears its end. While the hub does not answer, a token still valid
 * is used: exporters verify offline. The lease is over when the hub says so (ERR_LEASE_ENDED),
 * when the hub's fresh token ends within LEASE_END_MARGIN_MS, or when the hub refuses this agent a
 * token (ERR_TOKEN_*: only a new `tether attach` with a login can go on) and the one in hand has
 * run out.
 */
export class LeaseCapability implements CapabilitySource {
  constructor(
    readonly leaseId: string,
    private current: Capability,
    private readonly renew: (previous: Uint8Array) => Promise<Capability>,
    private readonly now: () => number = Date.now,
  ) {}

  async token(): Promise<Uint8Array> {
    if (this.current.expiresAtMs - this.now() >= REFRESH_BEFORE_MS) return this.current.token
    let fresh: Capability
    try {
      fresh = await this.renew(this.current.token)
    } catch (err) {
      const code = hubCode(err)
      if (code === 'ERR_LEASE_ENDED') {
        throw new AgentError('ERR_LEASE_ENDED', `lease ${this.leaseId} is over at the hub (${code})`, {
          cause: err,
        })
      }
      if (this.current.expiresAtMs - this.now() >= LEASE_END_MARGIN_MS) return this.current.token
      if (code?.startsWith('ERR_TOKEN_')) {
        throw new AgentError(
          'ERR_LEASE_ENDED',
          `lease ${this.leaseId} is over: its capability ran out at ${new Date(this.current.expiresAtMs).toISOString()} and the hub gives no new one (${code}); reserve the place again and tether attach`,
          { cause: err },
        )
      }
      throw err
    }
    this.current = fresh
    if (fresh.expiresAtMs - this.now() < LEASE_END_MARGIN_MS) {
      throw new AgentError(
        'ERR_LEASE_ENDED',
        `lease ${this.leaseId} ended at ${new Date(fresh.expiresAtMs).toISOString()}; renew it before it ends (tether renew) or reserve the place again`,
      )
    }
    return fresh.token
  }
}

/**
 * Why a failed (re)attach means the lease is over — the agent must stop reconnecting — or
 * undefined when it may be transient (exporter or hub unreachable, busy, keys not yet fetched...).
 * Over: ERR_LEASE_ENDED from the capability source, and an exporter's STATUS_DENIED with code
 * ERR_TOKEN_REVOKED (kicked, returned, revoked at the hub) or ERR_TOKEN_EXPIRED.
 */
export function leaseOverReason(err: unknown): string | undefined {
  if (isAgentError(err) && err.code === 'ERR_LEASE_ENDED') return err.message
  if (isNetError(err) && err.code === 'ERR_TUNNEL_REFUSED' && err.details.status === 'STATUS_DENIED') {
    // The exporter's refusal code (TunnelOpenResult.code); an exporter too old to send one gives
    // no decision: the failure is retried like any other.
    const code = err.details.code
    if (code === 'ERR_TOKEN_REVOKED' || code === 'ERR_TOKEN_EXPIRED') {
      const message = typeof err.details.message === 'string' ? err.details.message : code
      return `the exporter refused the lease's capability: ${message}`
    }
  }
  return undefined
}

/** The hub's refusal code behind an AgentError ERR_HUB (or a HubRequestError), else undefined. */
function hubCode(err: unknown): string | undefined {
  if (err instanceof HubRequestError) return err.code
  if (isAgentError(err) && err.code === 'ERR_HUB' && err.cause instanceof HubRequestError)
    return err.cause.code
  return undefined
}

export async function leaseCapability(
  node: TetherNode,
  hub: Multiaddr,
  where: { readonly exporter: string; readonly place: string },
  login: string,
  now: () => number = Date.now,
): Promise<CapabilitySource> {
  const list = await ask(node, hub, login, { type: 'list', all: false })
  const lease =
    list.type === 'list'
      ? list.leases.find((l) => l.exporter === where.exporter && l.place === where.place)
      : undefined
  if (!lease) {
    throw new AgentError(
      'ERR_NO_LEASE',
      `you hold no reservation of ${where.exporter}:${where.place}; reserve it first (tether reserve ${where.place})`,
    )
  }
  const first = await capability(node, hub, login, lease.id)
  return new LeaseCapability(
    lease.id,
    first,
    (previous) => capability(node, hub, '', lease.id, new TextDecoder().decode(previous)),
    now,
  )
}

async function capability(
  node: TetherNode,
  hub: Multiaddr,
  login: string,
  leaseId: string,
  previous?: string,
): Promise<Capability> {
  const answer = await ask(node, hub, login, {
    type: 'capability',
    leaseId,
    ...(previous !== undefined ? { previous } : {}),
  })
  if (answer.type !== 'capability')
    throw new AgentError('ERR_HUB', `the hub answered ${answer.type} to a capability request`)
  const exp = expClaim(answer.token)
  return {
    token: new TextEncoder().encode(answer.token),
    expiresAtMs: exp === undefined ? answer.expiresAtMs : Math.min(answer.expiresAtMs, exp * 1000),
  }
}

/** The `exp` claim (seconds) of a JWS, unverified: only to know when the exporter stops taking it. */
export function expClaim(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      exp?: unknown
    }
    return typeof payload.exp === 'number' ? payload.exp : undefined
  } catch {
    return undefined
  }
}

async function ask(
  node: TetherNode,
  hub: Multiaddr,
  login: string,
  body: Parameters<typeof callHub>[2]['body'],
) {
  try {
    return await callHub(node, hub, { login, body })
  } catch (err) {
    if (err instanceof HubRequestError) {
      throw new AgentError('ERR_HUB', `${err.message} (${err.code})`, { cause: err })
    }
    throw err
  }
}
