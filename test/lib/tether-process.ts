/**
 * Runs a `tether` command (packages/cli's build) as a host child process and waits for lines
 * of its output — for tests that start a hub and an exporter. Node built-ins only.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { CLI_MAIN } from './tether-server.js'
import { repoRoot, tail } from './vm.js'

export interface TetherProcess {
  readonly child: ChildProcess
  /** stdout and stderr so far, interleaved. */
  output(): string
  /** Resolves with the match of the first stdout line matching `pattern` (past or future). */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>
  /** SIGTERM, SIGKILL after 5 s; resolves when it is gone. */
  stop(): Promise<void>
}

export function startTether(args: readonly string[], env: NodeJS.ProcessEnv = {}): TetherProcess {
  const child = spawn(process.execPath, [CLI_MAIN, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  let stdoutLines: string[] = []
  let partial = ''
  const listeners = new Set<() => void>()
  const notify = () => {
    for (const listener of listeners) listener()
  }
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
    partial += chunk.toString()
    const lines = partial.split('\n')
    partial = lines.pop() ?? ''
    stdoutLines = stdoutLines.concat(lines)
    notify()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve()
      notify()
    }),
  )
  const onExit = () => child.kill('SIGKILL')
  process.once('exit', onExit)
  void exited.then(() => process.removeListener('exit', onExit))

  return {
    child,
    output: () => output,
    waitForLine(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (const line of stdoutLines) {
            const match = pattern.exec(line)
            if (match) return done(undefined, match)
          }
          if (child.exitCode !== null || child.signalCode !== null) {
            done(
              new Error(`tether ${args.join(' ')} exited before printing ${pattern}:\n${tail(output, 40)}`),
            )
          }
        }
        const timer = setTimeout(
          () =>
            done(
              new Error(
                `tether ${args.join(' ')}: no line ${pattern} within ${timeoutMs} ms:\n${tail(output, 40)}`,
              ),
            ),
          timeoutMs,
        )
        const done = (err?: Error, match?: RegExpExecArray) => {
          clearTimeout(timer)
          listeners.delete(check)
          if (err) reject(err)
          else resolve(match as RegExpExecArray)
        }
        listeners.add(check)
        check()
      })
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    },
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}
