/**
 * When an attachment must stop reconnecting because its lease is over: the capability source's
 * renewals near the lease's end, and which failed (re)attaches mean "over" (kicked, returned,
 * revoked, expired) rather than a transient failure to retry with backoff.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { HubRequestError } from '@tether/control'
import { NetError } from '@tether/net'
import {
  type Capability,
  expClaim,
  LEASE_END_MARGIN_MS,
  LeaseCapability,
  leaseOverReason,
  REFRESH_BEFORE_MS,
} from '../src/capabilities.js'
import { AgentError } from '../src/errors.js'

const T0 = 1_750_000_000_000
const cap = (name: string, expiresAtMs: number): Capability => ({
  token: new TextEncoder().encode(name),
  expiresAtMs,
})
const text = (token: Uint8Array) => new TextDecoder().decode(token)

/** What the agent's hub client throws for a hub refusal. */
const hubRefusal = (code: string, message: string) =>
  new AgentError('ERR_HUB', `${message} (${code})`, { cause: new HubRequestError(code, message) })

/** What openTunnel throws when the exporter refuses (`code`: TunnelOpenResult.code, if sent). */
const refused = (status: string, message: string, code?: string) =>
  new NetError('ERR_TUNNEL_REFUSED', `tunnel to 1-1 refused: ${status} (${message})`, {
    details: { busid: '1-1', status, message, ...(code ? { code } : {}) },
  })

function source(current: Capability, renew: () => Promise<Capability>, now: { t: number }) {
  let renewals = 0
  const proofs: string[] = []
  const s = new LeaseCapability(
    '42',
    current,
    (previous) => {
      renewals++
      proofs.push(text(previous))
      return renew()
    },
    () => now.t,
  )
  return { s, renewals: () => renewals, proofs }
}

describe('LeaseCapability: tokens near the lease end', () => {
  it('uses the token in hand while it has more than REFRESH_BEFORE_MS left', async () => {
    const now = { t: T0 }
    const { s, renewals } = source(cap('a', T0 + REFRESH_BEFORE_MS + 1), async () => cap('b', T0 + 1e9), now)
    assert.equal(text(await s.token()), 'a')
    assert.equal(renewals(), 0)
  })

  it('renews near the end; a renewed lease gives a later token', async () => {
    const now = { t: T0 }
    const { s, renewals, proofs } = source(cap('a', T0 + 60_000), async () => cap('b', T0 + 3_600_000), now)
    assert.equal(text(await s.token()), 'b')
    assert.equal(renewals(), 1)
    assert.deepEqual(proofs, ['a'], 'the renewal presents the token in hand (proof after a hub restart)')
    assert.equal(text(await s.token()), 'b', 'the fresh token is kept')
    assert.equal(renewals(), 1)
  })

  it('the lease is over when the hub’s fresh token ends within the margin (lease at its end)', async () => {
    const now = { t: T0 + 60_000 }
    // The tunnel closed at the token's exp; the hub still lists the lease for a moment.
    const { s } = source(
      cap('a', T0 + 60_000),
      async () => cap('b', T0 + 60_000 + LEASE_END_MARGIN_MS - 1),
      now,
    )
    const err = await s.token().then(
      () => assert.fail('a token for an ended lease'),
      (e: unknown) => e,
    )
    assert.ok(err instanceof AgentError)
    assert.equal(err.code, 'ERR_LEASE_ENDED')
    assert.match(err.message, /lease 42 ended at/)
    assert.equal(leaseOverReason(err), err.message)
  })

  it('the hub refusing a new token (ERR_TOKEN_MISSING) ends the lease once the token in hand ran out', async () => {
    const now = { t: T0 }
    const missing = () => Promise.reject(hubRefusal('ERR_TOKEN_MISSING', 'no capability for lease 42'))
    const { s } = source(cap('a', T0 + 30_000), missing, now)
    // Still valid: the exporter decides (it refuses a revoked lease itself).
    assert.equal(text(await s.token()), 'a')
    now.t = T0 + 30_000
    await assert.rejects(s.token(), (e: AgentError) => {
      assert.equal(e.code, 'ERR_LEASE_ENDED')
      assert.match(
        e.message,
        /^lease 42 is over: its capability ran out at .* \(ERR_TOKEN_MISSING\); reserve/,
      )
      return true
    })
  })

  it('the hub saying the lease ended (ERR_LEASE_ENDED) ends it at once, even with a valid token in hand', async () => {
    const now = { t: T0 }
    const ended = () => Promise.reject(hubRefusal('ERR_LEASE_ENDED', 'lease 42 is over'))
    const { s } = source(cap('a', T0 + 60_000), ended, now)
    await assert.rejects(s.token(), (e: AgentError) => {
      assert.equal(e.code, 'ERR_LEASE_ENDED')
      assert.equal(leaseOverReason(e), e.message)
      return true
    })
  })

  it('a hub that does not answer is no end: the token in hand while valid, else the error (retried)', async () => {
    const now = { t: T0 }
    const down = hubRefusal('ERR_HUB_UNREACHABLE', 'cannot reach the hub')
    const { s } = source(cap('a', T0 + 30_000), () => Promise.reject(down), now)
    assert.equal(text(await s.token()), 'a')
    now.t = T0 + 31_000
    await assert.rejects(s.token(), (e: unknown) => e === down)
    assert.equal(leaseOverReason(down), undefined)
  })
})

