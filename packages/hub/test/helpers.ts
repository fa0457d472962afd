import { generateKeyPair } from '@libp2p/crypto/keys'
import type { LogFields, Logger } from '@tether/net'

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error'
  readonly scope: string
  readonly message: string
  readonly fields: LogFields
}

/** A logger that keeps every line, for asserting on what the hub reported. */
export function recordingLogger(lines: LogLine[] = [], scope = ''): Logger & { lines: LogLine[] } {
  const at =
    (level: LogLine['level']) =>
    (message: string, fields: LogFields = {}) =>
      void lines.push({ level, scope, message, fields })
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (child) => recordingLogger(lines, child),
  }
}

export const newKey = () => generateKeyPair('Ed25519')

/** Poll `check` every 50 ms until it holds; fail after `ms`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`${what}: not true after ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
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
