import assert from 'node:assert/strict'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { CAPABILITY_LIFETIME_MS } from '@tether/control'
import { RevocationList } from '../src/auth/revocations.js'
import { ExporterError } from '../src/errors.js'

describe('RevocationList: ended leases remembered across restarts', () => {
  let dir = ''
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-revocations-'))
  })
  after(() => rm(dir, { recursive: true, force: true }))

  it('survives a restart, and forgets an entry once no token of its lease can be valid', async () => {
    let now = 1_700_000_000_000
    const clock = () => now
    const path = join(dir, 'a.json')
    const list = await RevocationList.open(path, clock)
    assert.equal(list.has('L1'), false)
    await Promise.all(Array.from({ length: 200 }, (_, i) => list.add(`L${i}`)))
    assert.equal((await stat(path)).mode & 0o777, 0o644)
    const again = await RevocationList.open(path, clock)
    assert.equal(again.size, 200, 'every entry of a burst of adds is on disk')
    assert.ok(again.has('L0') && again.has('L199'))
    now += CAPABILITY_LIFETIME_MS - 1
    assert.ok(again.has('L5'))
    now += 1
    assert.equal(again.has('L5'), false)
    assert.equal((await RevocationList.open(path, clock)).size, 0, 'expired entries are not loaded')
    await again.add('L9000')
    const json = JSON.parse(await readFile(path, 'utf8')) as { revoked: unknown[] }
    assert.deepEqual(
      json.revoked.map((e) => (e as [string])[0]),
      ['L9000'],
      'writes drop expired entries',
    )
  })

  it('a damaged file stops the start with a message naming it and the way out', async () => {
    const path = join(dir, 'bad.json')
    const refused = (pattern: RegExp) => (err: unknown) =>
      err instanceof ExporterError && err.code === 'ERR_REVOCATIONS' && pattern.test(err.message)
    await writeFile(path, '{"version": 1, "revoked": [["L1", 5]', { mode: 0o644 })
    await assert.rejects(RevocationList.open(path), refused(/bad\.json.*not JSON.*Remove it/))
    await writeFile(path, '{"version": 1, "revoked": [["L1", "soon"]]}')
    await assert.rejects(RevocationList.open(path), refused(/revoked\[0\]/))
    await writeFile(path, '{"version": 2, "revoked": []}')
    await assert.rejects(RevocationList.open(path), refused(/"version": 1/))
    await writeFile(path, '{"version": 1, "revoked": []}')
    await chmod(path, 0o666)
    await assert.rejects(RevocationList.open(path), refused(/chmod go-w/))
  })

  it('a missing file is an empty list', async () => {
    assert.equal((await RevocationList.open(join(dir, 'none.json'))).size, 0)
  })
})
