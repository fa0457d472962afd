import { spawn } from 'node:child_process'
import type { Credentials } from './credentials.js'
import { type Clock, systemClock } from './deps.js'
import { describe, IdentityError } from './errors.js'
import { decodeClaims, looksLikeJwt } from './jwt.js'

export interface TokenCommandOptions {
  /** Default 30 s; the command (and everything it started) is killed after it. */
  timeoutMs?: number
  env?: NodeJS.ProcessEnv
  cwd?: string
  clock?: Clock
}

const MAX_STDOUT = 64 * 1024
const KEPT_STDERR = 4 * 1024

function fail(command: string, why: string, stderr: string, cause?: unknown): IdentityError {
  const tail = stderr.trim() ? `; its stderr: ${stderr.trim()}` : ''
  return new IdentityError(
    'ERR_TOKEN_CMD_FAILED',
    `the token command \`${command}\` ${why}${tail}; fix the command so it prints one ID token (a JWT) on stdout`,
    cause === undefined ? undefined : { cause },
  )
}

function run(command: string, options: TokenCommandOptions): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 30_000
  return new Promise<string>((resolve, reject) => {
    const child = spawn(command, {
      shell: true,
      detached: true, // its own process group, so a timeout kills what the shell started too
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      ...(options.cwd ? { cwd: options.cwd } : {}),
    })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    let overflow = false
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    const timer = setTimeout(() => {
      timedOut = true
      killGroup()
    }, timeoutMs)
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      if (stdout.length > MAX_STDOUT) {
        overflow = true
        killGroup()
      }
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-KEPT_STDERR)
    })
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(fail(command, `could not be started (${describe(err)})`, stderr, err))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (timedOut) reject(fail(command, `did not finish within ${timeoutMs} ms and was killed`, stderr))
      else if (overflow) reject(fail(command, `printed more than ${MAX_STDOUT} bytes`, stderr))
      else if (code !== 0) reject(fail(command, `exited with ${signal ?? `status ${code}`}`, stderr))
      else resolve(stdout)
    })
  })
}

/**
 * CI login: runs `command` through the shell (e.g. a script that prints the CI system's OIDC token
 * for the hub's audience) and takes its stdout, trimmed, as the ID token. Run again by
 * `currentToken` whenever the token has expired.
 */
export async function loginWithTokenCommand(
  command: string,
  options: TokenCommandOptions = {},
): Promise<Credentials> {
  const clock = options.clock ?? systemClock
  const output = (await run(command, options)).trim()
  if (!looksLikeJwt(output)) {
    const shown = output.length > 40 ? `${output.slice(0, 40)}…` : output
    throw fail(command, `printed something that is not a JWT ("${shown}")`, '')
  }
  const claims = decodeClaims(output)
  if (typeof claims.iss !== 'string' || typeof claims.exp !== 'number') {
    throw fail(command, 'printed a JWT without "iss" and "exp" claims', '')
  }
  if (claims.exp * 1000 <= clock.now()) {
    throw fail(command, `printed a token that expired at ${new Date(claims.exp * 1000).toISOString()}`, '')
  }
  const audience = Array.isArray(claims.aud) ? (claims.aud[0] ?? '') : (claims.aud ?? '')
  return {
    version: 1,
    method: 'token-command',
    issuer: claims.iss,
    clientId: audience,
    idToken: output,
    expiresAt: claims.exp,
    tokenCommand: command,
  }
}
