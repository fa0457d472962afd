import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { schemaType } from '@tether/net'
import { type HubRequest, HubRequestCodec, type HubResponse, HubResponseCodec } from '../src/index.js'

const lease = {
  id: 'l-1',
  user: 'alice@example.org',
  exporter: 'lab-1',
  exporterPeerId: '12D3KooWExample',
  place: 'rpi-1',
  parts: ['board'],
  priority: 5,
  startsAtMs: 1_800_000_000_000,
  expiresAtMs: 1_800_003_600_000,
  renewals: 1,
}
const entry = {
  id: 'q-7',
  user: 'bob',
  priority: 0,
  position: 3,
  enqueuedAtMs: 1_800_000_000_000,
  wanted: 'rpi-1',
}

const auditRecord = {
  seq: 42,
  atMs: 1_800_000_000_000,
  type: 'lease-ended',
  user: 'carol',
  place: 'lab-a-1/rpi-1',
  summary: 'lease L40 (carol on lab-a-1/rpi-1) kicked by alice: bench maintenance',
  eventJson: '{"type":"lease-ended","seq":42,"reason":"kicked","note":"bench maintenance"}',
}

describe('hub control messages', () => {
  const requests: HubRequest[] = [
    {
      login: 'eyJ.x.y',
      body: {
        type: 'reserve',
        tags: ['arm'],
        parts: [{ compatible: ['raspberrypi,4-model-b'], interfaces: ['usb', 'serial'] }],
        priority: 3,
        leaseMs: 3_600_000,
        wait: true,
      },
    },
    {
      login: 't',
      body: { type: 'reserve', place: 'rpi-1', tags: [], parts: [], priority: 0, leaseMs: 0, wait: false },
    },
    { login: 't', body: { type: 'return', id: 'l-1' } },
    { login: 't', body: { type: 'renew', id: 'l-1', leaseMs: 60_000 } },
    { login: 't', body: { type: 'capability', leaseId: 'l-1' } },
    { login: 't', body: { type: 'list', all: true } },
    { login: 't', body: { type: 'show', id: 'q-7' } },
    { login: 't', body: { type: 'who', place: 'rpi-1' } },
    { login: 't', body: { type: 'who', place: 'lab-a/rpi-1' } },
    { login: 't', body: { type: 'who' } },
    { login: 't', body: { type: 'whoami' } },
    { login: '', body: { type: 'jwks' } },
    { login: 't', body: { type: 'grant', subject: 'group:lab', tag: 'arm', startsAtMs: 1, endsAtMs: 2 } },
    { login: 't', body: { type: 'revoke', id: 'g-1', reason: 'done' } },
    { login: 't', body: { type: 'kick', leaseId: 'l-1', reason: 'needed for a demo' } },
    { login: 't', body: { type: 'maintenance', place: 'rpi-1', on: true, reason: 'reflashing' } },
    { login: 't', body: { type: 'join-token', exporter: 'lab-1', validMs: 600_000 } },
    { login: '', body: { type: 'enroll', joinToken: 'tjt_abc' } },
    { login: '', body: { type: 'auth-info' } },
    { login: '', body: { type: 'watch' } },
    {
      login: 't',
      body: {
        type: 'audit',
        afterSeq: 0,
        sinceMs: 1_800_000_000_000,
        user: 'carol@example.org',
        place: 'lab-a-1/rpi-1',
        types: ['lease-ended', 'refused'],
        limit: 1000,
      },
    },
    { login: 't', body: { type: 'audit', types: [], limit: 0 } },
    { login: 't', body: { type: 'place-states', places: ['lab-a-1/rpi-1', 'lab-b/x.y_z-1'] } },
    { login: 't', body: { type: 'place-states', places: [] } },
  ]
  for (const request of requests) {
    it(`request ${request.body.type} round-trips`, () => {
      assert.deepEqual(HubRequestCodec.decode(HubRequestCodec.encode(request)), request)
    })
  }

  const responses: HubResponse[] = [
    { type: 'lease', lease },
    { type: 'progress', entry },
    { type: 'capability', token: 'a.b.c', expiresAtMs: 5 },
    { type: 'list', leases: [lease], queue: [entry] },
    { type: 'identity', user: 'alice', roles: ['admin', 'importer'], issuer: 'https://idp', expiresAtMs: 9 },
    { type: 'jwks', json: '{"keys":[]}' },
    { type: 'join-token', token: 'tjt_x', expiresAtMs: 3 },
    { type: 'enrolled', exporter: 'lab-1' },
    { type: 'done' },
    {
      type: 'auth-info',
      issuers: [{ url: 'https://idp', clientId: 'tether-cli', deviceClientId: 'tether-device' }],
    },
    { type: 'revoked', leaseId: 'L7', reason: 'kicked' },
    { type: 'granted', id: 'G12' },
    { type: 'failure', code: 'ERR_PRIORITY_CAP', message: 'priority 9 is above your cap of 5' },
    { type: 'audit', records: [auditRecord], more: true },
    {
      type: 'audit',
      records: [{ ...auditRecord, seq: 43, type: 'some-newer-type', user: '', place: '', summary: '' }],
      more: false,
    },
    { type: 'audit', records: [], more: false },
    {
      type: 'place-states',
      states: [
        { place: 'lab-a-1/rpi-1', state: 'leased', holder: 'alice', untilMs: 1_800_000_000_000, waiting: 2 },
        { place: 'lab-a-1/rpi-2', state: 'leased', untilMs: 1_800_000_000_000, waiting: 0 },
        { place: 'lab-a-1/rpi-3', state: 'maintenance', waiting: 0, note: 'new firmware' },
        { place: 'lab-b/x', state: 'free', waiting: 0 },
      ],
    },
  ]
  for (const response of responses) {
    it(`response ${response.type} round-trips`, () => {
      assert.deepEqual(HubResponseCodec.decode(HubResponseCodec.encode(response)), response)
    })
  }

  const raw = (o: Record<string, unknown>) => {
    const t = schemaType('tether.v1.HubRequest')
    return t.encode(t.fromObject(o)).finish()
  }
  it('refuses a request with no body', () => {
    assert.throws(() => HubRequestCodec.decode(raw({ login: 't' })), { code: 'ERR_BAD_FIELD' })
  })
  it('refuses bad names, a grant with both place and tag, and a bad subject', () => {
    assert.throws(() => HubRequestCodec.decode(raw({ login: 't', return: { id: '../etc' } })), {
      code: 'ERR_BAD_FIELD',
    })
    assert.throws(
      () =>
        HubRequestCodec.decode(
          raw({ login: 't', grant: { subject: 'group:a', place: 'p', tag: 't', ends_at_ms: 2 } }),
        ),
      { code: 'ERR_BAD_FIELD', message: /exactly one/ },
    )
    assert.throws(
      () =>
        HubRequestCodec.decode(raw({ login: 't', grant: { subject: 'root', place: 'p', ends_at_ms: 2 } })),
      {
        code: 'ERR_BAD_FIELD',
      },
    )
  })
  it('refuses an oversized login token and an absurd priority', () => {
    assert.throws(() => HubRequestCodec.decode(raw({ login: 'x'.repeat(20_000), whoami: {} })), {
      code: 'ERR_BAD_FIELD',
    })
    assert.throws(
      () => HubRequestCodec.decode(raw({ login: 't', reserve: { place: 'p', priority: 99_999 } })),
      {
        code: 'ERR_BAD_FIELD',
      },
    )
  })
  it('refuses malformed audit requests, naming the field', () => {
    const refusedField = (audit: Record<string, unknown>, field: RegExp) =>
      assert.throws(() => HubRequestCodec.decode(raw({ login: 't', audit })), {
        code: 'ERR_BAD_FIELD',
        message: field,
      })
    refusedField({ types: ['lease-ended', 'everything'] }, /^AuditRequest\.types\[1\] /)
    refusedField({ user: 'carol\nalice' }, /^AuditRequest\.user /)
    refusedField({ user: 'x'.repeat(257) }, /^AuditRequest\.user is longer than 256/)
    refusedField({ place: '../etc' }, /^AuditRequest\.place /)
    refusedField({ types: Array.from({ length: 33 }, () => 'refused') }, /^AuditRequest\.types must be/)
  })
  it('refuses malformed place-states requests and answers, naming the field', () => {
    const refusedRequest = (place_states: Record<string, unknown>, field: RegExp) =>
      assert.throws(() => HubRequestCodec.decode(raw({ login: 't', place_states })), {
        code: 'ERR_BAD_FIELD',
        message: field,
      })
    refusedRequest({ places: ['rpi-1'] }, /^PlaceStatesRequest\.places\[0\] /)
    refusedRequest({ places: Array.from({ length: 1001 }, (_, i) => `lab/p${i}`) }, /at most 1000/)
    const t = schemaType('tether.v1.HubResponse')
    const refusedAnswer = (state: Record<string, unknown>, field: RegExp) =>
      assert.throws(
        () => HubResponseCodec.decode(t.encode(t.fromObject({ place_states: { states: [state] } })).finish()),
        { code: 'ERR_BAD_FIELD', message: field },
      )
    refusedAnswer({ place: 'lab/p', state: 'haunted' }, /^PlaceState\.state /)
    refusedAnswer({ place: 'lab/p', state: 'free', holder: 'a\nb' }, /^PlaceState\.holder /)
    refusedAnswer({ place: 'p', state: 'free' }, /^PlaceState\.place /)
  })
  it('refuses malformed audit logs, naming the field', () => {
    const t = schemaType('tether.v1.HubResponse')
    const rawResponse = (audit: Record<string, unknown>) => t.encode(t.fromObject({ audit })).finish()
    const wire = {
      seq: 42,
      at_ms: 1,
      type: 'refused',
      user: 'carol',
      place: 'rpi-1',
      summary: 'refused',
      event_json: '{}',
    }
    const refusedField = (record: Record<string, unknown>, field: RegExp) =>
      assert.throws(() => HubResponseCodec.decode(rawResponse({ records: [{ ...wire, ...record }] })), {
        code: 'ERR_BAD_FIELD',
        message: field,
      })
    assert.deepEqual(HubResponseCodec.decode(rawResponse({ records: [wire] })), {
      type: 'audit',
      records: [
        {
          ...auditRecord,
          seq: 42,
          atMs: 1,
          type: 'refused',
          place: 'rpi-1',
          summary: 'refused',
          eventJson: '{}',
        },
      ],
      more: false,
    })
    refusedField({ event_json: '{"type":' }, /^AuditRecord\.event_json is not JSON/)
    refusedField({ event_json: '[1]' }, /^AuditRecord\.event_json is not a JSON object/)
    refusedField(
      { event_json: `{"a":"${'x'.repeat(5000)}"}` },
      /^AuditRecord\.event_json is longer than 4096/,
    )
    refusedField({ summary: 'two\nlines' }, /^AuditRecord\.summary /)
    refusedField({ summary: 'x'.repeat(513) }, /^AuditRecord\.summary is longer than 512/)
    refusedField({ type: 'DROP TABLE' }, /^AuditRecord\.type /)
    refusedField({ user: 'a\u0000b' }, /^AuditRecord\.user /)
    assert.throws(() => HubResponseCodec.decode(rawResponse({ records: Array(1001).fill(wire) })), {
      code: 'ERR_BAD_FIELD',
      message: /^AuditLog\.records has more than 1000/,
    })
    // Encoding checks the same bounds.
    assert.throws(
      () =>
        HubResponseCodec.encode({
          type: 'audit',
          records: [{ ...auditRecord, eventJson: 'nope' }],
          more: false,
        }),
      { code: 'ERR_BAD_FIELD', message: /event_json/ },
    )
  })
  it('will not encode what it would refuse to decode', () => {
    assert.throws(() => HubRequestCodec.encode({ login: 't', body: { type: 'return', id: 'a b' } }), {
      code: 'ERR_BAD_FIELD',
    })
  })
})
