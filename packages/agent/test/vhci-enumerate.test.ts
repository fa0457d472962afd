/**
 * waitForEnumeration against a fake /sys and /dev that change while it waits, the way the kernel
 * fills them in: port addressed → device dir → interfaces → drivers → tty/block nodes → /dev.
 */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  assessEnumeration,
  type DeviceSnapshot,
  inspectDevice,
  primaryNodes,
  VhciError,
  type VhciPort,
  waitForEnumeration,
} from '../src/vhci/index.js'

function status(port2: string): string {
  const lines = ['hub port sta spd dev      sockfd local_busid']
  for (let i = 0; i < 8; i++) {
    lines.push(i === 2 ? port2 : `hs  ${String(i).padStart(4, '0')} 004 000 00000000 000000 0-0`)
  }
  return `${lines.join('\n')}\n`
}
const ATTACHING = 'hs  0002 005 002 00010001 000005 0-0'
const USED = 'hs  0002 006 002 00010001 000005 3-1'
const FREE = 'hs  0002 004 000 00000000 000000 0-0'

async function node(dir: string, subsystem: string, devname: string, sys: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'uevent'), `MAJOR=1\nMINOR=2\nDEVNAME=${devname}\n`)
  await mkdir(join(sys, 'class', subsystem), { recursive: true })
  await symlink(join(sys, 'class', subsystem), join(dir, 'subsystem'))
}

