/**
 * When a forward's lease is over: which failures end it (the capability source's ERR_LEASE_ENDED,
 * the exporter refusing the capability as revoked or expired) and which only pass (busy,
 * unreachable, an exporter too old to send a refusal code); an ended forward opens no tunnel,
 * its endpoint answers local usbip clients with a refusal, and a device's tunnel closing makes it
 * check its lease.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect } from 'node:net'
import { type Duplex, duplexPair } from 'node:stream'
import { describe, it } from 'node:test'
import { NetError } from '@tether/net'
import { encodeOpReqImport, importDevice, listDevices, OpStatus, UsbipError } from '@tether/usbip'
import type { CapabilitySource } from '../src/capabilities.js'
import { AgentError } from '../src/errors.js'
import { type ForwardOpener, ForwardTunnels } from '../src/forward-lease.js'
import { UsbipEndpoint } from '../src/usbip-endpoint.js'

/** What openTunnel throws when the exporter refuses. */
const refused = (status: string, message: string, code?: string) =>
  new NetError('ERR_TUNNEL_REFUSED', `tunnel to 1-1 refused: ${status} (${message})`, {
    details: { busid: '1-1', status, message, ...(code ? { code } : {}) },
  })

/** A capability source that hands out "t" until `end` is set (then ERR_LEASE_ENDED). */
function lease(): CapabilitySource & { end?: string; asked: number } {
  return {
    leaseId: '42',
    asked: 0,
    async token() {
      this.asked++
      if (this.end) throw new AgentError('ERR_LEASE_ENDED', this.end)
      return new TextEncoder().encode('t')
    },
  }
}

/** An opener whose next answers the test sets; records what it was asked. */
function opener() {
  const calls: { busid: string; token: string | undefined }[] = []
  let next: () => Promise<Duplex> = async () => duplexPair()[0]
  const open: ForwardOpener = (busid, token, _signal) => {
    calls.push({ busid, token: token && new TextDecoder().decode(token) })
    return next()
  }
  return {
    open,
    calls,
    answer: (fn: () => Promise<Duplex>) => {
      next = fn
    },
  }
}

const forwardOf = (open: ForwardOpener, capability?: CapabilitySource) =>
  new ForwardTunnels(open, {
    what: 'lab-a-1:rpi-2',
    target: 'rpi-2',
    ...(capability ? { capability } : {}),
  })
const signal = () => AbortSignal.timeout(1_000)

