import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  DirectoryError,
  DirectoryRegistry,
  MAX_PLACES,
  type PlaceInfo,
  type RegistryChange,
} from '../src/index.js'
import { frozenClock, registration } from './fixtures.js'

const PEER_A = '12D3KooWA'
const PEER_B = '12D3KooWB'

function rejects(f: () => unknown, code: string, pattern?: RegExp) {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof DirectoryError, `expected DirectoryError, got ${err}`)
    assert.equal(err.code, code)
    if (pattern) assert.match(err.message, pattern)
    return true
  })
}

describe('DirectoryRegistry', () => {
  it('registers, looks up and stamps times from the injected clock', () => {
    const clock = frozenClock()
    const registry = new DirectoryRegistry({ now: clock.now, ttlMs: 30_000 })
    const entry = registry.register(PEER_A, registration(), '/ip4/198.51.100.7/tcp/5555')
    assert.equal(entry.peerId, PEER_A)
    assert.equal(entry.observedAddress, '/ip4/198.51.100.7/tcp/5555')
    assert.equal(entry.registeredAt.getTime(), clock.now())
    assert.equal(entry.expiresAt.getTime(), clock.now() + 30_000)
    assert.equal(registry.lookup(PEER_A)?.name, 'lab-a')
    assert.ok(registry.isRegistered(PEER_A))
    assert.ok(!registry.isRegistered(PEER_B))
    assert.equal(registry.size, 1)
  })

  it('accepts PeerId-like objects', () => {
    const registry = new DirectoryRegistry()
    registry.register({ toString: () => PEER_A }, registration())
    assert.ok(registry.isRegistered({ toString: () => PEER_A }))
  })

  it('expires entries at the TTL with a frozen clock, and refresh extends them', () => {
    const clock = frozenClock()
    const changes: RegistryChange[] = []
    const registry = new DirectoryRegistry({ now: clock.now, ttlMs: 1000 })
    registry.subscribe((c) => changes.push(c))
    registry.register(PEER_A, registration('lab-a'))
    registry.register(PEER_B, registration('lab-b'))
    clock.advance(600)
    registry.refresh(PEER_A)
    clock.advance(400) // B is exactly at its expiry: gone; A was refreshed
    assert.ok(registry.isRegistered(PEER_A))
    assert.ok(!registry.isRegistered(PEER_B))
    assert.deepEqual(
      registry.query({}).map((e) => e.name),
      ['lab-a'],
    )
    assert.equal(registry.size, 1)
    const expired = registry.expire()
    assert.deepEqual(
      expired.map((e) => e.name),
      ['lab-b'],
    )
    assert.deepEqual(registry.expire(), [])
    clock.advance(600)
    rejects(() => registry.refresh(PEER_A), 'ERR_NOT_REGISTERED')
    assert.deepEqual(
      changes.map((c) => `${c.type}:${c.entry.name}`),
      ['registered:lab-a', 'registered:lab-b', 'refreshed:lab-a', 'expired:lab-b'],
    )
  })

  it('re-registration by the same peer keeps registeredAt and may rename', () => {
    const clock = frozenClock()
    const registry = new DirectoryRegistry({ now: clock.now })
    const first = registry.register(PEER_A, registration('lab-a'))
    clock.advance(5000)
    const second = registry.register(PEER_A, registration('lab-z'))
    assert.equal(second.registeredAt.getTime(), first.registeredAt.getTime())
    assert.equal(second.expiresAt.getTime(), clock.now() + registry.ttlMs)
    assert.equal(registry.size, 1)
    // The old name is free again.
    registry.register(PEER_B, registration('lab-a'))
    assert.equal(registry.size, 2)
  })

  it('refuses a name held by another live peer, naming the holder, until it expires', () => {
    const clock = frozenClock()
    const registry = new DirectoryRegistry({ now: clock.now, ttlMs: 1000 })
    registry.register(PEER_A, registration('lab-a'))
    rejects(() => registry.register(PEER_B, registration('lab-a')), 'ERR_NAME_TAKEN', new RegExp(PEER_A))
    clock.advance(1000)
    const entry = registry.register(PEER_B, registration('lab-a'))
    assert.equal(entry.peerId, PEER_B)
    assert.ok(!registry.isRegistered(PEER_A))
  })

  it('unregister frees the name and reports whether there was a live entry', () => {
    const registry = new DirectoryRegistry()
    registry.register(PEER_A, registration('lab-a'))
    assert.equal(registry.unregister(PEER_A), true)
    assert.equal(registry.unregister(PEER_A), false)
    registry.register(PEER_B, registration('lab-a'))
  })

  it('refuses new exporters beyond maxEntries', () => {
    const clock = frozenClock()
    const registry = new DirectoryRegistry({ now: clock.now, maxEntries: 1, ttlMs: 1000 })
    registry.register(PEER_A, registration('lab-a'))
    rejects(() => registry.register(PEER_B, registration('lab-b')), 'ERR_DIRECTORY_FULL')
    registry.register(PEER_A, registration('lab-a')) // the holder may re-register
    clock.advance(1000)
    registry.register(PEER_B, registration('lab-b')) // room again once A expired
  })

  it('validates registrations with bounds', () => {
    const registry = new DirectoryRegistry()
    const base = registration()
    const place = base.places[0]!
    const part = place.parts[0]!
    const cases: [string, unknown][] = [
      ['name', { ...base, name: 'Lab-A' }],
      ['name', { ...base, name: 'x'.repeat(64) }],
      ['addresses[0]', { ...base, addresses: ['not a multiaddr'] }],
      [
        'addresses',
        { ...base, addresses: Array.from({ length: 33 }, (_, i) => `/ip4/10.0.0.1/tcp/${i + 1}`) },
      ],
      [
        'places',
        { ...base, places: Array.from({ length: MAX_PLACES + 1 }, (_, i) => ({ ...place, name: `p${i}` })) },
      ],
      ['places', { ...base, places: [place, place] }],
      [
        'places[0].parts',
        {
          ...base,
          places: [{ ...place, parts: Array.from({ length: 65 }, (_, i) => ({ ...part, name: `x${i}` })) }],
        },
      ],
      [
        'interfaces',
        {
          ...base,
          places: [
            {
              ...place,
              parts: [
                {
                  ...part,
                  interfaces: Array.from({ length: 33 }, (_, i) => ({ kind: 'serial', name: `s${i}` })),
                },
              ],
            },
          ],
        },
      ],
      [
        'busid',
        {
          ...base,
          places: [{ ...place, parts: [{ ...part, interfaces: [{ kind: 'usb', name: 'u', busid: 'x' }] }] }],
        },
      ],
      [
        'busid',
        {
          ...base,
          places: [
            { ...place, parts: [{ ...part, interfaces: [{ kind: 'serial', name: 'u', busid: '1-1' }] }] },
          ],
        },
      ],
      [
        'vendorId',
        {
          ...base,
          places: [
            { ...place, parts: [{ ...part, interfaces: [{ kind: 'usb', name: 'u', vendorId: 0x10000 }] }] },
          ],
        },
      ],
      [
        'kind',
        { ...base, places: [{ ...place, parts: [{ ...part, interfaces: [{ kind: 'pci', name: 'u' }] }] }] },
      ],
      ['tags[0]', { ...base, places: [{ ...place, tags: ['has space'] }] }],
      ['compatible', { ...base, places: [{ ...place, parts: [{ ...part, compatible: 'st,x' }] }] }],
    ]
    for (const [field, bad] of cases) {
      rejects(
        () => registry.register(PEER_A, bad as never),
        'ERR_BAD_REGISTRATION',
        new RegExp(field.replace(/[[\]]/g, '\\$&')),
      )
    }
    assert.equal(registry.size, 0)
  })

  it('validates queries', () => {
    const registry = new DirectoryRegistry()
    rejects(() => registry.query({ tags: 'rack-3' as never }), 'ERR_BAD_QUERY')
    rejects(() => registry.query({ text: 'x'.repeat(200) }), 'ERR_BAD_QUERY')
    rejects(() => registry.query({ exporter: 'UPPER' }), 'ERR_BAD_QUERY')
  })
})

