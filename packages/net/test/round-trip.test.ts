import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { TetherNode } from '../src/node.js'
import { handleRoundTrips, RoundTripProbe } from '../src/round-trip.js'
import { loopbackNode, tcpAddress } from './helpers.js'

describe('round-trip probe', () => {
  let echoing: TetherNode
  let silent: TetherNode
  let prober: TetherNode

  before(async () => {
    ;[echoing, silent, prober] = await Promise.all([loopbackNode(), loopbackNode(), loopbackNode()])
    await handleRoundTrips(echoing)
  })

  after(async () => {
    await Promise.all([echoing?.stop(), silent?.stop(), prober?.stop()])
  })

  it('measures sub-millisecond round trips on loopback over one long-lived stream', async () => {
    const connection = await prober.dial(tcpAddress(echoing))
    const probe = new RoundTripProbe(connection)
    const samples: number[] = []
    for (let i = 0; i < 50; i++) samples.push(await probe.measure({ signal: AbortSignal.timeout(5_000) }))
    const sorted = [...samples].sort((a, b) => a - b)
    const median = sorted[25] as number
    assert.ok(median > 0 && median < 5, `median ${median} ms on loopback`)
    assert.ok(
      samples.some((s) => !Number.isInteger(s)),
      'fractional milliseconds, not whole ones',
    )
    const streams = connection.streams.filter((s) => s.protocol === '/tether/rtt/1.0.0')
    assert.equal(streams.length, 1, 'one stream reused for every probe')
    probe.close()
  })

  it('fails with ERR_CLOSED when the peer does not speak the protocol', async () => {
    const probe = new RoundTripProbe(await prober.dial(tcpAddress(silent)))
    await assert.rejects(probe.measure({ signal: AbortSignal.timeout(5_000) }), { code: 'ERR_CLOSED' })
  })

  it('fails with ERR_CLOSED when the connection goes away, and again after', async () => {
    const connection = await prober.dial(tcpAddress(echoing))
    const probe = new RoundTripProbe(connection)
    await probe.measure()
    await connection.close()
    await assert.rejects(probe.measure({ signal: AbortSignal.timeout(5_000) }), { code: 'ERR_CLOSED' })
    await assert.rejects(probe.measure({ signal: AbortSignal.timeout(5_000) }), { code: 'ERR_CLOSED' })
  })
})