describe('ForwardTunnels: a forward ends with its lease', () => {
  it('opens tunnels with the lease’s token while the lease is on', async () => {
    const o = opener()
    const f = forwardOf(o.open, lease())
    ;(await f.tunnel('1-1', signal())).destroy()
    assert.deepEqual(o.calls, [{ busid: '1-1', token: 't' }])
    assert.equal(f.state, 'up')
    assert.equal(f.lastError, undefined)
  })

  it('the capability source saying the lease ended ends the forward; no tunnel is asked for', async () => {
    const o = opener()
    const source = lease()
    source.end = 'lease 42 is over at the hub (ERR_LEASE_ENDED)'
    const f = forwardOf(o.open, source)
    await assert.rejects(f.tunnel('1-1', signal()), (err: AgentError) => {
      assert.equal(err.code, 'ERR_LEASE_ENDED')
      assert.match(
        err.message,
        /^the forward of lab-a-1:rpi-2 has ended: lease 42 is over at the hub \(ERR_LEASE_ENDED\); reserve the place again and run tether forward rpi-2$/,
      )
      return true
    })
    assert.equal(f.state, 'ended')
    assert.equal(f.lastError, source.end)
    assert.deepEqual(o.calls, [])
    // From now on it asks neither the hub nor the exporter.
    await assert.rejects(f.tunnel('1-1', signal()), { code: 'ERR_LEASE_ENDED' })
    assert.equal(source.asked, 1)
    assert.deepEqual(o.calls, [])
  })

  for (const code of ['ERR_TOKEN_REVOKED', 'ERR_TOKEN_EXPIRED']) {
    it(`the exporter refusing the capability with ${code} ends the forward`, async () => {
      const o = opener()
      const f = forwardOf(o.open, lease())
      o.answer(() => Promise.reject(refused('STATUS_DENIED', `capability j1 … (${code})`, code)))
      await assert.rejects(f.tunnel('1-1', signal()), { code: 'ERR_LEASE_ENDED' })
      assert.equal(f.state, 'ended')
      assert.match(f.lastError ?? '', new RegExp(`^the exporter refused the lease's capability: .*${code}`))
      o.answer(async () => duplexPair()[0])
      await assert.rejects(f.tunnel('1-1', signal()), { code: 'ERR_LEASE_ENDED' })
      assert.equal(o.calls.length, 1)
    })
  }

  it('other failures pass unchanged and leave it up; a success clears the last error', async () => {
    const o = opener()
    const f = forwardOf(o.open, lease())
    for (const err of [
      refused('STATUS_BUSY', '1-1 is in use'),
      refused('STATUS_DENIED', 'cannot look up hub key k2 (ERR_JWKS_UNAVAILABLE)', 'ERR_JWKS_UNAVAILABLE'),
      // An exporter older than TunnelOpenResult.code: its text alone ends nothing.
      refused('STATUS_DENIED', 'capability j1 has been revoked by the hub (ERR_TOKEN_REVOKED)'),
      new AgentError('ERR_UNREACHABLE', 'exporter unreachable'),
      new NetError('ERR_TIMEOUT', 'the tunnel handshake timed out'),
    ]) {
      o.answer(() => Promise.reject(err))
      await assert.rejects(f.tunnel('1-1', signal()), (e: unknown) => e === err)
      assert.equal(f.state, 'up', err.message)
      assert.equal(f.lastError, err.message)
    }
    o.answer(async () => duplexPair()[0])
    ;(await f.tunnel('1-1', signal())).destroy()
    assert.equal(f.lastError, undefined)
  })

  it('without a lease (open mode) it never ends', async () => {
    const o = opener()
    const f = forwardOf(o.open)
    o.answer(() => Promise.reject(refused('STATUS_DENIED', 'revoked', 'ERR_TOKEN_REVOKED')))
    await assert.rejects(f.tunnel('1-1', signal()), { code: 'ERR_TUNNEL_REFUSED' })
    assert.equal(f.state, 'up')
    assert.deepEqual(o.calls, [{ busid: '1-1', token: undefined }])
    await f.check()
    assert.equal(o.calls.length, 1, 'no lease to check')
  })

  it('check(): a list-only tunnel, closed at once; ends the forward if the lease is over, one at a time', async () => {
    const o = opener()
    const f = forwardOf(o.open, lease())
    const [mine] = duplexPair()
    o.answer(async () => mine)
    await f.check()
    assert.deepEqual(o.calls, [{ busid: '', token: 't' }])
    assert.equal(mine.destroyed, true)
    assert.equal(f.state, 'up')
    // The exporter being away is no end.
    o.answer(() => Promise.reject(new AgentError('ERR_UNREACHABLE', 'exporter unreachable')))
    await f.check()
    assert.equal(f.state, 'up')
    o.answer(() =>
      Promise.reject(refused('STATUS_DENIED', 'revoked (ERR_TOKEN_REVOKED)', 'ERR_TOKEN_REVOKED')),
    )
    await Promise.all([f.check(), f.check()])
    assert.equal(o.calls.length, 3, 'two checks at once ask once')
    assert.equal(f.state, 'ended')
    await f.check()
    assert.equal(o.calls.length, 3, 'an ended forward checks nothing')
  })
})

describe('UsbipEndpoint of an ended forward', () => {
  it('answers usbip with a refusal (NA) and closes; a device tunnel closed by the exporter ends it', async () => {
    const o = opener()
    const f = forwardOf(o.open, lease())
    const closed: string[] = []
    const endpoint = new UsbipEndpoint((busid, s) => f.tunnel(busid, s), {
      busids: ['1-1'],
      onTunnelClosed: (busid) => {
        closed.push(busid)
        void f.check()
      },
    })
    const { port } = await endpoint.listen(0)
    try {
      // A usbip client imports 1-1; the exporter (the test) holds the other end of its tunnel.
      const [mine, exporterSide] = duplexPair()
      o.answer(async () => mine)
      const client = connect({ port, host: '127.0.0.1' })
      await once(client, 'connect')
      client.write(encodeOpReqImport('1-1'))
      await once(exporterSide, 'data')
      // The lease is kicked: the exporter closes the tunnel, and refuses the capability since.
      o.answer(() =>
        Promise.reject(refused('STATUS_DENIED', 'revoked (ERR_TOKEN_REVOKED)', 'ERR_TOKEN_REVOKED')),
      )
      exporterSide.end()
      await once(client, 'close')
      for (let i = 0; i < 100 && f.state === 'up'; i++) await new Promise((r) => setTimeout(r, 10))
      assert.deepEqual(closed, ['1-1'])
      assert.equal(f.state, 'ended')
      assert.deepEqual(
        o.calls.map((c) => c.busid),
        ['1-1', ''],
        'the check was a list-only tunnel',
      )
      // New local connections are refused without a tunnel.
      await assert.rejects(importDevice({ host: '127.0.0.1', port, busid: '1-1' }), (err: UsbipError) => {
        assert.ok(err instanceof UsbipError)
        assert.equal(err.details.status, OpStatus.NA)
        return true
      })
      await assert.rejects(listDevices({ host: '127.0.0.1', port }), UsbipError)
      assert.equal(o.calls.length, 2)
    } finally {
      await endpoint.close()
    }
  })
})
