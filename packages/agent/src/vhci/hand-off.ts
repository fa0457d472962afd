/**
 * Handing a Node TCP socket to vhci_hcd. The kernel looks the fd up in the writing process and
 * takes its own reference to the socket, so after the `attach` write Node's handle is closed in
 * the same tick: Node never reads a byte meant for the kernel, and closing an fd that the kernel
 * still references sends no FIN. libuv removes the fd from its epoll set when it closes it, so no
 * stray events follow.
 */
import type { Socket } from 'node:net'
import type { DeviceRecord } from '@tether/usbip'
import { VhciError } from './errors.js'
import { devidOf } from './status.js'
import { attachSocket, type SysfsOptions } from './sysfs.js'

/** What Node keeps private about a TCP socket's libuv handle (Linux: `fd` is the real fd). */
interface TcpHandle {
  readonly fd?: number
  readStop?(): number
}

/** The fd of a connected Node TCP socket, or throws ERR_VHCI_NO_FD. */
export function socketFd(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: TcpHandle | null })._handle
  const fd = handle?.fd
  if (socket.destroyed || handle === undefined || handle === null || typeof fd !== 'number' || fd < 0) {
    throw new VhciError(
      'ERR_VHCI_NO_FD',
      'the socket has no file descriptor to hand to vhci_hcd (closed, not a TCP socket, or not Linux)',
    )
  }
  return fd
}

export interface AttachNetSocketInit extends SysfsOptions {
  /** A connected TCP socket on which the import handshake is done and nothing else was read. */
  readonly socket: Socket
  /** The device record from OP_REP_IMPORT. */
  readonly device: Pick<DeviceRecord, 'busnum' | 'devnum' | 'speed'>
}

/**
 * Gives `socket` to vhci_hcd (port chosen by speed) and closes Node's handle on it; returns the
 * port. On failure the socket is left to the caller (still open).
 */
export function attachNetSocket(init: AttachNetSocketInit): number {
  const { socket } = init
  const fd = socketFd(socket)
  if (socket.readableLength > 0) {
    throw new VhciError(
      'ERR_VHCI_UNREAD_BYTES',
      `the socket holds ${socket.readableLength} bytes Node already read; the kernel would lose them`,
      { details: { bytes: socket.readableLength } },
    )
  }
  const handle = (socket as unknown as { _handle: TcpHandle })._handle
  // Stop libuv reading first; the bytes after the handshake are the kernel's.
  handle.readStop?.()
  socket.pause()
  // What `usbip attach` sets on the sockets it hands over.
  socket.setNoDelay(true)
  socket.setKeepAlive(true)
  const port = attachSocket({
    sockfd: fd,
    devid: devidOf(init.device),
    speed: init.device.speed,
    sysfs: init.sysfs,
    io: init.io,
  })
  // Same tick: Node closes its fd; the kernel's reference keeps the connection.
  socket.destroy()
  return port
}
