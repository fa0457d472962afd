/**
 * After an attach: wait until the kernel has enumerated the device on the vhci port, its
 * interfaces' drivers are bound, and the device nodes they create (ttyACM*, ttyUSB*, sd*, hidraw*,
 * ...) exist under /dev. Snapshots of sysfs are taken by inspectDevice(); the decision is the pure
 * assessEnumeration(), so it is tested without a kernel.
 *
 * Every read here is asynchronous (libuv's thread pool), never readFileSync: some USB attributes
 * (bConfigurationValue, bNumInterfaces...) take the device lock, which the kernel holds while a
 * driver probes — and a probe waits for URBs that, with attachStream(), this very process must
 * pump. A synchronous read would deadlock the pump against the kernel.
 */

import { access, readdir, readFile, readlink } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Logger, silentLogger } from '@tether/usbip'
import {
  DEFAULT_DEV_ROOT,
  DEFAULT_ENUMERATION_TIMEOUT_MS,
  DEFAULT_SYSFS_ROOT,
  DEFAULT_UNBOUND_GRACE_MS,
  ENUMERATION_POLL_MS,
  ENUMERATION_PROGRESS_MS,
  NODE_SEARCH_DEPTH,
  USB_DEVICES_DIR,
  VdevState,
} from './constants.js'
import { abortedError, VhciError } from './errors.js'
import type { VhciPort } from './status.js'
import { readPort, type SysfsOptions } from './sysfs.js'

export interface DeviceNode {
  /** The sysfs class/subsystem: tty, block, hidraw, usb, scsi_generic, bsg, input... */
  readonly subsystem: string
  /** DEVNAME from uevent, e.g. ttyACM0, sda, bus/usb/003/002. */
  readonly name: string
  /** The node under the dev root, e.g. /dev/ttyACM0. */
  readonly path: string
  /** The interface (e.g. 3-1:1.0) it hangs off, or undefined for the device's own node. */
  readonly interface: string | undefined
  /** Whether `path` exists. */
  readonly exists: boolean
}

export interface InterfaceInfo {
  /** e.g. 3-1:1.0 */
  readonly name: string
  readonly interfaceClass: number | undefined
  /** The bound driver (cdc_acm, usb-storage, usbtest...), undefined while none is bound. */
  readonly driver: string | undefined
}

export interface DeviceSnapshot {
  readonly busid: string
  /** The device's sysfs directory exists. */
  readonly present: boolean
  readonly configured: boolean
  /** bNumInterfaces of the active configuration. */
  readonly numInterfaces: number | undefined
  readonly interfaces: readonly InterfaceInfo[]
  readonly nodes: readonly DeviceNode[]
  readonly idVendor: string | undefined
  readonly idProduct: string | undefined
  readonly product: string | undefined
}

export interface SnapshotOptions {
  /** The sysfs mount point (default /sys). */
  readonly sysfs?: string
  /** Where device nodes live (default /dev). */
  readonly dev?: string
}

async function readTrimmed(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim()
  } catch {
    return undefined
  }
}

