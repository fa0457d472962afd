import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createTetherNode, type LogFields, type Logger, type TetherNode } from '@tether/net'

/** An importer node on loopback (TCP only), able to dial through relays. */
export async function importerNode(): Promise<TetherNode> {
  return createTetherNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    webSockets: false,
    relayClient: true,
  })
}

export function tcpAddress(node: TetherNode): Multiaddr {
  const address = node
    .getMultiaddrs()
    .find((a) => a.toString().includes('/tcp/') && !a.toString().includes('/p2p-circuit'))
  if (!address) throw new Error('node has no TCP address')
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

export async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

export interface LogLine {
  readonly level: string
  readonly scope: string
  readonly message: string
  readonly fields: LogFields
}

/** A logger that records every line (for asserting what the exporter logs). */
export function recordingLogger(lines: LogLine[] = [], scope = ''): Logger & { lines: LogLine[] } {
  const write =
    (level: string) =>
    (message: string, fields: LogFields = {}) => {
      lines.push({ level, scope, message, fields })
    }
  return {
    lines,
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (child: string) => recordingLogger(lines, child),
  }
}
