import { constants } from 'node:fs'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
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
  let handle: Awaited<ReturnType<typeof open>>
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw storeError(path, `cannot be read (${describe(err)}); check its ownership and permissions`, err)
  }
  try {
    const st = await handle.stat()
    if (!st.isFile()) throw storeError(path, 'is not a regular file; remove it and run tether login again')
    if (st.mode & 0o077) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0')
      throw storeError(
        path,
        `has mode ${mode}, so others can read your tokens; run chmod 600 ${path}, then tether logout and tether login to replace tokens that may have leaked`,
      )
    }
    if (process.getuid && st.uid !== process.getuid()) {
      throw storeError(path, `belongs to uid ${st.uid}, not you; remove it and run tether login again`)
    }
    const text = await handle.readFile('utf8')
    let parsed: Partial<FileShape>
    try {
      parsed = JSON.parse(text) as Partial<FileShape>
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
  } finally {
    await handle.close()
  }
}

async function writeEntries(path: string, entries: Record<string, unknown>): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    const handle = await open(tmp, 'wx', 0o600)
    try {
      await handle.writeFile(`${JSON.stringify({ version: 1, entries } satisfies FileShape, null, 2)}\n`)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw storeError(
      path,
      `cannot be written (${describe(err)}); check the directory is yours and writable`,
      err,
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
