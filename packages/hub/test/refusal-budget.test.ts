import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { RefusalBudget } from '../src/control/refusal-budget.js'

describe('RefusalBudget: audit rows for refusals, per peer', () => {
  it('records a burst, then one per refill period, and says how many it left out', () => {
    const budget = new RefusalBudget({ burst: 3, refillMs: 1_000 })
    const recorded = (now: number) => budget.take('p', now)
    for (let i = 0; i < 3; i++) assert.deepEqual(recorded(0), { record: true, suppressed: 0 })
    for (let i = 0; i < 5; i++) assert.deepEqual(recorded(10), { record: false })
    assert.deepEqual(recorded(999), { record: false })
    assert.deepEqual(recorded(1_000), { record: true, suppressed: 6 })
    assert.deepEqual(recorded(1_500), { record: false })
    assert.deepEqual(recorded(2_000), { record: true, suppressed: 1 })
    // A long quiet spell refills the whole burst, not more.
    for (let i = 0; i < 3; i++) assert.equal(recorded(60_000).record, true)
    assert.equal(recorded(60_000).record, false)
  })

  it('keeps peers apart and forgets the least recently refused beyond maxPeers', () => {
    const budget = new RefusalBudget({ burst: 1, refillMs: 60_000, maxPeers: 2 })
    assert.equal(budget.take('a', 0).record, true)
    assert.equal(budget.take('b', 0).record, true, 'b has its own bucket')
    assert.equal(budget.take('a', 1).record, false)
    assert.equal(budget.take('c', 2).record, true)
    assert.equal(budget.size, 2)
    // b was least recently refused: forgotten, so it starts over with a full burst.
    assert.equal(budget.take('b', 3).record, true)
    assert.equal(budget.take('a', 4).record, true, 'a was forgotten when b came back')
  })
})
