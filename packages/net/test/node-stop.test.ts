import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { stopNodeWithin, type TetherNode } from '../src/index.js'

const nodeStopping = (stop: () => Promise<void>) => ({ stop }) as unknown as TetherNode

describe('stopNodeWithin', () => {
  it('waits for a stop that ends', async () => {
    let stopped = false
    const node = nodeStopping(async () => {
      await new Promise((r) => setTimeout(r, 20))
      stopped = true
    })
    assert.equal(await stopNodeWithin(node, 1_000), true)
    assert.ok(stopped)
  })

  it('gives up on a stop that never ends, so a command can exit', async () => {
    const node = nodeStopping(() => new Promise<void>(() => {}))
    const started = performance.now()
    assert.equal(await stopNodeWithin(node, 50), false)
    assert.ok(performance.now() - started < 1_000)
  })

  it('a failing stop counts as stopped', async () => {
    assert.equal(
      await stopNodeWithin(
        nodeStopping(() => Promise.reject(new Error('x'))),
        1_000,
      ),
      true,
    )
  })
})
