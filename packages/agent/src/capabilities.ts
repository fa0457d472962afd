/**
 * Capability tokens for the importer's tunnels, from a hub with [auth]: the user's lease on the
 * place (found with their login), then a token for it bound to this agent's key. Later tokens
 * come without the login (the hub gives them to the peer that holds the lease's capability), so
 * attachments outlive the user's login token.
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import { callHub, HubRequestError } from '@tether/control'
import type { TetherNode } from '@tether/net'
import { AgentError } from './errors.js'

/** Ask for a fresh token when the current one has less than this left. */
const REFRESH_BEFORE_MS = 5 * 60_000

export interface CapabilitySource {
  readonly leaseId: string
  /** A token valid now (asks the hub for a new one when the current one is about to end). */
  token(): Promise<Uint8Array>
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
  let current = await capability(node, hub, login, lease.id)
  return {
    leaseId: lease.id,
    async token() {
      if (current.expiresAtMs - now() < REFRESH_BEFORE_MS) current = await capability(node, hub, '', lease.id)
      return current.token
    },
  }
}

async function capability(node: TetherNode, hub: Multiaddr, login: string, leaseId: string) {
  const answer = await ask(node, hub, login, { type: 'capability', leaseId })
  if (answer.type !== 'capability')
    throw new AgentError('ERR_HUB', `the hub answered ${answer.type} to a capability request`)
  return { token: new TextEncoder().encode(answer.token), expiresAtMs: answer.expiresAtMs }
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
