/**
 * The sysfs side against a fake /sys tree in a temp dir (regular files stand in for vhci's
 * attributes), and a SysfsIo whose writes play the kernel's answers (EBUSY, EINVAL, EACCES).
 * The real kernel is exercised by test/vm/vhci-attach.test.ts.
 */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  attachSocket,
  checkVhciWritable,
  detachPort,
  listAttached,
  nodeSysfsIo,
  readVhciPorts,
  type SysfsIo,
  VhciError,
  vhciFiles,
} from '../src/vhci/index.js'

function statusFile(controller: number, used: Record<number, string> = {}): string {
  const lines = ['hub port sta spd dev      sockfd local_busid']
  for (let i = 0; i < 16; i++) {
    const port = controller * 16 + i
    const hub = i < 8 ? 'hs' : 'ss'
    const busid = used[port]
    lines.push(
      busid
        ? `${hub}  ${String(port).padStart(4, '0')} 006 003 00010002 000005 ${busid}`
        : `${hub}  ${String(port).padStart(4, '0')} 004 000 00000000 000000 0-0`,
    )
  }
  return `${lines.join('\n')}\n`
}

async function fakeSys(root: string, status: string[]): Promise<string> {
  const dir = join(root, 'devices', 'platform', 'vhci_hcd.0')
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'attach'), '')
  await writeFile(join(dir, 'detach'), '')
  for (const [i, text] of status.entries())
    await writeFile(join(dir, i === 0 ? 'status' : `status.${i}`), text)
  return dir
}

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: fake`), { code })
}

describe('vhci sysfs files', () => {
  let root = ''
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tether-vhci-'))
  })
  after(async () => {
    await rm(root, { recursive: true, force: true })
  })

  test('no vhci_hcd.0: ERR_VHCI_NOT_LOADED naming modprobe', async () => {
    const sysfs = join(root, 'empty')
    await mkdir(sysfs)
    assert.throws(
      () => vhciFiles({ sysfs }),
      (err: unknown) =>
        err instanceof VhciError &&
        err.code === 'ERR_VHCI_NOT_LOADED' &&
        err.message.includes('modprobe vhci-hcd'),
    )
    assert.throws(() => attachSocket({ sysfs, sockfd: 3, devid: 1, speed: 3 }), {
      code: 'ERR_VHCI_NOT_LOADED',
    })
    assert.throws(() => listAttached({ sysfs }), { code: 'ERR_VHCI_NOT_LOADED' })
  })

  test('reads every controller, writes the attach line for the first free port of the right hub', async () => {
    const sysfs = join(root, 'two')
    const dir = await fakeSys(sysfs, [statusFile(0, { 0: '3-1', 8: '4-1' }), statusFile(1)])
    const ports = readVhciPorts({ sysfs })
    assert.equal(ports.length, 32)
    assert.deepEqual(
      listAttached({ sysfs }).map((p) => [p.port, p.localBusid]),
      [
        [0, '3-1'],
        [8, '4-1'],
      ],
    )
    assert.equal(attachSocket({ sysfs, sockfd: 17, devid: 0x10002, speed: 2 }), 1)
    assert.equal(await readFile(join(dir, 'attach'), 'utf8'), '1 17 65538 2\n')
    assert.equal(attachSocket({ sysfs, sockfd: 18, devid: 0x10003, speed: 5 }), 9)
    assert.equal(await readFile(join(dir, 'attach'), 'utf8'), '9 18 65539 5\n')
    detachPort(0, { sysfs })
    assert.equal(await readFile(join(dir, 'detach'), 'utf8'), '0\n')
    assert.equal(checkVhciWritable({ sysfs }).dir, dir)
  })

  test('EBUSY: another free port is tried; when none is left, ERR_VHCI_NO_FREE_PORT', async () => {
    const sysfs = join(root, 'busy')
    await fakeSys(sysfs, [statusFile(0, { 0: '3-1', 1: '3-2', 2: '3-3', 3: '3-4', 4: '3-5', 5: '3-6' })])
    const written: string[] = []
    const io: SysfsIo = {
      ...nodeSysfsIo,
      writeAttribute: (path, text) => {
        written.push(text)
        if (text.startsWith('6 ')) throw errno('EBUSY') // lost the race for port 6
        nodeSysfsIo.writeAttribute(path, text)
      },
    }
    assert.equal(attachSocket({ sysfs, io, sockfd: 9, devid: 1, speed: 3 }), 7)
    assert.deepEqual(written, ['6 9 1 3\n', '7 9 1 3\n'])

    const allBusy: SysfsIo = {
      ...nodeSysfsIo,
      writeAttribute: () => {
        throw errno('EBUSY')
      },
    }
    assert.throws(
      () => attachSocket({ sysfs, io: allBusy, sockfd: 9, devid: 1, speed: 3 }),
      (err: unknown) =>
        err instanceof VhciError && err.code === 'ERR_VHCI_NO_FREE_PORT' && /detach/.test(err.message),
    )
  })

  test('attach errnos map to typed errors naming the fix', async () => {
    const sysfs = join(root, 'errnos')
    await fakeSys(sysfs, [statusFile(0)])
    const failing = (code: string): SysfsIo => ({
      ...nodeSysfsIo,
      writeAttribute: () => {
        throw errno(code)
      },
    })
    const cases: [string, string, RegExp][] = [
      ['EINVAL', 'ERR_VHCI_REJECTED', /stream socket/],
      ['EAGAIN', 'ERR_VHCI_NOT_READY', /retry/],
      ['EACCES', 'ERR_VHCI_PERMISSION', /root/],
      ['EPERM', 'ERR_VHCI_PERMISSION', /root/],
      ['ENOENT', 'ERR_VHCI_NOT_LOADED', /modprobe/],
      ['EIO', 'ERR_VHCI_IO', /EIO/],
    ]
    for (const [code, expected, message] of cases) {
      assert.throws(
        () => attachSocket({ sysfs, io: failing(code), sockfd: 3, devid: 1, speed: 3 }),
        (err: unknown) => err instanceof VhciError && err.code === expected && message.test(err.message),
        code,
      )
    }
    // A free port is refused before the kernel sees it (it would log an error line).
    let wrote = false
    const recording: SysfsIo = {
      ...nodeSysfsIo,
      writeAttribute: () => {
        wrote = true
      },
    }
    assert.throws(
      () => detachPort(4, { sysfs, io: recording }),
      (err: unknown) => err instanceof VhciError && err.code === 'ERR_VHCI_NOT_ATTACHED',
    )
    assert.throws(() => detachPort(99, { sysfs, io: recording }), { code: 'ERR_VHCI_NOT_ATTACHED' })
    assert.equal(wrote, false)
    assert.throws(
      () => checkVhciWritable({ sysfs, io: { ...nodeSysfsIo, writable: () => false } }),
      (err: unknown) =>
        err instanceof VhciError && err.code === 'ERR_VHCI_PERMISSION' && /root/.test(err.message),
    )
  })
})
