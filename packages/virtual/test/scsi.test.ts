import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ScsiDisk, ScsiOp, type ScsiPlan, SenseKey } from '../src/index.js'

const disk = (readOnly = false) => new ScsiDisk({ blockCount: 2048, blockSize: 512, readOnly })
const cdb = (...bytes: number[]) => Uint8Array.from(bytes)

function data(plan: ScsiPlan): Uint8Array {
  assert.equal(plan.kind, 'data-in', `expected data, got ${JSON.stringify(plan)}`)
  return plan.kind === 'data-in' ? plan.data : new Uint8Array(0)
}

function senseOf(d: ScsiDisk): [number, number, number] {
  const s = data(d.plan(cdb(ScsiOp.REQUEST_SENSE, 0, 0, 0, 18, 0)))
  assert.equal(s[0], 0x70)
  assert.equal(s[7], 10)
  return [s[2]! & 0x0f, s[12]!, s[13]!]
}

describe('ScsiDisk', () => {
  it('answers standard INQUIRY truncated to the allocation length', () => {
    const d = disk()
    const full = data(d.plan(cdb(ScsiOp.INQUIRY, 0, 0, 0, 96, 0)))
    assert.equal(full.length, 36)
    assert.equal(full[0], 0)
    assert.equal(full[1], 0x80, 'removable')
    assert.equal(full[4], 31)
    assert.equal(new TextDecoder().decode(full.subarray(8, 36)), 'Tether  Virtual Disk    1.00')
    assert.equal(data(d.plan(cdb(ScsiOp.INQUIRY, 0, 0, 0, 5, 0))).length, 5)
  })

  it('serves VPD pages 0x00, 0x80, 0x83 and rejects others', () => {
    const d = disk()
    assert.deepEqual(
      [...data(d.plan(cdb(ScsiOp.INQUIRY, 1, 0x00, 0, 255, 0)))],
      [0, 0, 0, 3, 0x00, 0x80, 0x83],
    )
    const serial = data(d.plan(cdb(ScsiOp.INQUIRY, 1, 0x80, 0, 255, 0)))
    assert.equal(new TextDecoder().decode(serial.subarray(4)), 'TETHER000001')
    assert.equal(data(d.plan(cdb(ScsiOp.INQUIRY, 1, 0x83, 0, 255, 0)))[1], 0x83)
    assert.deepEqual(d.plan(cdb(ScsiOp.INQUIRY, 1, 0xb0, 0, 255, 0)).kind, 'check-condition')
    assert.deepEqual(senseOf(d), [SenseKey.ILLEGAL_REQUEST, 0x24, 0])
    assert.equal(d.plan(cdb(ScsiOp.INQUIRY, 0, 0x80, 0, 255, 0)).kind, 'check-condition', 'page without EVPD')
  })

  it('reports capacity through READ CAPACITY(10), (16) and READ FORMAT CAPACITIES', () => {
    const d = disk()
    assert.deepEqual(
      [...data(d.plan(cdb(ScsiOp.READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0)))],
      [0, 0, 7, 0xff, 0, 0, 2, 0],
    )
    const rc16 = data(
      d.plan(cdb(ScsiOp.SERVICE_ACTION_IN_16, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0)),
    )
    assert.equal(rc16.length, 32)
    assert.deepEqual([...rc16.subarray(0, 12)], [0, 0, 0, 0, 0, 0, 7, 0xff, 0, 0, 2, 0])
    const rfc = data(d.plan(cdb(ScsiOp.READ_FORMAT_CAPACITIES, 0, 0, 0, 0, 0, 0, 0, 252, 0)))
    assert.deepEqual([...rfc], [0, 0, 0, 8, 0, 0, 8, 0, 2, 0, 2, 0])
    assert.equal(d.plan(cdb(ScsiOp.SERVICE_ACTION_IN_16, 0x11)).kind, 'check-condition')
  })

  it('plans reads and writes in all sizes and range-checks them', () => {
    const d = disk()
    assert.deepEqual(d.plan(cdb(ScsiOp.READ_10, 0, 0, 0, 0, 10, 0, 0, 8, 0)), {
      kind: 'read',
      lba: 10,
      blocks: 8,
    })
    assert.deepEqual(d.plan(cdb(ScsiOp.WRITE_10, 0, 0, 0, 7, 0xf8, 0, 0, 8, 0)), {
      kind: 'write',
      lba: 2040,
      blocks: 8,
    })
    assert.deepEqual(d.plan(cdb(ScsiOp.READ_6, 0, 0, 1, 0)), { kind: 'read', lba: 1, blocks: 256 })
    assert.deepEqual(d.plan(cdb(ScsiOp.READ_16, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0)), {
      kind: 'read',
      lba: 5,
      blocks: 2,
    })
    assert.deepEqual(d.plan(cdb(ScsiOp.READ_10, 0, 0, 0, 0, 0, 0, 0, 0, 0)), { kind: 'no-data' })
    assert.equal(d.plan(cdb(ScsiOp.READ_10, 0, 0, 0, 7, 0xf9, 0, 0, 8, 0)).kind, 'check-condition')
    assert.deepEqual(senseOf(d), [SenseKey.ILLEGAL_REQUEST, 0x21, 0])
    assert.deepEqual(senseOf(d), [SenseKey.NO_SENSE, 0, 0], 'REQUEST SENSE consumes the sense')
    assert.equal(
      d.plan(cdb(ScsiOp.WRITE_16, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1)).kind,
      'check-condition',
    )
  })

  it('refuses writes when write-protected and says so in MODE SENSE', () => {
    const ro = disk(true)
    assert.equal(ro.plan(cdb(ScsiOp.WRITE_10, 0, 0, 0, 0, 0, 0, 0, 1, 0)).kind, 'check-condition')
    assert.deepEqual(senseOf(ro), [SenseKey.DATA_PROTECT, 0x27, 0])
    const ms6 = data(ro.plan(cdb(ScsiOp.MODE_SENSE_6, 0, 0x3f, 0, 192, 0)))
    assert.equal(ms6[0], ms6.length - 1)
    assert.equal(ms6[2], 0x80)
    const rw = data(disk().plan(cdb(ScsiOp.MODE_SENSE_10, 0, 0x08, 0, 0, 0, 0, 0, 255, 0)))
    assert.equal(rw[3], 0)
    assert.equal((rw[0]! << 8) | rw[1]!, rw.length - 2)
    assert.equal(rw[8], 0x08, 'caching page')
    assert.equal(disk().plan(cdb(ScsiOp.MODE_SENSE_6, 0, 0x1c, 0, 192, 0)).kind, 'check-condition')
    assert.equal(
      disk().plan(cdb(ScsiOp.MODE_SENSE_6, 0, 0xff, 0, 192, 0)).kind,
      'check-condition',
      'saved values',
    )
  })

  it('accepts the housekeeping commands and rejects unknown opcodes', () => {
    const d = disk()
    for (const op of [ScsiOp.TEST_UNIT_READY, ScsiOp.START_STOP_UNIT, ScsiOp.PREVENT_ALLOW_MEDIUM_REMOVAL]) {
      assert.deepEqual(d.plan(cdb(op, 0, 0, 0, 0, 0)), { kind: 'no-data' })
    }
    assert.deepEqual(d.plan(cdb(ScsiOp.SYNCHRONIZE_CACHE_10, 0, 0, 0, 0, 0, 0, 0, 0, 0)), { kind: 'sync' })
    assert.deepEqual(d.plan(cdb(ScsiOp.VERIFY_10, 0, 0, 0, 0, 0, 0, 0, 4, 0)), { kind: 'no-data' })
    assert.equal(d.plan(cdb(ScsiOp.VERIFY_10, 0x02, 0, 0, 0, 0, 0, 0, 4, 0)).kind, 'check-condition')
    assert.equal(d.plan(cdb(0xa1, 0, 0, 0)).kind, 'check-condition') // ATA PASS-THROUGH(12)
    assert.deepEqual(senseOf(d), [SenseKey.ILLEGAL_REQUEST, 0x20, 0])
  })
})