describe('leaseOverReason: stop reconnecting, or retry', () => {
  it('over: the exporter refuses a revoked or expired capability (its refusal code)', () => {
    const revoked = refused(
      'STATUS_DENIED',
      'capability j1 (reservation 42) has been revoked by the hub; the lease is over — the importer must make a new reservation (ERR_TOKEN_REVOKED)',
      'ERR_TOKEN_REVOKED',
    )
    assert.match(leaseOverReason(revoked) ?? '', /refused the lease's capability: .*ERR_TOKEN_REVOKED/)
    const expired = refused(
      'STATUS_DENIED',
      'capability j1 expired at … (ERR_TOKEN_EXPIRED)',
      'ERR_TOKEN_EXPIRED',
    )
    assert.match(leaseOverReason(expired) ?? '', /ERR_TOKEN_EXPIRED/)
    // The code decides, not the text.
    assert.match(
      leaseOverReason(refused('STATUS_DENIED', 'gone', 'ERR_TOKEN_REVOKED')) ?? '',
      /capability: gone$/,
    )
  })

  it('not over: other refusals and failures may pass', () => {
    for (const err of [
      // The exporter has not fetched the hub's new key yet.
      refused('STATUS_DENIED', 'cannot look up hub key k2 (ERR_JWKS_UNAVAILABLE)', 'ERR_JWKS_UNAVAILABLE'),
      // Clock skew at the start of a lease.
      refused(
        'STATUS_DENIED',
        'capability j1 is not valid before … (ERR_TOKEN_NOT_YET_VALID)',
        'ERR_TOKEN_NOT_YET_VALID',
      ),
      refused('STATUS_DENIED', 'capability j1 is for another peer (ERR_TOKEN_BINDING)', 'ERR_TOKEN_BINDING'),
      refused('STATUS_BUSY', '1-1 is in use'),
      refused('STATUS_ERROR', 'the exporter is stopping'),
      // A revoked code under another status is not the exporter's denial.
      refused('STATUS_ERROR', 'x (ERR_TOKEN_REVOKED)', 'ERR_TOKEN_REVOKED'),
      // An exporter older than TunnelOpenResult.code: the text alone decides nothing (retried).
      refused('STATUS_DENIED', 'capability j1 has been revoked by the hub (ERR_TOKEN_REVOKED)'),
      new NetError('ERR_TIMEOUT', 'the tunnel handshake timed out'),
      hubRefusal('ERR_NOT_FOUND', 'exporter lab-1 is not registered now; try again when it is back'),
      new AgentError('ERR_UNREACHABLE', 'exporter unreachable'),
      new Error('ECONNRESET'),
      undefined,
    ]) {
      assert.equal(leaseOverReason(err), undefined, String((err as Error | undefined)?.message))
    }
  })
})

describe('expClaim', () => {
  it('reads exp from a JWS payload, undefined for anything else', () => {
    const payload = Buffer.from(JSON.stringify({ exp: 1_750_000_123, rid: '42' })).toString('base64url')
    assert.equal(expClaim(`eyJhbGciOiJFZERTQSJ9.${payload}.sig`), 1_750_000_123)
    assert.equal(expClaim('not-a-jwt'), undefined)
    assert.equal(expClaim(`h.${Buffer.from('{"exp":"soon"}').toString('base64url')}.s`), undefined)
  })
})
