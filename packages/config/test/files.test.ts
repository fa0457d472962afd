import assert from 'node:assert/strict'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  ConfigFileError,
  createProtectedFile,
  ensurePrivateDir,
  octalMode,
  readProtectedFile,
  replaceProtectedFile,
} from '../src/index.js'

function rejectsWith(problem: string, check: (err: ConfigFileError) => void = () => {}) {
  return (err: unknown) => {
    assert.ok(err instanceof ConfigFileError, String(err))
    assert.equal(err.problem, problem)
    check(err)
    return true
  }
}

describe('owner-only files', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-config-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  test('createProtectedFile: 0600 in new 0700 directories, never clobbering', async () => {
    const path = join(dir, 'a', 'b', 'secret.key')
    assert.equal(await createProtectedFile(path, 'one'), true)
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.equal((await stat(join(dir, 'a', 'b'))).mode & 0o777, 0o700)
    assert.equal(await createProtectedFile(path, 'two'), false)
    assert.equal(await readFile(path, 'utf8'), 'one')
    assert.deepEqual(await readdir(join(dir, 'a', 'b')), ['secret.key'], 'no temp file left')
    assert.equal((await readProtectedFile(path))?.toString('utf8'), 'one')
  })

  test('replaceProtectedFile: atomic replacement at exactly the mode asked for', async () => {
    const path = join(dir, 'public.json')
    await replaceProtectedFile(path, 'v1', { mode: 0o644 })
    assert.equal((await stat(path)).mode & 0o777, 0o644)
    await replaceProtectedFile(path, new TextEncoder().encode('v2'), { mode: 0o644 })
    assert.equal(await readFile(path, 'utf8'), 'v2')
    assert.equal((await readProtectedFile(path, { othersMayRead: true }))?.toString('utf8'), 'v2')
    const secret = join(dir, 'secret.json')
    await replaceProtectedFile(secret, 'x')
    assert.equal((await stat(secret)).mode & 0o777, 0o600)
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.endsWith('.tmp')),
      [],
    )
  })

  test('a write that cannot happen is an io problem naming the path', async () => {
    const blocker = join(dir, 'blocker')
    await writeFile(blocker, '')
    await assert.rejects(
      replaceProtectedFile(join(blocker, 'x'), 'y'),
      rejectsWith('io', (err) => {
        assert.equal(err.action, 'write')
        assert.match(err.errno ?? '', /^(ENOTDIR|EEXIST)$/)
        assert.match(err.message, /^cannot write .*blocker\/x: E[A-Z]+$/)
      }),
    )
  })

  test('readProtectedFile: undefined when missing', async () => {
    assert.equal(await readProtectedFile(join(dir, 'absent')), undefined)
  })

  test('refuses a secret group or others may read or write, naming chmod 600 PATH', async () => {
    const path = join(dir, 'loose.key')
    await writeFile(path, 'k', { mode: 0o600 })
    for (const mode of [0o640, 0o604, 0o620, 0o602]) {
      await chmod(path, mode)
      await assert.rejects(
        readProtectedFile(path),
        rejectsWith('permissions', (err) => {
          assert.equal(err.mode, mode)
          assert.equal(err.fix, `chmod 600 ${path}`)
          assert.ok(err.message.includes(`run \`chmod 600 ${path}\``), err.message)
          assert.ok(err.message.includes(`mode ${octalMode(mode)}`), err.message)
        }),
      )
    }
  })

  test('public material may be readable by others but never writable (chmod go-w)', async () => {
    const path = join(dir, 'jwks.json')
    await writeFile(path, '{}')
    await chmod(path, 0o644)
    assert.equal((await readProtectedFile(path, { othersMayRead: true }))?.toString('utf8'), '{}')
    await chmod(path, 0o664)
    await assert.rejects(
      readProtectedFile(path, { othersMayRead: true }),
      rejectsWith('permissions', (err) => assert.equal(err.fix, `chmod go-w ${path}`)),
    )
  })

  test('refuses a directory, an oversized file, and (when asked) a symbolic link', async () => {
    const sub = join(dir, 'sub')
    await mkdir(sub)
    await assert.rejects(readProtectedFile(sub), rejectsWith('not-a-file'))
    const big = join(dir, 'big')
    await writeFile(big, 'x'.repeat(100), { mode: 0o600 })
    await assert.rejects(
      readProtectedFile(big, { maxBytes: 10 }),
      rejectsWith('too-large', (err) => assert.equal(err.size, 100)),
    )
    const link = join(dir, 'link')
    await symlink(big, link)
    assert.equal((await readProtectedFile(link))?.length, 100)
    await assert.rejects(
      readProtectedFile(link, { followSymlinks: false }),
      rejectsWith('io', (err) => assert.equal(err.errno, 'ELOOP')),
    )
  })

  test('ensurePrivateDir makes 0700 directories and leaves existing ones alone', async () => {
    const path = join(dir, 'p', 'q')
    await ensurePrivateDir(path)
    assert.equal((await stat(path)).mode & 0o777, 0o700)
    await ensurePrivateDir(path)
  })

  test('octalMode', () => {
    assert.equal(octalMode(0o100644), '0644')
    assert.equal(octalMode(0o44), '0044')
  })
})