describe('DirectoryRegistry.query', () => {
  const registry = new DirectoryRegistry()
  registry.register(PEER_B, registration('lab-b'))
  registry.register(PEER_A, registration('lab-a'))
  registry.register('12D3KooWC', registration('empty', { places: [] }))
  const names = (q: Parameters<DirectoryRegistry['query']>[0]) =>
    registry.query(q).map((e) => `${e.name}:${e.places.map((p) => p.name).join(',')}`)

  it('an empty query returns everything, by exporter name', () => {
    assert.deepEqual(names({}), ['empty:', 'lab-a:bench-1,bench-2', 'lab-b:bench-1,bench-2'])
  })

  it('exporter and place match exactly', () => {
    assert.deepEqual(names({ exporter: 'lab-a' }), ['lab-a:bench-1,bench-2'])
    assert.deepEqual(names({ exporter: 'lab' }), [])
    assert.deepEqual(names({ exporter: 'lab-a', place: 'bench-2' }), ['lab-a:bench-2'])
    assert.deepEqual(names({ place: 'bench' }), [])
  })

  it('tags: the place must have every listed tag', () => {
    assert.deepEqual(names({ tags: ['rack-3'] }), ['lab-a:bench-1,bench-2', 'lab-b:bench-1,bench-2'])
    assert.deepEqual(names({ tags: ['rack-3', 'arm'] }), ['lab-a:bench-1', 'lab-b:bench-1'])
    assert.deepEqual(names({ tags: ['arm', 'nope'] }), [])
  })

  it('compatible: one part must have every listed value', () => {
    assert.deepEqual(names({ compatible: ['st,stm32f401'] }), [
      'lab-a:bench-1,bench-2',
      'lab-b:bench-1,bench-2',
    ])
    assert.deepEqual(names({ compatible: ['st,stm32f401', 'st,nucleo-f401re'] }), [
      'lab-a:bench-1',
      'lab-b:bench-1',
    ])
    // bench-2 has both values, but on different parts.
    assert.deepEqual(names({ compatible: ['st,stm32f401', 'espressif,esp32'] }), [])
  })

  it('text: case-insensitive substring of exporter, place, part or tag names', () => {
    assert.deepEqual(names({ text: 'LAB-B' }), ['lab-b:bench-1,bench-2'])
    assert.deepEqual(names({ text: 'ESP' }), ['lab-a:bench-2', 'lab-b:bench-2'])
    assert.deepEqual(names({ text: 'arm' }), ['lab-a:bench-1', 'lab-b:bench-1'])
    assert.deepEqual(names({ text: 'bench-1' }), ['lab-a:bench-1', 'lab-b:bench-1'])
    assert.deepEqual(names({ text: 'console' }), []) // interface names are not searched
  })

  it('all given fields must match', () => {
    assert.deepEqual(
      names({ exporter: 'lab-b', tags: ['rack-3'], compatible: ['espressif,esp32'], text: 'relay' }),
      ['lab-b:bench-2'],
    )
    assert.deepEqual(names({ exporter: 'lab-b', tags: ['arm'], compatible: ['espressif,esp32'] }), [])
  })

  it('looks a live registration up by exporter name', () => {
    const clock = frozenClock()
    const registry = new DirectoryRegistry({ now: clock.now, ttlMs: 30_000 })
    registry.register('peerA', registration('lab-a'))
    assert.equal(registry.lookupName('lab-a')?.peerId, 'peerA')
    assert.equal(registry.lookupName('lab-b'), undefined)
    clock.advance(30_000)
    assert.equal(registry.lookupName('lab-a'), undefined, 'expired entries are not returned')
  })

  it('looks the live holders of a place name up, following re-registrations, removals and expiry', () => {
    const clock = frozenClock()
    const registry = new DirectoryRegistry({ now: clock.now, ttlMs: 30_000 })
    const holders = (place: string) => registry.lookupPlace(place).map((e) => e.name)
    registry.register('peerA', registration('lab-a'))
    registry.register('peerB', registration('lab-b'))
    assert.deepEqual(holders('bench-1'), ['lab-a', 'lab-b'])
    const first = registration('lab-a').places[0]
    registry.register(
      'peerA',
      registration('lab-a', { places: [{ ...(first as PlaceInfo), name: 'bench-9' }] }),
    )
    assert.deepEqual(holders('bench-1'), ['lab-b'], 'a re-registration without the place drops it')
    assert.deepEqual(holders('bench-9'), ['lab-a'])
    registry.unregister('peerB')
    assert.deepEqual(holders('bench-1'), [])
    assert.deepEqual(holders('nowhere'), [])
    clock.advance(30_000)
    assert.deepEqual(holders('bench-9'), [], 'expired entries are not returned')
  })
})
