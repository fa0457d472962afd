/**
 * `tether places` next to each place: free, leased (by whom, until when), in maintenance,
 * restricted by a grant, with how many wait for it — when the user is logged in to that hub.
 * Without a login (or from an open hub) the list stays as the directory gives it.
 */
import type { PlaceStateInfo } from '@tether/control'
import type { TetherNode } from '@tether/net'
import { formatLocalTime, openHubSession } from './hub-session.js'

/** Places one request asks about (the protocol's MAX_PLACE_STATES). */
const BATCH = 1000

/**
 * The states of `ids` (EXPORTER/PLACE) by id, asked over `node`; undefined when the user has no
 * login for `hub`. A hub that cannot answer gives undefined too, with the reason on stderr.
 */
export async function placeStates(
  hub: string,
  ids: readonly string[],
  node: TetherNode,
): Promise<Map<string, PlaceStateInfo> | undefined> {
  if (ids.length === 0) return new Map()
  const [identity, session] = await Promise.all([import('@tether/identity'), openHubSession(hub, { node })])
  try {
    try {
      await session.token()
    } catch (err) {
      if (identity.isIdentityError(err, 'ERR_NOT_LOGGED_IN')) return undefined
      throw err
    }
    const states = new Map<string, PlaceStateInfo>()
    for (let i = 0; i < ids.length; i += BATCH) {
      const answer = await session.call({ type: 'place-states', places: ids.slice(i, i + BATCH) })
      if (answer.type !== 'place-states') throw new Error(`the hub answered ${answer.type}`)
      for (const s of answer.states) states.set(s.place, s)
    }
    return states
  } catch (err) {
    const code = (err as { code?: string }).code
    process.stderr.write(
      `tether: no reservation states from the hub: ${(err as Error).message}${code ? ` (${code})` : ''}\n`,
    )
    return undefined
  } finally {
    await session.close()
  }
}

/** "free", "leased by alice until 2025-06-02 14:03:09 (in 1h 2m), 2 waiting", "maintenance: new firmware". */
export function describePlaceState(s: PlaceStateInfo, now: number): string {
  const parts: string[] = []
  if (s.state === 'leased') {
    const by = s.holder ? ` by ${s.holder}` : ''
    parts.push(`leased${by}${s.untilMs !== undefined ? ` until ${formatLocalTime(s.untilMs, now)}` : ''}`)
  } else if (s.state === 'maintenance') {
    parts.push(s.note ? `maintenance: ${s.note}` : 'maintenance')
  } else if (s.state === 'restricted') {
    parts.push('restricted (a grant decides who may reserve it now)')
  } else {
    parts.push(s.state)
  }
  if (s.waiting > 0) parts.push(`${s.waiting} waiting`)
  return parts.join(', ')
}
