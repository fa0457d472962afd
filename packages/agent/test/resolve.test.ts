import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { DirectoryEntry } from '@tether/directory'
import { parseTarget, resolveTarget } from '../src/resolve.js'

function entry(name: string, peerId: string, places: DirectoryEntry['places']): DirectoryEntry {
  return { name, peerId, places, addresses: [], registeredAt: new Date(0), expiresAt: new Date(0) }
}

const labA = entry('lab-a', 'peerA', [
  {
    name: 'rpi-1',
    tags: ['rpi4'],
    parts: [
      {
        name: 'board',
        compatible: [],
        interfaces: [
          { kind: 'usb', name: 'console', busid: '1-1' },
          { kind: 'usb', name: 'sd', busid: '1-2' },
          { kind: 'serial', name: 'uart' },
        ],
      },
      { name: 'psu', compatible: [], interfaces: [{ kind: 'serial', name: 'ctl' }] },
    ],
  },
  {
    name: 'shared',
    tags: [],
    parts: [{ name: 'p', compatible: [], interfaces: [{ kind: 'usb', name: 'u', busid: '1-3' }] }],
  },
])
const labB = entry('lab-b', 'peerB', [
  {
    name: 'shared',
    tags: [],
    parts: [{ name: 'p', compatible: [], interfaces: [{ kind: 'usb', name: 'u', busid: '2-1' }] }],
  },
])

describe('parseTarget', () => {
  it('reads place, part, interface and an exporter prefix', () => {
    assert.deepEqual(parseTarget('rpi-1'), { place: 'rpi-1' })
    assert.deepEqual(parseTarget('rpi-1/board'), { place: 'rpi-1', part: 'board' })
    assert.deepEqual(parseTarget('lab-a:rpi-1/board/sd'), {
      exporter: 'lab-a',
      place: 'rpi-1',
      part: 'board',
      interface: 'sd',
    })
  })

  it('refuses malformed targets with the accepted forms', () => {
    for (const bad of ['', '/x', 'a/b/c/d', 'a b', 'lab:', ':place', 'a//b']) {
      assert.throws(
        () => parseTarget(bad),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'ERR_BAD_TARGET')
          assert.match(err.message, /PLACE\/PART/)
          return true
        },
      )
    }
  })
})

describe('resolveTarget', () => {
  const all = [labA, labB]

  it('a place means every USB interface of it; serial ones are not attached', () => {
    const found = resolveTarget(all, { place: 'rpi-1' })
    assert.deepEqual(
      found.map((r) => `${r.entry.name}:${r.iface.busid}`),
      ['lab-a:1-1', 'lab-a:1-2'],
    )
  })

  it('narrows to a part and an interface', () => {
    assert.deepEqual(
      resolveTarget(all, { place: 'rpi-1', part: 'board', interface: 'sd' }).map((r) => r.iface.busid),
      ['1-2'],
    )
  })

  it('an unknown place names the known ones', () => {
    assert.throws(
      () => resolveTarget(all, { place: 'nope' }),
      /known places: lab-a:rpi-1, lab-a:shared, lab-b:shared/,
    )
    assert.throws(() => resolveTarget([], { place: 'nope' }), /is any exporter registered/)
  })

  it('the same place on two exporters is ambiguous until the exporter is named', () => {
    assert.throws(
      () => resolveTarget(all, { place: 'shared' }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_AMBIGUOUS')
        assert.match(err.message, /lab-a:shared/)
        return true
      },
    )
    assert.equal(resolveTarget(all, { exporter: 'lab-b', place: 'shared' })[0]?.iface.busid, '2-1')
  })

  it('a part without USB interfaces says what it offers', () => {
    assert.throws(() => resolveTarget(all, { place: 'rpi-1', part: 'psu' }), /offers: psu\/ctl \(serial\)/)
    assert.throws(() => resolveTarget(all, { place: 'rpi-1', part: 'nope' }), /its parts: board, psu/)
  })
})
