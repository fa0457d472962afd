import { homedir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_IDENTITY_FILE } from './constants.js'

/** $XDG_STATE_HOME/tether/exporter.key, else ~/.local/state/tether/exporter.key. */
export function defaultIdentityPath(
  env: Readonly<Record<string, string | undefined>> = process.env,
  home: string = homedir(),
): string {
  const state = env.XDG_STATE_HOME?.startsWith('/') ? env.XDG_STATE_HOME : join(home, '.local', 'state')
  return join(state, 'tether', DEFAULT_IDENTITY_FILE)
}
