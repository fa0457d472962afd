/**
 * vhci_hcd's sysfs files: read the ports, write `attach` and `detach`. Synchronous on purpose:
 * the attach write and the closing of Node's handle on the socket must happen in one tick (see
 * hand-off.ts), and vhci's own files take only vhci's spinlocks, so they never block. (USB device
 * attributes are another matter: enumerate.ts reads those asynchronously.)
 */
import { accessSync, closeSync, constants, openSync, readdirSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { DEFAULT_SYSFS_ROOT, VHCI_FIRST_CONTROLLER, VHCI_PLATFORM_DIR } from './constants.js'
import { attachWriteError, detachWriteError, notLoadedError, ROOT_HINT, VhciError } from './errors.js'
import {
  attachedPorts,
  attachLine,
  chooseFreePort,
  hubForSpeed,
  isFree,
  parseVhciStatus,
  type VhciPort,
} from './status.js'

/** The file operations the vhci code needs; tests substitute them to play the kernel's part. */
export interface SysfsIo {
  readText(path: string): string
  /** Entry names of a directory. */
  list(path: string): string[]
  /** Writes `text` to an existing file (never creates one), as one write(2). */
  writeAttribute(path: string, text: string): void
  /** Whether the path can be written by this process. */
  writable(path: string): boolean
  exists(path: string): boolean
}

export const nodeSysfsIo: SysfsIo = {
  readText: (path) => readFileSync(path, 'utf8'),
  list: (path) => readdirSync(path),
  writeAttribute: (path, text) => {
    const fd = openSync(path, constants.O_WRONLY)
    try {
      writeSync(fd, text)
    } finally {
      closeSync(fd)
    }
  },
  writable: (path) => {
    try {
      accessSync(path, constants.W_OK)
      return true
    } catch {
      return false
    }
  },
  exists: (path) => {
    try {
      accessSync(path)
      return true
    } catch {
      return false
    }
  },
}

export interface SysfsOptions {
  /** The sysfs mount point (default /sys). */
  readonly sysfs?: string
  /** File operations (default: node:fs). */
  readonly io?: SysfsIo
}

export interface VhciFiles {
  /** vhci_hcd.0's directory. */
  readonly dir: string
  readonly attach: string
  readonly detach: string
  /** status, status.1, ... in controller order. */
  readonly status: readonly string[]
}

/** Locates vhci_hcd's control files, or throws ERR_VHCI_NOT_LOADED naming `modprobe vhci-hcd`. */
export function vhciFiles(options: SysfsOptions = {}): VhciFiles {
  const io = options.io ?? nodeSysfsIo
  const dir = join(options.sysfs ?? DEFAULT_SYSFS_ROOT, VHCI_PLATFORM_DIR, VHCI_FIRST_CONTROLLER)
  const attach = join(dir, 'attach')
  if (!io.exists(attach)) throw notLoadedError(dir)
  const status = io
    .list(dir)
    .filter((name) => /^status(\.\d+)?$/.test(name))
    .sort((a, b) => controllerIndex(a) - controllerIndex(b))
    .map((name) => join(dir, name))
  if (status.length === 0) {
    throw new VhciError('ERR_VHCI_BAD_STATUS', `${dir} has no status file; is this vhci_hcd?`, {
      details: { dir },
    })
  }
  return { dir, attach, detach: join(dir, 'detach'), status }
}

function controllerIndex(name: string): number {
  const dot = name.indexOf('.')
  return dot < 0 ? 0 : Number(name.slice(dot + 1))
}

/** Every port of every vhci controller, hs and ss, in port order. */
export function readVhciPorts(options: SysfsOptions = {}): VhciPort[] {
  const io = options.io ?? nodeSysfsIo
  const files = vhciFiles(options)
  return files.status
    .flatMap((path) => parseVhciStatus(io.readText(path), path))
    .sort((a, b) => a.port - b.port)
}

/** The ports with a device attached (or being attached, or failing). */
export function listAttached(options: SysfsOptions = {}): VhciPort[] {
  return attachedPorts(readVhciPorts(options))
}

/**
 * Throws unless vhci_hcd is loaded and its `attach` file can be written by this process: call it
 * before importing a device from a server, so the user hears about modprobe/root first.
 */
export function checkVhciWritable(options: SysfsOptions = {}): VhciFiles {
  const io = options.io ?? nodeSysfsIo
  const files = vhciFiles(options)
  if (!io.writable(files.attach)) {
    throw new VhciError('ERR_VHCI_PERMISSION', `cannot write ${files.attach}: ${ROOT_HINT}`, {
      details: { path: files.attach },
    })
  }
  return files
}

export interface AttachSocketInit extends SysfsOptions {
  /** A connected SOCK_STREAM socket's fd in this process; the kernel takes its own reference. */
  readonly sockfd: number
  /** (busnum << 16) | devnum on the exporter, from the import reply. */
  readonly devid: number
  /** USB/IP speed code from the import reply. */
  readonly speed: number
}

/**
 * Hands a socket to vhci_hcd on a free port of the hub the speed needs and returns that port.
 * When another attach takes the chosen port first (EBUSY), tries the next free one. Synchronous.
 */
export function attachSocket(init: AttachSocketInit): number {
  const io = init.io ?? nodeSysfsIo
  const files = vhciFiles(init)
  const hub = hubForSpeed(init.speed)
  const refused = new Set<number>()
  for (;;) {
    const ports = files.status.flatMap((path) => parseVhciStatus(io.readText(path), path))
    const free = chooseFreePort(ports, init.speed, refused)
    if (!free) {
      const total = ports.filter((p) => p.hub === hub).length
      throw new VhciError(
        'ERR_VHCI_NO_FREE_PORT',
        `no free vhci_hcd ${hub === 'ss' ? 'super-speed' : 'high-speed'} port (all ${total} in use): detach one (\`tether usbip port\`, \`tether usbip detach --port N\`) or load vhci-hcd with more (modprobe vhci-hcd nr_hcs=2)`,
        { details: { hub, total, refused: [...refused] } },
      )
    }
    const line = attachLine({ port: free.port, sockfd: init.sockfd, devid: init.devid, speed: init.speed })
    try {
      io.writeAttribute(files.attach, line)
      return free.port
    } catch (err) {
      const error = attachWriteError(err, { path: files.attach, port: free.port, line })
      if (error.code !== 'ERR_VHCI_PORT_BUSY') throw error
      refused.add(free.port)
    }
  }
}

/** Detaches whatever is attached to `port` (vhci closes its socket; the device disconnects). */
export function detachPort(port: number, options: SysfsOptions = {}): void {
  if (!Number.isInteger(port) || port < 0)
    throw new TypeError(`a vhci port is a non-negative integer, got ${port}`)
  const io = options.io ?? nodeSysfsIo
  const files = vhciFiles(options)
  // Check first: the kernel logs an error line for a detach of a free port.
  const status = files.status
    .flatMap((path) => parseVhciStatus(io.readText(path), path))
    .find((p) => p.port === port)
  if (status === undefined || isFree(status)) {
    throw new VhciError(
      'ERR_VHCI_NOT_ATTACHED',
      status === undefined
        ? `vhci_hcd has no port ${port}; see \`tether usbip port\``
        : `vhci port ${port} has nothing attached; see \`tether usbip port\``,
      { details: { port } },
    )
  }
  try {
    io.writeAttribute(files.detach, `${port}\n`)
  } catch (err) {
    throw detachWriteError(err, { path: files.detach, port })
  }
}

/** The status line of one port, or undefined when no controller has it. */
export function readPort(port: number, options: SysfsOptions = {}): VhciPort | undefined {
  return readVhciPorts(options).find((p) => p.port === port)
}
