/**
 * Pure parts of the vhci_hcd sysfs interface: the `status[.N]` files, choosing a free port for a
 * device speed, and the line written to `attach`. No I/O here.
 *
 * A status file (one per controller; `status` for vhci_hcd.0, `status.N` for the others, all in
 * vhci_hcd.0's directory) reads:
 *
 *     hub port sta spd dev      sockfd local_busid
 *     hs  0000 006 002 00010002 000005 3-1
 *     hs  0001 004 000 00000000 000000 0-0
 *     ...
 *     ss  0008 004 000 00000000 000000 0-0
 *
 * Port numbers are global across controllers (controller n owns n*2*H .. n*2*H+2*H-1 for H ports
 * per hub: the first H on its high-speed hub, the next H on its super-speed hub); `attach` and
 * `detach` take them. The kernel picks the hub half from the speed written to `attach`, so the
 * port must be one of that hub's.
 */
import { NO_BUSID, VdevState } from './constants.js'
import { VhciError } from './errors.js'

export type VhciHub = 'hs' | 'ss'

export interface VhciPort {
  /** Which root hub of its controller: high speed (USB 2 and slower) or super speed. */
  readonly hub: VhciHub
  /** Global port number, as `attach`/`detach` and `usbip port` use it. */
  readonly port: number
  /** The `sta` column: 4 free, 5 attached but not addressed yet, 6 in use, 7 error. */
  readonly state: number
  /** USB/IP speed code of the attached device (0 when free). */
  readonly speed: number
  /** (busnum << 16) | devnum of the device on the exporter (0 when free). */
  readonly devid: number
  /** The socket fd number written to `attach` (in the writer's process; 0 when free). */
  readonly sockfd: number
  /** The local USB busid (e.g. "3-1") once the device is addressed; undefined until then. */
  readonly localBusid: string | undefined
}

/** USB/IP speed codes vhci_hcd attaches: low, full, high, wireless, super, super-plus. */
const ATTACHABLE_SPEEDS: ReadonlySet<number> = new Set([1, 2, 3, 4, 5, 6])

/** The hub half a device of `speed` goes to: super speed and faster on ss, the rest on hs. */
export function hubForSpeed(speed: number): VhciHub {
  if (!ATTACHABLE_SPEEDS.has(speed)) {
    throw new VhciError(
      'ERR_VHCI_BAD_SPEED',
      `vhci_hcd cannot attach a device of USB/IP speed ${speed} (it takes 1 low, 2 full, 3 high, 4 wireless, 5 super, 6 super-plus); the exporter reported a bad speed`,
      { details: { speed } },
    )
  }
  return speed >= 5 ? 'ss' : 'hs'
}

/** (busnum << 16) | devnum: how USB/IP names a device on the exporter. */
export function devidOf(device: { readonly busnum: number; readonly devnum: number }): number {
  const { busnum, devnum } = device
  if (!Number.isInteger(busnum) || busnum < 0 || busnum > 0xffff) {
    throw new VhciError('ERR_VHCI_REJECTED', `busnum ${busnum} does not fit USB/IP's 16 bits`, {
      details: { busnum },
    })
  }
  if (!Number.isInteger(devnum) || devnum < 0 || devnum > 0xffff) {
    throw new VhciError('ERR_VHCI_REJECTED', `devnum ${devnum} does not fit USB/IP's 16 bits`, {
      details: { devnum },
    })
  }
  return ((busnum << 16) | devnum) >>> 0
}

const LINE = /^(hs|ss)\s+(\d+)\s+(\d+)\s+(\d+)\s+([0-9a-fA-F]+)\s+(\S+)\s+(\S+)\s*$/

/**
 * Parses one status file. `source` names it in errors. Lines of an old kernel without the hub
 * column (before 4.13) are refused with an error naming the kernel as the problem.
 */
export function parseVhciStatus(text: string, source = 'status'): VhciPort[] {
  const lines = text.split('\n').filter((line) => line.trim() !== '')
  if (lines.length === 0) return []
  const header = lines[0]!.trim()
  if (!header.startsWith('hub port')) {
    throw new VhciError(
      'ERR_VHCI_BAD_STATUS',
      `${source} does not start with "hub port ..." (got "${header.slice(0, 60)}"); a vhci_hcd older than Linux 4.13 is not supported`,
      { details: { source, header } },
    )
  }
  const ports: VhciPort[] = []
  for (const line of lines.slice(1)) {
    const m = LINE.exec(line.trim())
    if (!m) {
      throw new VhciError('ERR_VHCI_BAD_STATUS', `${source}: cannot read the line "${line.slice(0, 80)}"`, {
        details: { source, line },
      })
    }
    const sockfd = Number.parseInt(m[6]!, 10)
    ports.push({
      hub: m[1] as VhciHub,
      port: Number.parseInt(m[2]!, 10),
      state: Number.parseInt(m[3]!, 10),
      speed: Number.parseInt(m[4]!, 10),
      devid: Number.parseInt(m[5]!, 16),
      sockfd: Number.isFinite(sockfd) ? sockfd : 0,
      localBusid: m[7] === NO_BUSID ? undefined : m[7],
    })
  }
  return ports
}

/** True when nothing is attached to the port. */
export function isFree(port: VhciPort): boolean {
  return port.state === VdevState.NULL
}

/**
 * The lowest free port on the hub that `speed` needs, skipping `exclude` (ports the kernel just
 * refused); undefined when there is none.
 */
export function chooseFreePort(
  ports: readonly VhciPort[],
  speed: number,
  exclude: ReadonlySet<number> = new Set(),
): VhciPort | undefined {
  const hub = hubForSpeed(speed)
  return ports
    .filter((p) => p.hub === hub && isFree(p) && !exclude.has(p.port))
    .sort((a, b) => a.port - b.port)[0]
}

/** The ports with something attached (any state but free). */
export function attachedPorts(ports: readonly VhciPort[]): VhciPort[] {
  return ports.filter((p) => !isFree(p)).sort((a, b) => a.port - b.port)
}

export interface AttachRequest {
  readonly port: number
  readonly sockfd: number
  readonly devid: number
  readonly speed: number
}

/** The line for vhci's `attach` file: "<port> <sockfd> <devid> <speed>". */
export function attachLine(req: AttachRequest): string {
  for (const [name, value] of Object.entries(req)) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new TypeError(`attach ${name} must be an unsigned 32-bit integer, got ${value}`)
    }
  }
  hubForSpeed(req.speed)
  return `${req.port} ${req.sockfd} ${req.devid} ${req.speed}\n`
}

/** A readable name for a USB/IP speed code. */
export function speedName(speed: number): string {
  return (
    (
      { 1: 'low', 2: 'full', 3: 'high', 4: 'wireless', 5: 'super', 6: 'super-plus' } as Record<number, string>
    )[speed] ?? `unknown(${speed})`
  )
}

/** The state column in words. */
export function stateName(state: number): string {
  switch (state) {
    case VdevState.NULL:
      return 'free'
    case VdevState.NOT_ASSIGNED:
      return 'attaching'
    case VdevState.USED:
      return 'in use'
    case VdevState.ERROR:
      return 'error'
    default:
      return `state ${state}`
  }
}
