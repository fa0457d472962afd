/** Durations in hub.toml: "90s", "30m", "2h", "1d", "1h30m" (units d h m s, largest first). */

const UNIT_MS: Readonly<Record<string, number>> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 }
const DURATION = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/

/** Milliseconds, or undefined when `text` is not a duration (or is zero). */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim())
  if (!match || text.trim() === '') return undefined
  const [, d, h, m, s] = match
  const ms =
    Number(d ?? 0) * UNIT_MS.d! +
    Number(h ?? 0) * UNIT_MS.h! +
    Number(m ?? 0) * UNIT_MS.m! +
    Number(s ?? 0) * 1000
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined
}

/** The shortest duration text for `ms` in whole seconds (e.g. 5_400_000 → "1h30m"). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms)
  let rest = Math.round(ms / 1000)
  if (rest === 0) return `${ms}ms`
  let out = ''
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const count = Math.floor(rest / size)
    if (count > 0) out += `${count}${unit}`
    rest -= count * size
  }
  return out
}
