import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { BackendRequest } from '../src/backend.js'
import { Errno, OpStatus, TransferFlag } from '../src/constants.js'
import { ClientSession, type ClientSessionEvent } from '../src/session/client-session.js'
import { ServerSession, type ServerSessionEvent } from '../src/session/server-session.js'
import { testCatalog } from './fixtures.js'

/** A client and a server session wired byte-to-byte, no sockets (h11's helpers.py idea). */
class Wire {
  readonly client = new ClientSession()
  readonly server = new ServerSession(testCatalog())
  readonly submitted: BackendRequest[] = []
  readonly cancelled: number[] = []
  closed: Extract<ServerSessionEvent, { type: 'close' }> | undefined
  received: ClientSessionEvent[] = []

  toServer(bytes: Uint8Array): void {
    this.server.receiveData(bytes)
    this.drainServer()
  }

  drainServer(): void {
    for (const event of this.server.takeEvents()) {
      if (event.type === 'send') this.client.receiveData(event.bytes)
      else if (event.type === 'submit') this.submitted.push(event.request)
      else if (event.type === 'cancel') this.cancelled.push(event.seqnum)
      else if (event.type === 'close') this.closed = event
    }
    this.received.push(...this.client.takeEvents())
  }

  complete(seqnum: number, completion: Parameters<ServerSession['complete']>[1]): boolean {
    const accepted = this.server.complete(seqnum, completion)
    this.drainServer()
    return accepted
  }

  take(): ClientSessionEvent[] {
    const events = this.received
    this.received = []
    return events
  }

  static attached(): Wire {
    const wire = new Wire()
    wire.toServer(wire.client.requestImport('1-1'))
    const [reply] = wire.take()
    assert.equal(reply?.type, 'import')
    assert.equal(reply.type === 'import' && reply.status, OpStatus.OK)
    return wire
  }

  submit(init: Parameters<ClientSession['submit']>[0]): number {
    const { seqnum, bytes } = this.client.submit(init)
    this.toServer(bytes)
    return seqnum
  }
}

const setup = (requestType: number, request: number, value: number, index: number, length: number) =>
  Uint8Array.from([
    requestType,
    request,
    value & 0xff,
    value >> 8,
    index & 0xff,
    index >> 8,
    length & 0xff,
    length >> 8,
  ])

function retSubmits(events: ClientSessionEvent[]) {
  return events.flatMap((e) => (e.type === 'ret-submit' ? [e.message] : []))
}

describe('handshake', () => {
  test('device list is answered and the connection closes', () => {
    const wire = new Wire()
    wire.toServer(wire.client.requestDeviceList())
    const [reply] = wire.take()
    assert.equal(reply?.type, 'devlist')
    assert.equal(reply.type === 'devlist' && reply.devices[0]?.busid, '1-1')
    assert.equal(wire.closed?.reason, 'device list served')
  })

  test('unknown busid → NODEV and close; a claimed one → DEV_BUSY', () => {
    const catalog = testCatalog()
    const first = new ServerSession(catalog)
    first.receiveData(new ClientSession().requestImport('9-9'))
    assert.ok(first.takeEvents().some((e) => e.type === 'close'))
    const s1 = new ServerSession(catalog)
    s1.receiveData(new ClientSession().requestImport('1-1'))
    assert.ok(s1.takeEvents().some((e) => e.type === 'attached'))
    const s2 = new ServerSession(catalog)
    const c2 = new ClientSession()
    s2.receiveData(c2.requestImport('1-1'))
    for (const e of s2.takeEvents()) if (e.type === 'send') c2.receiveData(e.bytes)
    const [reply] = c2.takeEvents()
    assert.equal(reply?.type === 'import' && reply.status, OpStatus.DEV_BUSY)
  })

  test('import switches to URB phase and announces the attach', () => {
    const wire = Wire.attached()
    assert.equal(wire.server.state, 'attached')
    assert.equal(wire.server.busid, '1-1')
  })
})

