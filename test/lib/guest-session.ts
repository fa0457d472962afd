/**
 * One guest boot shared by several tests: the boot never rejects (each test reports the failure
 * with the console tail), and the guest script's sections ("== name (" … "RESULT name rc") are
 * checked one per test.
 */
import assert from 'node:assert/strict'
import { GuestError, type GuestOptions, type GuestResult, runGuest, tail } from './vm.js'

export interface GuestSession {
  output: string
  result?: GuestResult
  error?: unknown
}

export function runGuestSession(options: GuestOptions): Promise<GuestSession> {
  return runGuest(options).then(
    (result) => ({ output: result.output, result }),
    (error: unknown) => ({ output: error instanceof GuestError ? error.output : '', error }),
  )
}

/** The console lines of one section and its exit code (undefined: it never finished). */
export function guestSection(output: string, name: string): { rc: number | undefined; text: string } {
  const start = output.indexOf(`== ${name} (`)
  const end = output.search(new RegExp(`^RESULT ${name} \\d+`, 'm'))
  const text = start < 0 ? '' : output.slice(start, end < 0 ? undefined : output.indexOf('\n', end))
  const rc = /^RESULT \S+ (\d+)/m.exec(output.slice(end < 0 ? output.length : end))?.[1]
  return { rc: rc === undefined ? undefined : Number(rc), text }
}

/** Failure context for a session: rig error, console tail and the tail of a host process's log. */
export function sessionReporter(hostName: string, hostLog: () => string) {
  const context = (s: GuestSession, lines = 50): string => {
    const error = s.error === undefined ? '' : `\n--- rig error ---\n${String(s.error).split('\n')[0]}`
    return `${error}\n--- guest console (tail) ---\n${tail(s.output, lines)}\n--- ${hostName} (tail) ---\n${tail(hostLog(), 15)}`
  }
  const assertSectionPassed = (s: GuestSession, name: string): string => {
    const { rc, text } = guestSection(s.output, name)
    assert.notEqual(rc, undefined, `guest section "${name}" did not finish${context(s)}`)
    assert.equal(rc, 0, `guest section "${name}" failed:\n${text}${context(s, 15)}`)
    return text
  }
  return { context, assertSectionPassed }
}
