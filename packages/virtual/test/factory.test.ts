import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import {
  CdcAcmDevice,
  createVirtualDevice,
  GadgetZeroDevice,
  isVirtualDeviceError,
  MassStorageDevice,
  ScriptedBoardPeer,
} from '../src/index.js'

describe('createVirtualDevice', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tether-factory-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('builds each kind with identity derived from the index', () => {
    const acm = createVirtualDevice('cdc-acm')
    assert.ok(acm instanceof CdcAcmDevice)
    assert.deepEqual([acm.identity.busid, acm.identity.busnum, acm.identity.devnum], ['1-1', 1, 1])
    const board = createVirtualDevice('cdc-acm:board', { index: 1 })
    assert.ok(board instanceof CdcAcmDevice && board.peer instanceof ScriptedBoardPeer)
    assert.deepEqual([board.identity.busid, board.identity.devnum], ['1-2', 2])
    const zero = createVirtualDevice('gadget-zero', { index: 2 })
    assert.ok(zero instanceof GadgetZeroDevice)
    assert.equal(zero.identity.busid, '1-3')
    assert.equal(createVirtualDevice('gadget-zero', { busid: '3-7' }).identity.busid, '3-7')
  })

  it('opens disks read-write or read-only', () => {
    const path = join(dir, 'a.img')
    writeFileSync(path, new Uint8Array(64 * 1024))
    const rw = createVirtualDevice(`disk:${path}`)
    assert.ok(rw instanceof MassStorageDevice)
    assert.equal(rw.disk.info.readOnly, false)
    assert.equal(rw.disk.info.blockCount, 128)
    const ro = createVirtualDevice(`disk:${path}:ro`)
    assert.ok(ro instanceof MassStorageDevice && ro.disk.info.readOnly)
    assert.match(ro.description, /read-only/)
  })

  it('rejects bad specs and missing or tiny images with clear errors', () => {
    const expectCode = (spec: string, code: string, mention?: string) =>
      assert.throws(
        () => createVirtualDevice(spec),
        (err: unknown) =>
          isVirtualDeviceError(err) && err.code === code && (!mention || err.message.includes(mention)),
      )
    expectCode('floppy', 'ERR_BAD_DEVICE_SPEC', 'floppy')
    expectCode('cdc-acm:modem', 'ERR_BAD_DEVICE_SPEC')
    expectCode('disk:', 'ERR_BAD_DEVICE_SPEC')
    const missing = join(dir, 'missing.img')
    expectCode(`disk:${missing}`, 'ERR_DISK_NOT_FOUND', missing)
    expectCode(`disk:${dir}`, 'ERR_DISK_NOT_A_FILE', dir)
    const tiny = join(dir, 'tiny.img')
    writeFileSync(tiny, new Uint8Array(100))
    expectCode(`disk:${tiny}`, 'ERR_DISK_TOO_SMALL', tiny)
  })
})
