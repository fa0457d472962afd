import { homedir } from 'node:os'
import { join } from 'node:path'
import { ConfigFileError, octalMode, readProtectedFile, replaceProtectedFile } from '@tether/config'
import type { Credentials } from '../credentials.js'
import { describe, IdentityError } from '../errors.js'
import { parseCredentials } from './parse.js'
import type { CredentialStore } from './store.js'

/** `$XDG_STATE_HOME/tether/credentials.json`, `~/.local/state/tether/credentials.json` without it. */
export function defaultCredentialsPath(
  env: NodeJS.ProcessEnv = process.env,
  home: string = homedir(),
): string {
  const state = env.XDG_STATE_HOME?.startsWith('/') ? env.XDG_STATE_HOME : join(home, '.local', 'state')
  return join(state, 'tether', 'credentials.json')
}

interface FileShape {
  version: 1
  entries: Record<string, unknown>
}

function storeError(path: string, what: string, err?: unknown): IdentityError {
  return new IdentityError('ERR_STORE', `${path}: ${what}`, err === undefined ? undefined : { cause: err })
}

async function readEntries(path: string): Promise<Record<string, unknown>> {
  let bytes: Buffer | undefined
  try {
    bytes = await readProtectedFile(path, { followSymlinks: false })
  } catch (err) {
    throw fileError(err)
  }
  if (bytes === undefined) return {}
  let parsed: Partial<FileShape>
  try {
    parsed = JSON.parse(bytes.toString('utf8')) as Partial<FileShape>
  } catch (err) {
    throw storeError(path, 'is not valid JSON; remove it and run tether login again', err)
  }
  if (parsed.version !== 1 || typeof parsed.entries !== 'object' || parsed.entries === null) {
    throw storeError(
      path,
      'is not a tether credentials file this version understands; remove it and run tether login again',
    )
  }
  return parsed.entries
}

async function writeEntries(path: string, entries: Record<string, unknown>): Promise<void> {
  const text = `${JSON.stringify({ version: 1, entries } satisfies FileShape, null, 2)}\n`
  try {
    await replaceProtectedFile(path, text)
  } catch (err) {
    throw fileError(err)
  }
}

function fileError(err: unknown): unknown {
  if (!(err instanceof ConfigFileError)) return err
  const { path } = err
  switch (err.problem) {
    case 'not-a-file':
      return storeError(path, 'is not a regular file; remove it and run tether login again')
    case 'permissions':
      return storeError(
        path,
        `has mode ${octalMode(err.mode!)}, so others can read your tokens; run ${err.fix}, then tether logout and tether login to replace tokens that may have leaked`,
      )
    case 'owner':
      return storeError(path, `belongs to uid ${err.uid}, not you; remove it and run tether login again`)
    case 'too-large':
    case 'io':
      if (err.action === 'write') {
        return storeError(
          path,
          `cannot be written (${describe(err.cause)}); check the directory is yours and writable`,
          err.cause,
        )
      }
      return storeError(
        path,
        `cannot be read (${describe(err.cause ?? err)}); check its ownership and permissions`,
        err.cause ?? err,
      )
  }
}

/** Credentials in a JSON file only its owner may read (mode 0600; looser permissions are refused). */
export function fileStore(path: string = defaultCredentialsPath()): CredentialStore {
  return {
    kind: 'file',
    location: path,
    async get(key) {
      const entry = (await readEntries(path))[key]
      return entry === undefined ? undefined : parseCredentials(entry, path)
    },
    async set(key, credentials: Credentials) {
      const entries = await readEntries(path)
      entries[key] = credentials
      await writeEntries(path, entries)
    },
    async delete(key) {
      const entries = await readEntries(path)
      if (!(key in entries)) return false
      delete entries[key]
      await writeEntries(path, entries)
      return true
    },
  }
}
