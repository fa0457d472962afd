/** The outside world as @tether/identity sees it; every entry point takes these so tests swap them. */

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
}

export interface Logger {
  debug(message: string): void
  info(message: string): void
  warn(message: string): void
}

/** Waits `ms`, rejecting with the signal's reason when it aborts first. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>

export type Fetch = typeof globalThis.fetch

export const systemClock: Clock = { now: () => Date.now() }

export const silentLogger: Logger = { debug() {}, info() {}, warn() {} }

export const realSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
