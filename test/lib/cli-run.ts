/** Running the real `tether` CLI to its end as a child process (bounded), for end-to-end tests. */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { CLI_MAIN } from './tether-server.js'
import { repoRoot } from './vm.js'

export interface TetherRun {
  code: number | null
  stdout: string
  stderr: string
}

export function runTether(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 30_000,
): Promise<TetherRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI_MAIN, ...args],
      { cwd: repoRoot, env: { ...process.env, ...env }, timeout: timeoutMs, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

/** Runs a command that must succeed; its stdout. */
export async function tetherOk(args: readonly string[], env: NodeJS.ProcessEnv): Promise<string> {
  const r = await runTether(args, env)
  assert.equal(r.code, 0, `tether ${args.join(' ')} failed:\n${r.stderr}${r.stdout}`)
  return r.stdout
}
