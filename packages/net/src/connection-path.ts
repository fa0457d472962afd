/** Whether a connection runs straight to the peer or through a circuit-relay-v2 relay. */
import type { Connection } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export type ConnectionPath = 'direct' | 'relayed'

export function connectionPath(connection: Pick<Connection, 'remoteAddr' | 'limits'>): ConnectionPath {
  if (connection.limits !== undefined) return 'relayed'
  return isCircuitAddress(connection.remoteAddr) ? 'relayed' : 'direct'
}

/** The open direct connection to a peer, if any (the newest one wins). */
export function directConnection<C extends Pick<Connection, 'remoteAddr' | 'limits' | 'status'>>(
  connections: readonly C[],
): C | undefined {
  return connections.filter((c) => c.status === 'open' && connectionPath(c) === 'direct').at(-1)
}

export function isCircuitAddress(address: Multiaddr): boolean {
  return address.getComponents().some((c) => c.name === 'p2p-circuit')
}

/** 127.0.0.0/8 or ::1: only meaningful to peers on the same host. */
export function isLoopbackAddress(address: Multiaddr): boolean {
  const first = address.getComponents()[0]
  if (!first) return false
  if (first.name === 'ip4') return (first.value ?? '').startsWith('127.')
  if (first.name === 'ip6') return first.value === '::1'
  return false
}