describe('submit and complete', () => {
  test('a bulk IN URB reaches the backend with the endpoint type from the descriptors', () => {
    const wire = Wire.attached()
    const seqnum = wire.submit({ ep: 1, direction: 'in', length: 512 })
    const request = wire.submitted[0]
    assert.equal(request?.kind, 'transfer')
    assert.equal(request.kind === 'transfer' && request.type, 'bulk')
    assert.equal(request.kind === 'transfer' && request.maxPacketSize, 512)
    wire.complete(seqnum, { status: 0, data: Uint8Array.from([1, 2, 3]) })
    const [ret] = retSubmits(wire.take())
    assert.equal(ret?.seqnum, seqnum)
    assert.deepEqual([...(ret?.data ?? [])], [1, 2, 3])
    assert.equal(ret?.actualLength, 3)
  })

  test('duplicate pending seqnum is a protocol error that closes the session', () => {
    const wire = Wire.attached()
    const { bytes } = wire.client.submit({ ep: 1, direction: 'in', length: 8 })
    wire.toServer(bytes)
    wire.toServer(bytes)
    assert.equal(wire.closed?.error?.code, 'ERR_DUPLICATE_SEQNUM')
    assert.deepEqual(wire.cancelled, [wire.submitted[0]!.seqnum], 'the first URB is cancelled at close')
  })

  test('replies on one endpoint leave in request order even when the backend finishes out of order', () => {
    const wire = Wire.attached()
    const a = wire.submit({ ep: 1, direction: 'in', length: 64 })
    const b = wire.submit({ ep: 1, direction: 'in', length: 64 })
    const other = wire.submit({ ep: 2, direction: 'out', data: new Uint8Array(4) })
    wire.complete(b, { status: 0, data: new Uint8Array(1) })
    wire.complete(other, { status: 0, actualLength: 4 })
    assert.deepEqual(
      retSubmits(wire.take()).map((m) => m.seqnum),
      [other],
      'b waits for a; ep2 is independent',
    )
    wire.complete(a, { status: 0, data: new Uint8Array(2) })
    assert.deepEqual(
      retSubmits(wire.take()).map((m) => m.seqnum),
      [a, b],
    )
  })

  test('no such endpoint → -EPIPE without touching the backend', () => {
    const wire = Wire.attached()
    wire.submit({ ep: 5, direction: 'in', length: 8 })
    wire.submit({ ep: 1, direction: 'out', data: new Uint8Array(1) })
    assert.equal(wire.submitted.length, 0)
    assert.deepEqual(
      retSubmits(wire.take()).map((m) => m.status),
      [Errno.EPIPE, Errno.EPIPE],
    )
  })

  test('SHORT_NOT_OK turns a short IN into -EREMOTEIO and keeps the data', () => {
    const wire = Wire.attached()
    const s = wire.submit({ ep: 1, direction: 'in', length: 512, transferFlags: TransferFlag.SHORT_NOT_OK })
    wire.complete(s, { status: 0, data: new Uint8Array(10) })
    const [ret] = retSubmits(wire.take())
    assert.equal(ret?.status, Errno.EREMOTEIO)
    assert.equal(ret?.actualLength, 10)
  })

  test('ZERO_PACKET is asked of the backend only for OUT lengths that are multiples of wMaxPacketSize', () => {
    const wire = Wire.attached()
    wire.submit({
      ep: 2,
      direction: 'out',
      data: new Uint8Array(1024),
      transferFlags: TransferFlag.ZERO_PACKET,
    })
    wire.submit({
      ep: 2,
      direction: 'out',
      data: new Uint8Array(1000),
      transferFlags: TransferFlag.ZERO_PACKET,
    })
    wire.submit({ ep: 2, direction: 'out', data: new Uint8Array(512) })
    assert.deepEqual(
      wire.submitted.map((r) => r.kind === 'transfer' && r.zeroPacket),
      [true, false, false],
    )
  })

  test('a backend that returns more than asked cannot make us break the kernel rule', () => {
    const wire = Wire.attached()
    const s = wire.submit({ ep: 1, direction: 'in', length: 4 })
    wire.complete(s, { status: 0, data: new Uint8Array(100) })
    const [ret] = retSubmits(wire.take())
    assert.equal(ret?.actualLength, 4)
    assert.equal(ret?.status, Errno.EOVERFLOW)
  })

  test('a wrong devid closes the session', () => {
    const wire = Wire.attached()
    const other = new ClientSession()
    wire.toServer(other.submit({ ep: 1, direction: 'in', length: 1 }).bytes)
    assert.equal(wire.closed?.error?.code, 'ERR_BAD_FIELD')
  })
})