async function subdirs(path: string): Promise<string[]> {
  try {
    return (await readdir(path, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name)
  } catch {
    return []
  }
}

async function linkTarget(path: string): Promise<string | undefined> {
  try {
    return await readlink(path)
  } catch {
    return undefined
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

/** Reads what sysfs says about the USB device `busid` now (asynchronously; see the module doc). */
export async function inspectDevice(busid: string, options: SnapshotOptions = {}): Promise<DeviceSnapshot> {
  const dir = join(options.sysfs ?? DEFAULT_SYSFS_ROOT, USB_DEVICES_DIR, busid)
  const devRoot = options.dev ?? DEFAULT_DEV_ROOT
  const idVendor = await readTrimmed(join(dir, 'idVendor'))
  if (idVendor === undefined) {
    return {
      busid,
      present: false,
      configured: false,
      numInterfaces: undefined,
      interfaces: [],
      nodes: [],
      idVendor: undefined,
      idProduct: undefined,
      product: undefined,
    }
  }
  const configuration = await readTrimmed(join(dir, 'bConfigurationValue'))
  const numText = await readTrimmed(join(dir, 'bNumInterfaces'))
  const numInterfaces = numText === undefined || numText === '' ? undefined : Number.parseInt(numText, 10)
  const interfaceNames = (await subdirs(dir))
    .filter((name) => name.startsWith(`${busid}:`) && /:\d+\.\d+$/.test(name))
    .sort()
  const interfaces: InterfaceInfo[] = []
  for (const name of interfaceNames) {
    const cls = await readTrimmed(join(dir, name, 'bInterfaceClass'))
    const driver = await linkTarget(join(dir, name, 'driver'))
    interfaces.push({
      name,
      interfaceClass: cls === undefined ? undefined : Number.parseInt(cls, 16),
      driver: driver === undefined ? undefined : basename(driver),
    })
  }
  const nodes: DeviceNode[] = []
  await collectNodes(dir, undefined, 0, nodes, devRoot, busid)
  return {
    busid,
    present: true,
    configured: configuration !== undefined && configuration !== '',
    numInterfaces: Number.isFinite(numInterfaces) ? numInterfaces : undefined,
    interfaces,
    nodes,
    idVendor,
    idProduct: await readTrimmed(join(dir, 'idProduct')),
    product: await readTrimmed(join(dir, 'product')),
  }
}

/** Walks real subdirectories (never symlinks) for devices with a DEVNAME in their uevent. */
async function collectNodes(
  dir: string,
  iface: string | undefined,
  depth: number,
  out: DeviceNode[],
  devRoot: string,
  busid: string,
): Promise<void> {
  const uevent = await readTrimmed(join(dir, 'uevent'))
  const devname = uevent === undefined ? undefined : /^DEVNAME=(.+)$/m.exec(uevent)?.[1]
  if (devname !== undefined) {
    const subsystemLink = await linkTarget(join(dir, 'subsystem'))
    const path = join(devRoot, devname)
    out.push({
      subsystem: subsystemLink === undefined ? 'unknown' : basename(subsystemLink),
      name: devname,
      path,
      interface: iface,
      exists: await exists(path),
    })
  }
  if (depth >= NODE_SEARCH_DEPTH) return
  for (const name of await subdirs(dir)) {
    if (name === 'power') continue
    const isInterface = depth === 0 && name.startsWith(`${busid}:`)
    await collectNodes(join(dir, name), isInterface ? name : iface, depth + 1, out, devRoot, busid)
  }
}

/** Drivers that create block devices a little after they bind (SCSI scan). */
const STORAGE_DRIVERS: ReadonlySet<string> = new Set(['usb-storage', 'uas'])

export interface Assessment {
  /** Everything that creates nodes is done and every node exists. */
  readonly ready: boolean
  /** Interfaces no driver has claimed (yet). */
  readonly unbound: readonly string[]
  /** What is still missing, for progress lines and timeout errors; empty when ready. */
  readonly waitingFor: readonly string[]
}

/**
 * Decides whether enumeration is complete. Interfaces without a driver do not block readiness
 * (the caller gives them a grace period): some devices have interfaces nothing binds to.
 */
export function assessEnumeration(
  port: VhciPort | undefined,
  snapshot: DeviceSnapshot | undefined,
): Assessment {
  if (port === undefined || port.state === VdevState.NULL || port.state === VdevState.ERROR) {
    return { ready: false, unbound: [], waitingFor: ['the port to be attached'] }
  }
  if (port.state !== VdevState.USED || port.localBusid === undefined || snapshot === undefined) {
    return { ready: false, unbound: [], waitingFor: ['the kernel to reset and address the device'] }
  }
  const busid = port.localBusid
  if (!snapshot.present) return { ready: false, unbound: [], waitingFor: [`sysfs entry of ${busid}`] }
  if (!snapshot.configured) return { ready: false, unbound: [], waitingFor: [`a configuration for ${busid}`] }
  if (snapshot.numInterfaces !== undefined && snapshot.interfaces.length < snapshot.numInterfaces) {
    return {
      ready: false,
      unbound: [],
      waitingFor: [`interfaces of ${busid} (${snapshot.interfaces.length} of ${snapshot.numInterfaces})`],
    }
  }
  const waitingFor: string[] = []
  const unbound = snapshot.interfaces.filter((i) => i.driver === undefined).map((i) => i.name)
  for (const iface of snapshot.interfaces) {
    if (iface.driver !== undefined && STORAGE_DRIVERS.has(iface.driver)) {
      if (!snapshot.nodes.some((n) => n.interface === iface.name && n.subsystem === 'block')) {
        waitingFor.push(`a block device from ${iface.driver} on ${iface.name}`)
      }
    }
  }
  for (const node of snapshot.nodes) {
    if (!node.exists) waitingFor.push(node.path)
  }
  return { ready: waitingFor.length === 0, unbound, waitingFor }
}

export interface VhciEnumeration {
  readonly port: number
  /** The local USB busid, e.g. 3-1. */
  readonly busid: string
  readonly idVendor: string | undefined
  readonly idProduct: string | undefined
  readonly product: string | undefined
  readonly interfaces: readonly InterfaceInfo[]
  /** Every device node of the device and its interfaces. */
  readonly nodes: readonly DeviceNode[]
  /** Interfaces that no driver claimed within the grace period. */
  readonly unbound: readonly string[]
}

export interface WaitForEnumerationOptions extends SnapshotOptions, SysfsOptions {
  /** Bound on the wait (default 30 s). */
  readonly timeoutMs?: number
  /** How long interfaces without a driver may stay so once the rest is ready (default 3 s). */
  readonly unboundGraceMs?: number
  readonly signal?: AbortSignal
  readonly logger?: Logger
}

/** Waits until the device on `port` is enumerated with its drivers bound and its /dev nodes present. */
export async function waitForEnumeration(
  port: number,
  options: WaitForEnumerationOptions = {},
): Promise<VhciEnumeration> {
  const log = (options.logger ?? silentLogger).child('vhci')
  const timeoutMs = options.timeoutMs ?? DEFAULT_ENUMERATION_TIMEOUT_MS
  const graceMs = options.unboundGraceMs ?? DEFAULT_UNBOUND_GRACE_MS
  const started = performance.now()
  let lastProgress = started
  let lastWaiting = ''
  let readySince: number | undefined
  let seenAttached = false
  for (;;) {
    if (options.signal?.aborted) throw abortedError(options.signal, 'waiting for enumeration')
    const status = readPort(port, options)
    if (status === undefined) {
      throw new VhciError('ERR_VHCI_DEVICE_GONE', `vhci port ${port} does not exist`, { details: { port } })
    }
    if (status.state === VdevState.NULL || status.state === VdevState.ERROR) {
      throw new VhciError(
        'ERR_VHCI_DEVICE_GONE',
        `the device on vhci port ${port} went away during enumeration${seenAttached ? '' : ' (or was never attached)'}; see dmesg`,
        { details: { port, state: status.state } },
      )
    }
    seenAttached = true
    const snapshot =
      status.localBusid === undefined ? undefined : await inspectDevice(status.localBusid, options)
    const assessment = assessEnumeration(status, snapshot)
    const now = performance.now()
    if (assessment.ready && snapshot !== undefined && status.localBusid !== undefined) {
      readySince ??= now
      if (assessment.unbound.length === 0 || now - readySince >= graceMs) {
        if (assessment.unbound.length > 0) {
          log.info('no driver bound', { port, interfaces: assessment.unbound })
        }
        log.info('enumerated', { port, busid: status.localBusid, ms: Math.round(now - started) })
        return {
          port,
          busid: status.localBusid,
          idVendor: snapshot.idVendor,
          idProduct: snapshot.idProduct,
          product: snapshot.product,
          interfaces: snapshot.interfaces,
          nodes: snapshot.nodes,
          unbound: assessment.unbound,
        }
      }
    } else {
      readySince = undefined
    }
    const waiting =
      assessment.waitingFor.length > 0
        ? assessment.waitingFor.join(', ')
        : `a driver for ${assessment.unbound.join(', ')}`
    if (now - started >= timeoutMs) {
      throw new VhciError(
        'ERR_VHCI_ENUMERATION_TIMEOUT',
        `the device on vhci port ${port} did not finish enumerating within ${timeoutMs} ms; still waiting for ${waiting} (see dmesg)`,
        { details: { port, waitingFor: assessment.waitingFor, unbound: assessment.unbound } },
      )
    }
    if (waiting !== lastWaiting) {
      log.debug('waiting', { port, for: waiting })
      lastWaiting = waiting
    }
    if (now - lastProgress >= ENUMERATION_PROGRESS_MS) {
      log.info('still waiting for the device to enumerate', {
        port,
        for: waiting,
        elapsedMs: Math.round(now - started),
      })
      lastProgress = now
    }
    try {
      await sleep(ENUMERATION_POLL_MS, undefined, { signal: options.signal })
    } catch {
      throw abortedError(options.signal, 'waiting for enumeration')
    }
  }
}

/** The nodes a user wants to see: ttys, disks and partitions, hidraw, input...; not bus/usb, sg, bsg. */
export function primaryNodes(nodes: readonly DeviceNode[]): DeviceNode[] {
  const hidden = new Set(['usb', 'usb_device', 'scsi_generic', 'bsg', 'usbmon'])
  return nodes.filter((n) => !hidden.has(n.subsystem))
}
