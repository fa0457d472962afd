/**
 * The OP_REQ_IMPORT exchange alone, on any byte stream, reading exactly the reply's bytes: the
 * stream is left positioned right after OP_REP_IMPORT, so that whatever follows (URB traffic) is
 * still in it for the kernel or a pump. (The userspace client in @tether/usbip reads in flowing
 * mode, which may swallow bytes beyond the reply.)
 */
import type { Duplex } from 'node:stream'
import {
  ClientDecoder,
  DEVICE_RECORD_SIZE,
  type DeviceRecord,
  encodeOpReqImport,
  NEED_DATA,
  OP_HEADER_SIZE,
  OpStatus,
  UsbipError,
} from '@tether/usbip'
import { abortedError, VhciError } from './errors.js'

const STATUS_TEXT: Readonly<Record<number, string>> = {
  [OpStatus.NA]: 'not available',
  [OpStatus.DEV_BUSY]: 'busy: already imported by someone else',
  [OpStatus.DEV_ERR]: 'in error on the exporter',
  [OpStatus.NODEV]: 'not exported there (check the busid with `tether usbip list`)',
  [OpStatus.ERROR]: 'refused',
}

/**
 * Sends OP_REQ_IMPORT for `busid` and returns the device record of the reply. Throws UsbipError
 * ERR_IMPORT_REFUSED when the exporter refuses (the stream is left open: the caller owns it), and
 * VhciError ERR_VHCI_HANDSHAKE when the stream closes or the reply is malformed.
 */
export async function importHandshake(
  stream: Duplex,
  busid: string,
  options: { signal?: AbortSignal } = {},
): Promise<DeviceRecord> {
  options.signal?.throwIfAborted()
  const decoder = new ClientDecoder({ directionOf: () => undefined })
  stream.write(encodeOpReqImport(busid))
  const decode = () => {
    try {
      return decoder.next()
    } catch (err) {
      throw new VhciError('ERR_VHCI_HANDSHAKE', `bad OP_REP_IMPORT for ${busid}: ${(err as Error).message}`, {
        details: { busid },
        cause: err,
      })
    }
  }
  decoder.push(await readExactly(stream, OP_HEADER_SIZE, options.signal))
  let message = decode()
  if (message === NEED_DATA) {
    decoder.push(await readExactly(stream, DEVICE_RECORD_SIZE, options.signal))
    message = decode()
  }
  if (message === NEED_DATA || message.kind !== 'OP_REP_IMPORT') {
    throw new VhciError('ERR_VHCI_HANDSHAKE', `expected OP_REP_IMPORT for ${busid}`, { details: { busid } })
  }
  if (message.status !== OpStatus.OK || !message.device) {
    const why = STATUS_TEXT[message.status] ?? `status ${message.status}`
    throw new UsbipError('ERR_IMPORT_REFUSED', `import of ${busid} refused: ${why}`, {
      details: { busid, status: message.status },
    })
  }
  if (message.device.busid !== busid) {
    throw new VhciError(
      'ERR_VHCI_HANDSHAKE',
      `asked to import ${busid} but the exporter answered with ${message.device.busid}`,
      { details: { busid, answered: message.device.busid } },
    )
  }
  return message.device
}

/**
 * Reads exactly n bytes in paused mode; bytes beyond them stay in the stream's buffer (unshifted
 * when a chunk straddles the boundary).
 */
export function readExactly(stream: Duplex, n: number, signal?: AbortSignal): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const parts: Uint8Array[] = []
    let have = 0
    const cleanup = () => {
      stream.off('readable', onReadable)
      stream.off('end', onEnd)
      stream.off('close', onEnd)
      stream.off('error', onError)
      signal?.removeEventListener('abort', onAbort)
    }
    const onReadable = () => {
      while (have < n) {
        const chunk = stream.read() as Uint8Array | string | null
        if (chunk === null) return
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
        const need = n - have
        if (bytes.length > need) {
          parts.push(bytes.subarray(0, need))
          stream.unshift(bytes.subarray(need))
          have = n
        } else {
          parts.push(bytes)
          have += bytes.length
        }
      }
      cleanup()
      resolve(Buffer.concat(parts, n))
    }
    const onEnd = () => {
      cleanup()
      reject(
        new VhciError(
          'ERR_VHCI_HANDSHAKE',
          `the stream ended during the import handshake (${have} of ${n} bytes of the reply arrived)`,
        ),
      )
    }
    const onError = (err: Error) => {
      cleanup()
      reject(
        new VhciError('ERR_VHCI_HANDSHAKE', `the stream failed during the import handshake: ${err.message}`, {
          cause: err,
        }),
      )
    }
    const onAbort = () => {
      cleanup()
      reject(abortedError(signal, 'import handshake'))
    }
    if (signal?.aborted) return onAbort()
    stream.on('readable', onReadable)
    stream.once('end', onEnd)
    stream.once('close', onEnd)
    stream.once('error', onError)
    signal?.addEventListener('abort', onAbort, { once: true })
    onReadable()
  })
}
