import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Enrollment, hashToken, MemoryEnrollmentStore } from '../src/enrollment/enrollment.js'

function setup(start = 1_000_000) {
  let now = start
  const store = new MemoryEnrollmentStore()
  const enrollment = new Enrollment(store, () => now)
  return { store, enrollment, advance: (ms: number) => (now += ms) }
}

describe('exporter enrollment with one-time join tokens', () => {
  it('binds the exporter name to the PeerId that presents the token', () => {
    const { enrollment } = setup()
    const { token } = enrollment.issue('lab-1', 60_000, 'admin')
    assert.match(token, /^tjt_[A-Za-z0-9_-]{43}$/)
    assert.equal(enrollment.enroll(token, 'peerA'), 'lab-1')
    assert.doesNotThrow(() => enrollment.check('lab-1', 'peerA'))
    assert.throws(() => enrollment.check('lab-1', 'peerB'), {
      code: 'ERR_NOT_ENROLLED',
      message: /bound to another peer/,
    })
  })

  it('refuses a reused token, naming who used it', () => {
    const { enrollment } = setup()
    const { token } = enrollment.issue('lab-1', 60_000, 'admin')
    enrollment.enroll(token, 'peerA')
    assert.throws(() => enrollment.enroll(token, 'peerB'), { code: 'ERR_JOIN_TOKEN_USED', message: /peerA/ })
    assert.throws(() => enrollment.check('lab-1', 'peerB'), { code: 'ERR_NOT_ENROLLED' })
  })

  it('refuses an expired token and an unknown one', () => {
    const { enrollment, advance } = setup()
    const { token } = enrollment.issue('lab-1', 60_000, 'admin')
    advance(60_000)
    assert.throws(() => enrollment.enroll(token, 'peerA'), { code: 'ERR_JOIN_TOKEN_EXPIRED' })
    assert.throws(() => enrollment.enroll(`${token}x`, 'peerA'), { code: 'ERR_JOIN_TOKEN_INVALID' })
  })

  it('keeps only the hash of a token', () => {
    const { enrollment, store } = setup()
    const { token } = enrollment.issue('lab-1', 60_000, 'admin')
    const record = store.findToken(hashToken(token))
    assert.ok(record)
    assert.ok(!JSON.stringify(record).includes(token.slice(4)))
  })

  it('a new token re-binds the name to a replacement machine', () => {
    const { enrollment } = setup()
    enrollment.enroll(enrollment.issue('lab-1', 60_000, 'admin').token, 'peerA')
    enrollment.enroll(enrollment.issue('lab-1', 60_000, 'admin').token, 'peerC')
    assert.doesNotThrow(() => enrollment.check('lab-1', 'peerC'))
    assert.throws(() => enrollment.check('lab-1', 'peerA'), { code: 'ERR_NOT_ENROLLED' })
  })

  it('an unenrolled name says how to enroll', () => {
    const { enrollment } = setup()
    assert.throws(() => enrollment.check('lab-9', 'peerA'), {
      code: 'ERR_NOT_ENROLLED',
      message: /join-token lab-9/,
    })
  })
})
