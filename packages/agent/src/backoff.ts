/** Jittered exponential backoff: RECONNECT_MIN_MS doubling up to RECONNECT_MAX_MS. */
import { RECONNECT_MAX_MS, RECONNECT_MIN_MS } from './constants.js'

export function reconnectDelay(failures: number, random: () => number = Math.random): number {
  const base = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** Math.max(0, failures - 1))
  return Math.round(base * (0.75 + 0.5 * random()))
}
