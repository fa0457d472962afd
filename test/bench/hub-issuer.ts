/**
 * Helpers of `pnpm bench:hub` (hub-bench.ts): a minimal OpenID issuer on loopback (discovery
 * document and key set over real HTTP, as the hub's IdTokenVerifier fetches them) that signs
 * RS256 ID tokens with node:crypto, the bench's hub.toml, the simulated exporters' names, and the
 * JSON-lines conversation with the child processes.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createSign, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createInterface } from 'node:readline'

export const CLIENT_ID = 'tether-cli'

export interface Issuer {
  readonly url: string
  /** An ID token for `user`, valid for an hour. */
  sign(user: string): string
  close(): Promise<void>
}

export async function startIssuer(): Promise<Issuer> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'bench-1', alg: 'RS256', use: 'sig' }
  let url = ''
  const server: Server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json')
    if (req.url === '/.well-known/openid-configuration') {
      res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/jwks` }))
    } else if (req.url === '/jwks') {
      res.end(JSON.stringify({ keys: [jwk] }))
    } else {
      res.statusCode = 404
      res.end('{}')
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    sign: (user) => signJwt(privateKey, { iss: url, aud: CLIENT_ID, sub: user, preferred_username: user }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

function signJwt(key: KeyObject, claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000)
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const input = `${enc({ alg: 'RS256', typ: 'JWT', kid: 'bench-1' })}.${enc({ iat: now, exp: now + 3600, ...claims })}`
  const signature = createSign('RSA-SHA256').update(input).sign(key).toString('base64url')
  return `${input}.${signature}`
}

/** Every signed-in user of the issuer may reserve every place (`match = {}`). */
export function benchHubToml(issuer: string): string {
  return `
[auth]
[[auth.issuer]]
url = "${issuer}"
client_id = "${CLIENT_ID}"

[[rule]]
name = "every signed-in user reserves every place"
match = {}
roles = ["importer"]
places = ["*"]
`
}

/**
 * Simulated exporter `i` and its places. Place names are unique hub-wide: a reserve request
 * names a bare place (the wire refuses "exporter/place"), which must then be unambiguous.
 */
export const exporterName = (i: number) => `bench-${String(i).padStart(4, '0')}`
export const placeName = (i: number, j: number) => `b${String(i).padStart(4, '0')}-${j}`

/** A child process speaking JSON lines: one command on stdin, one answer on stdout. */
export interface Child {
  readonly pid: number
  /** The first line the child printed (its readiness). */
  readonly info: Record<string, unknown>
  ask<T = Record<string, unknown>>(command: Record<string, unknown>): Promise<T>
  stop(): Promise<void>
}

export function startChild(script: string, argv: string[], nodeFlags: string[] = []): Promise<Child> {
  const child: ChildProcess = spawn(process.execPath, [...nodeFlags, script, ...argv], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const kill = () => child.kill('SIGKILL')
  process.once('exit', kill)
  const waiting: Array<{ resolve(v: unknown): void; reject(e: Error): void }> = []
  let ready: ((info: Record<string, unknown>) => void) | undefined
  const lines = createInterface({ input: child.stdout! })
  lines.on('line', (line) => {
    const message = JSON.parse(line) as Record<string, unknown>
    if (ready) {
      ready(message)
      ready = undefined
      return
    }
    const next = waiting.shift()
    if (!next) return
    if (typeof message.error === 'string') next.reject(new Error(`${script}: ${message.error}`))
    else next.resolve(message)
  })
  child.once('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`${script} exited with ${code}`))
  })
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(kill, 10_000)
      await exited
      clearTimeout(timer)
    }
    process.removeListener('exit', kill)
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop()
      reject(new Error(`${script} did not start within 30 s`))
    }, 30_000)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${script} exited with ${code} before it was ready`))
    })
    ready = (info) => {
      clearTimeout(timer)
      resolve({
        pid: child.pid!,
        info,
        ask: <T>(command: Record<string, unknown>) =>
          new Promise<T>((res, rej) => {
            waiting.push({ resolve: res as (v: unknown) => void, reject: rej })
            child.stdin!.write(`${JSON.stringify(command)}\n`)
          }),
        stop,
      })
    }
  })
}

/** The child's side: answer each command line with one JSON line; stop on SIGTERM or stdin end. */
export function serveCommands(
  handle: (command: Record<string, unknown>) => Promise<Record<string, unknown>>,
  stop: () => Promise<void>,
): void {
  let chain = Promise.resolve()
  const lines = createInterface({ input: process.stdin })
  lines.on('line', (line) => {
    chain = chain.then(async () => {
      let answer: Record<string, unknown>
      try {
        answer = await handle(JSON.parse(line) as Record<string, unknown>)
      } catch (err) {
        answer = { error: (err as Error).stack ?? String(err) }
      }
      process.stdout.write(`${JSON.stringify(answer)}\n`)
    })
  })
  const onSignal = () => {
    const force = setTimeout(() => process.exit(1), 8000)
    force.unref()
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGTERM', onSignal)
  process.once('SIGINT', onSignal)
  lines.once('close', onSignal)
}

/** utime + stime of a process in seconds (Linux /proc). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

export interface Percentiles {
  readonly count: number
  readonly p50: number
  readonly p90: number
  readonly p99: number
  readonly max: number
}

/** Nearest-rank percentiles of `values` (any unit). */
export function percentiles(values: readonly number[]): Percentiles {
  const sorted = Float64Array.from(values).sort()
  const at = (q: number) =>
    sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
  return { count: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) }
}
