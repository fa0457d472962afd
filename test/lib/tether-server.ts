/**
 * Runs `tether serve` (packages/cli's build) as a child process on a free loopback port, for
 * tests that point the stock usbip tools or the guest kernel at it. Node built-ins only.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot, tail } from './vm.js'

export interface TetherServer {
  readonly port: number
  /** Everything the server printed so far (stdout and stderr interleaved). */
  log(): string
  /** SIGTERM, then SIGKILL after 5 s; resolves when the process is gone. */
  stop(): Promise<void>
}

export const CLI_MAIN = join(repoRoot, 'packages', 'cli', 'dist', 'src', 'main.js')

/** Starts `tether serve --listen 127.0.0.1:0 --device ...` and waits for "listening on HOST:PORT". */
export function startTetherServer(
  devices: string[],
  opts: { timeoutMs?: number } = {},
): Promise<TetherServer> {
  if (!existsSync(CLI_MAIN)) {
    return Promise.reject(new Error(`${CLI_MAIN} does not exist; build the workspace first (pnpm build)`))
  }
  const args = [CLI_MAIN, 'serve', '--listen', '127.0.0.1:0', ...devices.flatMap((d) => ['--device', d])]
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
  // Never outlive the test process.
  const onExit = () => child.kill('SIGKILL')
  process.once('exit', onExit)
  exited.then(() => process.removeListener('exit', onExit))

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop()
      reject(
        new Error(
          `tether serve did not print "listening on" within ${opts.timeoutMs ?? 20000} ms:\n${tail(output)}`,
        ),
      )
    }, opts.timeoutMs ?? 20_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /^listening on (\S+):(\d+)\s*$/m.exec(output)
      if (match) {
        clearTimeout(timer)
        child.stdout?.removeListener('data', onData)
        child.stdout?.on('data', (more: Buffer) => {
          output += more.toString()
        })
        resolve({ port: Number(match[2]), log: () => output, stop })
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`tether serve exited (${signal ?? code}) before listening:\n${tail(output)}`))
    })
  })
}