describe('waitForEnumeration', () => {
  let root = ''
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tether-enum-'))
  })
  after(async () => {
    await rm(root, { recursive: true, force: true })
  })

  async function fake(name: string) {
    const sys = join(root, name, 'sys')
    const dev = join(root, name, 'dev')
    const vhci = join(sys, 'devices', 'platform', 'vhci_hcd.0')
    await mkdir(vhci, { recursive: true })
    await mkdir(dev, { recursive: true })
    await writeFile(join(vhci, 'attach'), '')
    await writeFile(join(vhci, 'status'), status(ATTACHING))
    const device = join(sys, 'bus', 'usb', 'devices', '3-1')
    await mkdir(join(sys, 'bus', 'usb', 'drivers', 'cdc_acm'), { recursive: true })
    await mkdir(join(sys, 'bus', 'usb', 'drivers', 'usb-storage'), { recursive: true })
    return { sys, dev, vhci, device }
  }

  test('CDC-ACM: waits through every stage and returns the busid and /dev/ttyACM0', async () => {
    const { sys, dev, vhci, device } = await fake('acm')
    const progress: string[] = []
    const logger = {
      debug: (_m: string, f?: Record<string, unknown>) => progress.push(String(f?.for)),
      info: () => {},
      warn: () => {},
      error: () => {},
      child: () => logger,
    }
    const waiting = waitForEnumeration(2, { sysfs: sys, dev, timeoutMs: 10_000, logger })
    await sleep(120)
    await writeFile(join(vhci, 'status'), status(USED))
    await sleep(120)
    await mkdir(device, { recursive: true })
    await writeFile(join(device, 'idVendor'), '1d6b\n')
    await writeFile(join(device, 'idProduct'), '0104\n')
    await writeFile(join(device, 'bConfigurationValue'), '1\n')
    await writeFile(join(device, 'bNumInterfaces'), ' 2\n')
    await node(device, 'usb', 'bus/usb/003/002', sys)
    await mkdir(join(device, '3-1:1.0'))
    await writeFile(join(device, '3-1:1.0', 'bInterfaceClass'), '02\n')
    await sleep(120)
    await mkdir(join(device, '3-1:1.1'))
    await writeFile(join(device, '3-1:1.1', 'bInterfaceClass'), '0a\n')
    await sleep(120)
    for (const i of ['3-1:1.0', '3-1:1.1']) {
      await symlink(join(sys, 'bus', 'usb', 'drivers', 'cdc_acm'), join(device, i, 'driver'))
    }
    await node(join(device, '3-1:1.0', 'tty', 'ttyACM0'), 'tty', 'ttyACM0', sys)
    await sleep(120)
    await mkdir(join(dev, 'bus', 'usb', '003'), { recursive: true })
    await writeFile(join(dev, 'bus', 'usb', '003', '002'), '')
    await writeFile(join(dev, 'ttyACM0'), '')
    const result = await waiting
    assert.equal(result.busid, '3-1')
    assert.equal(result.idVendor, '1d6b')
    assert.deepEqual(
      result.interfaces.map((i) => [i.name, i.interfaceClass, i.driver]),
      [
        ['3-1:1.0', 2, 'cdc_acm'],
        ['3-1:1.1', 10, 'cdc_acm'],
      ],
    )
    assert.deepEqual(
      primaryNodes(result.nodes).map((n) => [n.path, n.subsystem, n.interface]),
      [[join(dev, 'ttyACM0'), 'tty', '3-1:1.0']],
    )
    assert.ok(result.nodes.some((n) => n.name === 'bus/usb/003/002' && n.interface === undefined))
    assert.deepEqual(result.unbound, [])
    for (const stage of [
      'the kernel to reset and address the device',
      'sysfs entry of 3-1',
      'interfaces of 3-1',
    ]) {
      assert.ok(
        progress.some((p) => p.startsWith(stage)),
        `no progress line for "${stage}": ${progress.join(' | ')}`,
      )
    }
  })

  test('an interface without a driver is given a grace period, then reported unbound', async () => {
    const { sys, dev, vhci, device } = await fake('unbound')
    await writeFile(join(vhci, 'status'), status(USED))
    await mkdir(join(device, '3-1:1.0'), { recursive: true })
    await writeFile(join(device, 'idVendor'), '0525\n')
    await writeFile(join(device, 'bConfigurationValue'), '1\n')
    await writeFile(join(device, 'bNumInterfaces'), ' 1\n')
    const result = await waitForEnumeration(2, { sysfs: sys, dev, timeoutMs: 5_000, unboundGraceMs: 200 })
    assert.deepEqual(result.unbound, ['3-1:1.0'])
  })

  test('the port going free while waiting: ERR_VHCI_DEVICE_GONE; nothing happening: ERR_VHCI_ENUMERATION_TIMEOUT', async () => {
    const gone = await fake('gone')
    const waiting = waitForEnumeration(2, { sysfs: gone.sys, dev: gone.dev, timeoutMs: 5_000 }).then(
      () => undefined,
      (err: unknown) => err,
    )
    await sleep(100)
    await writeFile(join(gone.vhci, 'status'), status(FREE))
    const error = await waiting
    assert.ok(error instanceof VhciError && error.code === 'ERR_VHCI_DEVICE_GONE', String(error))

    const stuck = await fake('stuck')
    await assert.rejects(
      waitForEnumeration(2, { sysfs: stuck.sys, dev: stuck.dev, timeoutMs: 300 }),
      (err: unknown) =>
        err instanceof VhciError &&
        err.code === 'ERR_VHCI_ENUMERATION_TIMEOUT' &&
        err.message.includes('reset and address'),
    )
    const controller = new AbortController()
    const aborted = waitForEnumeration(2, { sysfs: stuck.sys, dev: stuck.dev, signal: controller.signal })
    controller.abort()
    await assert.rejects(aborted, { code: 'ERR_VHCI_ABORTED' })
  })

  test('usb-storage: ready only once a block device exists and its /dev node is there', async () => {
    const { sys, dev, device } = await fake('disk')
    await mkdir(join(device, '3-1:1.0'), { recursive: true })
    await writeFile(join(device, 'idVendor'), '0525\n')
    await writeFile(join(device, 'bConfigurationValue'), '1\n')
    await writeFile(join(device, 'bNumInterfaces'), ' 1\n')
    await symlink(join(sys, 'bus', 'usb', 'drivers', 'usb-storage'), join(device, '3-1:1.0', 'driver'))
    const port: VhciPort = {
      hub: 'hs',
      port: 2,
      state: 6,
      speed: 3,
      devid: 1,
      sockfd: 5,
      localBusid: '3-1',
    }
    const first: DeviceSnapshot = await inspectDevice('3-1', { sysfs: sys, dev })
    assert.deepEqual(assessEnumeration(port, first).waitingFor, [
      'a block device from usb-storage on 3-1:1.0',
    ])
    const disk = join(device, '3-1:1.0', 'host0', 'target0:0:0', '0:0:0:0', 'block', 'sda')
    await node(disk, 'block', 'sda', sys)
    await node(join(disk, 'sda1'), 'block', 'sda1', sys)
    const second = assessEnumeration(port, await inspectDevice('3-1', { sysfs: sys, dev }))
    assert.deepEqual(second.waitingFor, [join(dev, 'sda'), join(dev, 'sda1')])
    await writeFile(join(dev, 'sda'), '')
    await writeFile(join(dev, 'sda1'), '')
    const third = await inspectDevice('3-1', { sysfs: sys, dev })
    assert.equal(assessEnumeration(port, third).ready, true)
    assert.deepEqual(
      primaryNodes(third.nodes).map((n) => n.name),
      ['sda', 'sda1'],
    )
  })
})