describe('unlink', () => {
  test('cancelled → RET_UNLINK -ECONNRESET and never a RET_SUBMIT', () => {
    const wire = Wire.attached()
    const s = wire.submit({ ep: 1, direction: 'in', length: 64 })
    const unlink = wire.client.unlink(s)!
    wire.toServer(unlink.bytes)
    assert.deepEqual(wire.cancelled, [s])
    wire.complete(s, { status: Errno.ECONNRESET })
    const events = wire.take()
    assert.deepEqual(
      events.map((e) => e.type),
      ['ret-unlink'],
    )
    assert.equal(events[0]?.type === 'ret-unlink' && events[0].message.status, Errno.ECONNRESET)
    assert.equal(wire.server.pendingCount, 0)
  })

  test('completed before the cancel took effect → RET_SUBMIT first, then RET_UNLINK 0', () => {
    const wire = Wire.attached()
    const s = wire.submit({ ep: 1, direction: 'in', length: 64 })
    wire.toServer(wire.client.unlink(s)!.bytes)
    wire.complete(s, { status: 0, data: new Uint8Array(3) })
    const events = wire.take()
    assert.deepEqual(
      events.map((e) => (e.type === 'ret-unlink' ? `unlink:${e.message.status}` : e.type)),
      ['ret-submit', 'unlink:0'],
    )
  })

  test('an already answered URB → RET_UNLINK 0 at once', () => {
    const wire = Wire.attached()
    const s = wire.submit({ ep: 1, direction: 'in', length: 64 })
    const unlink = wire.client.unlink(s)!
    wire.complete(s, { status: 0, data: new Uint8Array(1) })
    wire.take()
    wire.toServer(unlink.bytes)
    const events = wire.take()
    assert.equal(events.length, 1)
    assert.equal(events[0]?.type === 'ret-unlink' && events[0].message.status, 0)
    assert.deepEqual(wire.cancelled, [])
  })

  test('a completed URB held behind an earlier one is not cancelled; its RET_UNLINK 0 follows its RET_SUBMIT', () => {
    const wire = Wire.attached()
    const a = wire.submit({ ep: 1, direction: 'in', length: 8 })
    const b = wire.submit({ ep: 1, direction: 'in', length: 8 })
    wire.complete(b, { status: 0, data: new Uint8Array(1) })
    wire.toServer(wire.client.unlink(b)!.bytes)
    assert.deepEqual(wire.cancelled, [])
    assert.deepEqual(wire.take(), [])
    wire.complete(a, { status: 0, data: new Uint8Array(1) })
    assert.deepEqual(
      wire
        .take()
        .map((e) =>
          e.type === 'ret-submit'
            ? `submit:${e.message.seqnum}`
            : e.type === 'ret-unlink'
              ? `unlink:${e.target}:${e.message.status}`
              : e.type,
        ),
      [`submit:${a}`, `submit:${b}`, `unlink:${b}:0`],
    )
  })

  test('an unlink that overtakes its submit: no reply until the submit, then RET_UNLINK -ECONNRESET and no RET_SUBMIT', () => {
    const wire = Wire.attached()
    const first = wire.submit({ ep: 1, direction: 'in', length: 8 })
    const late = wire.client.submit({ ep: 1, direction: 'in', length: 8 })
    const unlink = wire.client.unlink(late.seqnum)!
    wire.toServer(unlink.bytes)
    assert.deepEqual(wire.take(), [], 'RET_UNLINK 0 now would make vhci give the URB back too early')
    wire.toServer(late.bytes)
    assert.deepEqual(
      wire.submitted.map((r) => r.seqnum),
      [first],
      'the overtaken URB never reaches the backend',
    )
    wire.complete(first, { status: 0, data: new Uint8Array(1) })
    assert.deepEqual(
      wire
        .take()
        .map((e) =>
          e.type === 'ret-submit'
            ? `submit:${e.message.seqnum}`
            : e.type === 'ret-unlink'
              ? `unlink:${e.target}:${e.message.status}`
              : e.type,
        ),
      [`unlink:${late.seqnum}:${Errno.ECONNRESET}`, `submit:${first}`],
    )
    assert.equal(wire.server.pendingCount, 0)
  })

  test('an unlink of an URB already answered (an older seqnum) still gets RET_UNLINK 0 at once', () => {
    const wire = Wire.attached()
    const a = wire.submit({ ep: 1, direction: 'in', length: 8 })
    const unlink = wire.client.unlink(a)!
    wire.complete(a, { status: 0, data: new Uint8Array(1) })
    wire.submit({ ep: 1, direction: 'in', length: 8 })
    wire.take()
    wire.toServer(unlink.bytes)
    const events = wire.take()
    assert.equal(events.length, 1)
    assert.equal(events[0]?.type === 'ret-unlink' && events[0].message.status, 0)
  })

  test('cancelling the head releases the URBs queued behind it', () => {
    const wire = Wire.attached()
    const a = wire.submit({ ep: 1, direction: 'in', length: 8 })
    const b = wire.submit({ ep: 1, direction: 'in', length: 8 })
    wire.complete(b, { status: 0, data: new Uint8Array(1) })
    wire.toServer(wire.client.unlink(a)!.bytes)
    wire.complete(a, { status: Errno.ECONNRESET })
    assert.deepEqual(
      wire
        .take()
        .map((e) =>
          e.type === 'ret-submit'
            ? `submit:${e.message.seqnum}`
            : e.type === 'ret-unlink'
              ? `unlink:${e.target}`
              : e.type,
        ),
      [`unlink:${a}`, `submit:${b}`],
    )
  })
})

