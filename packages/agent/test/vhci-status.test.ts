import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  attachedPorts,
  attachLine,
  chooseFreePort,
  devidOf,
  hubForSpeed,
  parseVhciStatus,
  VhciError,
} from '../src/vhci/index.js'

/** What Linux 6.1's vhci_hcd prints (two devices in use, one being attached). */
const STATUS = `hub port sta spd dev      sockfd local_busid
hs  0000 006 002 00010002 000005 3-1
hs  0001 005 003 00010003 000007 0-0
hs  0002 004 000 00000000 000000 0-0
hs  0003 004 000 00000000 000000 0-0
ss  0004 006 005 00020004 000009 4-1
ss  0005 004 000 00000000 000000 0-0
ss  0006 004 000 00000000 000000 0-0
ss  0007 004 000 00000000 000000 0-0
`

describe('parseVhciStatus', () => {
  test('reads hub, port, state, speed, devid, sockfd and the local busid', () => {
    const ports = parseVhciStatus(STATUS)
    assert.equal(ports.length, 8)
    assert.deepEqual(ports[0], {
      hub: 'hs',
      port: 0,
      state: 6,
      speed: 2,
      devid: 0x10002,
      sockfd: 5,
      localBusid: '3-1',
    })
    assert.equal(ports[1]!.localBusid, undefined, '0-0 means no local device yet')
    assert.equal(ports[4]!.hub, 'ss')
    assert.equal(ports[4]!.localBusid, '4-1')
  })

  test('reads the "not ready" form with a 16-digit sockfd column', () => {
    const ports = parseVhciStatus(
      'hub port sta spd dev      sockfd local_busid\nhs  0016 005 000 00000000 0000000000000000 0-0\n',
    )
    assert.equal(ports[0]!.port, 16)
    assert.equal(ports[0]!.state, 5)
  })

  test('refuses a pre-4.13 status file and garbage lines with ERR_VHCI_BAD_STATUS', () => {
    assert.throws(
      () =>
        parseVhciStatus('port sta spd dev      socket           local_busid\n0000 004 000 00000000 0 0-0\n'),
      (err: unknown) =>
        err instanceof VhciError && err.code === 'ERR_VHCI_BAD_STATUS' && /4\.13/.test(err.message),
    )
    assert.throws(
      () => parseVhciStatus('hub port sta spd dev      sockfd local_busid\nhs zzz\n'),
      (err: unknown) => err instanceof VhciError && err.code === 'ERR_VHCI_BAD_STATUS',
    )
  })

  test('an empty file has no ports', () => {
    assert.deepEqual(parseVhciStatus(''), [])
  })
})

describe('chooseFreePort', () => {
  const ports = parseVhciStatus(STATUS)
  test('full/high/low speed devices go to the lowest free hs port', () => {
    assert.equal(chooseFreePort(ports, 1)?.port, 2)
    assert.equal(chooseFreePort(ports, 2)?.port, 2)
    assert.equal(chooseFreePort(ports, 3)?.port, 2)
  })
  test('super speed devices go to an ss port', () => {
    assert.equal(chooseFreePort(ports, 5)?.port, 5)
    assert.equal(chooseFreePort(ports, 6)?.port, 5)
  })
  test('excluded ports (refused with EBUSY) are skipped; none left gives undefined', () => {
    assert.equal(chooseFreePort(ports, 3, new Set([2]))?.port, 3)
    assert.equal(chooseFreePort(ports, 3, new Set([2, 3])), undefined)
  })
  test('attachedPorts lists every port not free', () => {
    assert.deepEqual(
      attachedPorts(ports).map((p) => p.port),
      [0, 1, 4],
    )
  })
})

describe('attach line and speeds', () => {
  test('"<port> <sockfd> <devid> <speed>"', () => {
    assert.equal(
      attachLine({ port: 3, sockfd: 21, devid: devidOf({ busnum: 1, devnum: 2 }), speed: 3 }),
      '3 21 65538 3\n',
    )
  })
  test('devid packs busnum and devnum', () => {
    assert.equal(devidOf({ busnum: 0xffff, devnum: 0xffff }), 0xffffffff)
    assert.throws(() => devidOf({ busnum: 0x10000, devnum: 1 }), VhciError)
  })
  test('unknown speed 0 and out-of-range codes are refused with ERR_VHCI_BAD_SPEED', () => {
    for (const speed of [0, 7, -1, 2.5]) {
      assert.throws(
        () => hubForSpeed(speed),
        (err: unknown) => err instanceof VhciError && err.code === 'ERR_VHCI_BAD_SPEED',
      )
    }
    assert.equal(hubForSpeed(4), 'hs')
  })
  test('misuse of attachLine is a TypeError', () => {
    assert.throws(() => attachLine({ port: -1, sockfd: 3, devid: 1, speed: 3 }), TypeError)
  })
})
