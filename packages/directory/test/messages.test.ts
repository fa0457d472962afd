import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isNetError, schemaType } from '@tether/net'
import { DirectoryRegistry, DirectoryRequestCodec, DirectoryResponseCodec } from '../src/index.js'
import { registration } from './fixtures.js'

function wire(name: string, object: Record<string, unknown>): Uint8Array {
  const type = schemaType(name)
  return type.encode(type.fromObject(object)).finish()
}

function badField(f: () => unknown, field?: RegExp) {
  assert.throws(f, (err: unknown) => {
    assert.ok(isNetError(err), `expected NetError, got ${err}`)
    assert.ok(err.code === 'ERR_BAD_FIELD' || err.code === 'ERR_DECODE', err.code)
    assert.equal(err.origin, 'remote')
    if (field) assert.match(err.message, field)
    return true
  })
}

describe('directory codecs', () => {
  it('round-trip every request', () => {
    const requests = [
      { type: 'register', registration: registration() },
      { type: 'refresh' },
      { type: 'unregister' },
      {
        type: 'query',
        query: { exporter: 'lab-a', tags: ['rack-3'], compatible: ['st,stm32f401'], text: 'nuc' },
      },
    ] as const
    for (const request of requests) {
      assert.deepEqual(DirectoryRequestCodec.decode(DirectoryRequestCodec.encode(request)), request)
    }
    assert.deepEqual(
      DirectoryRequestCodec.decode(DirectoryRequestCodec.encode({ type: 'query', query: {} })),
      {
        type: 'query',
        query: {},
      },
    )
  })

  it('round-trip every response, dates and optional fields included', () => {
    const registry = new DirectoryRegistry({ now: () => 1_700_000_000_123 })
    const entry = registry.register('12D3KooWA', registration(), '/ip4/198.51.100.7/tcp/5555')
    const bare = registry.register('12D3KooWB', registration('lab-b', { places: [], addresses: [] }))
    const responses = [
      { type: 'registered', ttlMs: 30_000, entry },
      { type: 'unregistered', removed: true },
      { type: 'result', entries: [entry, bare], truncated: false },
      { type: 'failure', code: 'ERR_NAME_TAKEN', message: 'taken' },
    ] as const
    for (const response of responses) {
      assert.deepEqual(DirectoryResponseCodec.decode(DirectoryResponseCodec.encode(response)), response)
    }
  })

  it('reject an empty or ambiguous oneof', () => {
    badField(() => DirectoryRequestCodec.decode(new Uint8Array()))
    badField(() => DirectoryResponseCodec.decode(new Uint8Array()))
    badField(() => DirectoryRequestCodec.decode(Uint8Array.from([0xff, 0xff, 0xff])))
  })

  it('reject registrations that break the rules on the wire', () => {
    const good = {
      name: 'lab-a',
      addresses: ['/ip4/192.0.2.1/tcp/4001'],
      places: [
        {
          name: 'p',
          tags: [],
          parts: [{ name: 'q', compatible: [], interfaces: [{ kind: 'KIND_USB', name: 'u', busid: '1-1' }] }],
        },
      ],
    }
    assert.equal(
      (
        DirectoryRequestCodec.decode(
          wire('tether.v1.DirectoryRequest', { register: { registration: good } }),
        ) as { type: string }
      ).type,
      'register',
    )
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ ...good, name: '' }, /name/],
      [{ ...good, addresses: ['/ip4/999.1.1.1/tcp/1'] }, /addresses\[0\]/],
      [{ ...good, places: [{ ...good.places[0], name: 'has space' }] }, /places\[0\]\.name/],
      [
        {
          ...good,
          places: [
            { name: 'p', parts: [{ name: 'q', interfaces: [{ kind: 'KIND_UNSPECIFIED', name: 'u' }] }] },
          ],
        },
        /kind/,
      ],
      [
        { ...good, places: [{ name: 'p', parts: [{ name: 'q', interfaces: [{ kind: 7, name: 'u' }] }] }] },
        /kind/,
      ],
      [
        {
          ...good,
          places: [
            {
              name: 'p',
              parts: [{ name: 'q', interfaces: [{ kind: 'KIND_USB', name: 'u', vendor_id: 70000 }] }],
            },
          ],
        },
        /vendorId/,
      ],
    ]
    for (const [registration, field] of bad) {
      badField(
        () =>
          DirectoryRequestCodec.decode(wire('tether.v1.DirectoryRequest', { register: { registration } })),
        field,
      )
    }
    badField(
      () => DirectoryRequestCodec.decode(wire('tether.v1.DirectoryRequest', { register: {} })),
      /registration/,
    )
  })

  it('reject bad responses', () => {
    badField(
      () => DirectoryResponseCodec.decode(wire('tether.v1.DirectoryResponse', { registered: { ttl_ms: 0 } })),
      /ttl_ms/,
    )
    badField(
      () =>
        DirectoryResponseCodec.decode(
          wire('tether.v1.DirectoryResponse', {
            registered: { ttl_ms: 5, entry: { peer_id: 'x/y', registration: { name: 'a' } } },
          }),
        ),
      /peer_id/,
    )
    badField(
      () =>
        DirectoryResponseCodec.decode(
          wire('tether.v1.DirectoryResponse', { failure: { code: 'nope', message: '' } }),
        ),
      /code/,
    )
  })

  it('refuse to encode invalid values', () => {
    badField(() =>
      DirectoryRequestCodec.encode({
        type: 'register',
        registration: registration('lab-a', { addresses: ['bogus'] }),
      }),
    )
    badField(() => DirectoryRequestCodec.encode({ type: 'query', query: { tags: ['a b'] } }))
  })
})