describe('standard requests routed to the backend', () => {
  test('SET_CONFIGURATION goes to the backend and switches the endpoint table on success', () => {
    const wire = Wire.attached()
    const s = wire.submit({ ep: 0, direction: 'out', setup: setup(0x00, 0x09, 2, 0, 0) })
    assert.deepEqual(wire.submitted[0], { kind: 'set-configuration', seqnum: s, configurationValue: 2 })
    wire.complete(s, { status: 0 })
    wire.take()
    wire.submit({ ep: 4, direction: 'in', length: 8 })
    const last = wire.submitted.at(-1)
    assert.equal(last?.kind === 'transfer' && last.type, 'interrupt')
  })

  test('SET_CONFIGURATION to a value no configuration has stalls without the backend', () => {
    const wire = Wire.attached()
    wire.submit({ ep: 0, direction: 'out', setup: setup(0x00, 0x09, 7, 0, 0) })
    assert.equal(wire.submitted.length, 0)
    assert.equal(retSubmits(wire.take())[0]?.status, Errno.EPIPE)
  })

  test('SET_INTERFACE selects an alt setting whose iso endpoint then exists', () => {
    const wire = Wire.attached()
    wire.submit({ ep: 3, direction: 'in', length: 1024, isoPacketLengths: [1024] })
    assert.equal(retSubmits(wire.take())[0]?.status, Errno.EPIPE)
    const s = wire.submit({ ep: 0, direction: 'out', setup: setup(0x01, 0x0b, 1, 0, 0) })
    assert.deepEqual(wire.submitted[0], {
      kind: 'set-interface',
      seqnum: s,
      interfaceNumber: 0,
      alternateSetting: 1,
    })
    wire.complete(s, { status: 0 })
    wire.take()
    const iso = wire.submit({ ep: 3, direction: 'in', length: 2048, isoPacketLengths: [1024, 1024] })
    const request = wire.submitted.at(-1)
    assert.equal(request?.kind === 'transfer' && request.type, 'isochronous')
    wire.complete(iso, {
      status: 0,
      data: new Uint8Array(1500),
      isoPackets: [
        { actualLength: 1000, status: 0 },
        { actualLength: 500, status: 0 },
      ],
    })
    const [ret] = retSubmits(wire.take())
    assert.equal(ret?.actualLength, 1500)
    assert.deepEqual(
      ret?.isoPackets.map((p) => [p.offset, p.length, p.actualLength]),
      [
        [0, 1024, 1000],
        [1024, 1024, 500],
      ],
    )
  })

  test('CLEAR_FEATURE(ENDPOINT_HALT) becomes a clear-halt request', () => {
    const wire = Wire.attached()
    const s = wire.submit({ ep: 0, direction: 'out', setup: setup(0x02, 0x01, 0, 0x81, 0) })
    assert.deepEqual(wire.submitted[0], { kind: 'clear-halt', seqnum: s, endpointAddress: 0x81 })
  })

  test('other control requests pass through as control transfers', () => {
    const wire = Wire.attached()
    wire.submit({ ep: 0, direction: 'in', length: 18, setup: setup(0x80, 0x06, 0x0100, 0, 18) })
    const request = wire.submitted[0]
    assert.equal(request?.kind === 'transfer' && request.type, 'control')
  })
})

describe('device gone', () => {
  test('pending URBs fail with -ESHUTDOWN, then the session closes', () => {
    const wire = Wire.attached()
    const a = wire.submit({ ep: 1, direction: 'in', length: 8 })
    const b = wire.submit({ ep: 2, direction: 'out', data: new Uint8Array(2) })
    wire.server.deviceGone('unplugged')
    wire.drainServer()
    const rets = retSubmits(wire.take())
    assert.deepEqual(
      rets.map((r) => [r.seqnum, r.status]),
      [
        [a, Errno.ESHUTDOWN],
        [b, Errno.ESHUTDOWN],
      ],
    )
    assert.match(wire.closed?.reason ?? '', /device gone/)
    assert.equal(wire.complete(a, { status: 0 }), false, 'late completions are ignored')
  })
})
