/**
 * The one error class of the vhci hand-off. `code` is stable for `switch`; every message names the
 * fix when there is one.
 */
export type VhciErrorCode =
  /** vhci_hcd is not loaded (no /sys/devices/platform/vhci_hcd.0). */
  | 'ERR_VHCI_NOT_LOADED'
  /** Writing vhci's sysfs files needs root (or CAP_DAC_OVERRIDE). */
  | 'ERR_VHCI_PERMISSION'
  /** Every vhci port of the needed hub (hs or ss) is in use. */
  | 'ERR_VHCI_NO_FREE_PORT'
  /** The kernel said the port is in use (EBUSY); attachSocket() retries another port. */
  | 'ERR_VHCI_PORT_BUSY'
  /** The kernel rejected the attach or detach line (EINVAL): bad port/speed or not a stream socket. */
  | 'ERR_VHCI_REJECTED'
  /** The controller is not ready (EAGAIN). */
  | 'ERR_VHCI_NOT_READY'
  /** detach: the port has nothing attached. */
  | 'ERR_VHCI_NOT_ATTACHED'
  /** A speed vhci_hcd cannot attach (USB/IP speed codes 1-6 only, not 0/unknown). */
  | 'ERR_VHCI_BAD_SPEED'
  /** A status file that does not look like vhci's. */
  | 'ERR_VHCI_BAD_STATUS'
  /** The socket has no file descriptor to hand over (not a Node TCP socket on Linux?). */
  | 'ERR_VHCI_NO_FD'
  /** The socket still holds unread bytes that the kernel would never see. */
  | 'ERR_VHCI_UNREAD_BYTES'
  /** The device did not finish enumerating in time. */
  | 'ERR_VHCI_ENUMERATION_TIMEOUT'
  /** The port was freed while we waited (the device went away). */
  | 'ERR_VHCI_DEVICE_GONE'
  /** The import handshake broke off (stream closed, bad reply). */
  | 'ERR_VHCI_HANDSHAKE'
  | 'ERR_VHCI_ABORTED'
  /** Any other I/O error on vhci's files. */
  | 'ERR_VHCI_IO'

export class VhciError extends Error {
  readonly code: VhciErrorCode
  readonly details: Readonly<Record<string, unknown>>

  constructor(
    code: VhciErrorCode,
    message: string,
    options: { details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'VhciError'
    this.code = code
    this.details = options.details ?? {}
  }
}

export function isVhciError(err: unknown): err is VhciError {
  return err instanceof VhciError
}

export const MODPROBE_HINT = 'run `modprobe vhci-hcd` as root'
export const ROOT_HINT =
  'run tether as root (e.g. with sudo), or have an admin run a system agent for your group once (sudo tether agent --group GROUP): then tether attach needs no sudo'

export function notLoadedError(path: string): VhciError {
  return new VhciError('ERR_VHCI_NOT_LOADED', `vhci_hcd not loaded (no ${path}): ${MODPROBE_HINT}`, {
    details: { path },
  })
}

export function abortedError(signal: AbortSignal | undefined, what: string): VhciError {
  return new VhciError('ERR_VHCI_ABORTED', `${what} aborted`, { cause: signal?.reason })
}

/**
 * Maps the errno of writing vhci's `attach` file to a VhciError. `line` is what was written,
 * `port` the port it asked for.
 */
export function attachWriteError(err: unknown, ctx: { path: string; port: number; line: string }): VhciError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  const details = { ...ctx, errno: code }
  switch (code) {
    case 'EBUSY':
      return new VhciError('ERR_VHCI_PORT_BUSY', `vhci port ${ctx.port} is already in use`, {
        details,
        cause: err,
      })
    case 'EINVAL':
      return new VhciError(
        'ERR_VHCI_REJECTED',
        `the kernel rejected "${ctx.line.trim()}" on ${ctx.path} (EINVAL): the port or speed is invalid, or the fd is not a connected stream socket of this process; see dmesg`,
        { details, cause: err },
      )
    case 'EAGAIN':
      return new VhciError('ERR_VHCI_NOT_READY', `vhci_hcd port ${ctx.port} is not ready (EAGAIN); retry`, {
        details,
        cause: err,
      })
    case 'ENOENT':
    case 'ENODEV':
      return notLoadedError(ctx.path)
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new VhciError('ERR_VHCI_PERMISSION', `cannot write ${ctx.path} (${code}): ${ROOT_HINT}`, {
        details,
        cause: err,
      })
    default:
      return new VhciError('ERR_VHCI_IO', `writing ${ctx.path} failed: ${(err as Error).message}`, {
        details,
        cause: err,
      })
  }
}

/** Maps the errno of writing vhci's `detach` file. */
export function detachWriteError(err: unknown, ctx: { path: string; port: number }): VhciError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  const details = { ...ctx, errno: code }
  switch (code) {
    case 'EINVAL':
      return new VhciError(
        'ERR_VHCI_NOT_ATTACHED',
        `vhci port ${ctx.port} has nothing attached (or does not exist); see \`tether usbip port\``,
        { details, cause: err },
      )
    case 'EAGAIN':
      return new VhciError('ERR_VHCI_NOT_READY', `vhci_hcd port ${ctx.port} is not ready (EAGAIN); retry`, {
        details,
        cause: err,
      })
    case 'ENOENT':
    case 'ENODEV':
      return notLoadedError(ctx.path)
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new VhciError('ERR_VHCI_PERMISSION', `cannot write ${ctx.path} (${code}): ${ROOT_HINT}`, {
        details,
        cause: err,
      })
    default:
      return new VhciError('ERR_VHCI_IO', `writing ${ctx.path} failed: ${(err as Error).message}`, {
        details,
        cause: err,
      })
  }
}
