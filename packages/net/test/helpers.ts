import { generateKeyPair } from '@libp2p/crypto/keys'
import { createTetherNode, type TetherNode, type TetherNodeOptions } from '../src/node.js'

/** A node listening on loopback only (TCP and WebSockets). */
export async function loopbackNode(options: Partial<TetherNodeOptions> = {}): Promise<TetherNode> {
  return createTetherNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws'],
    ...options,
  })
}

export function tcpAddress(node: TetherNode) {
  const address = node.getMultiaddrs().find((a) => !a.toString().includes('/ws'))
  if (!address) throw new Error('node has no TCP address')
  return address
}

export function wsAddress(node: TetherNode) {
  const address = node.getMultiaddrs().find((a) => a.toString().includes('/ws'))
  if (!address) throw new Error('node has no WebSockets address')
  return address
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms)
    }),
  ])
}
