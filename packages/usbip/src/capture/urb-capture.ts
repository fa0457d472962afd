/** Opt-in URB capture for a server: every request and completion as it passes the backend. */

import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import type { BackendCompletion, BackendRequest } from '../backend.js'
import { pcapngHeader, pcapngPacket } from './pcapng.js'
import { LINKTYPE_USB_LINUX_MMAPPED, type UsbmonDevice, usbmonComplete, usbmonSubmit } from './usbmon.js'

export interface UrbCapture {
  submitted(device: UsbmonDevice, request: BackendRequest): void
  completed(device: UsbmonDevice, request: BackendRequest, completion: BackendCompletion): void
}

/** Microseconds since the epoch. */
export type MicrosecondClock = () => bigint

/** Wall-clock time with the monotonic clock's microsecond resolution (Date.now has only ms). */
function wallClockMicros(): MicrosecondClock {
  const baseMicros = BigInt(Date.now()) * 1000n
  const baseNanos = process.hrtime.bigint()
  return () => baseMicros + (process.hrtime.bigint() - baseNanos) / 1000n
}

/** Writes usbmon records into a pcapng byte stream that Wireshark and tshark read as USB. */
export class PcapngUrbCapture implements UrbCapture {
  constructor(
    private readonly write: (bytes: Uint8Array) => void,
    private readonly clock: MicrosecondClock = wallClockMicros(),
  ) {
    write(pcapngHeader(LINKTYPE_USB_LINUX_MMAPPED, 'tether-usbip'))
  }

  submitted(device: UsbmonDevice, request: BackendRequest): void {
    const now = this.clock()
    this.write(pcapngPacket(usbmonSubmit(device, request, now), now))
  }

  completed(device: UsbmonDevice, request: BackendRequest, completion: BackendCompletion): void {
    const now = this.clock()
    this.write(pcapngPacket(usbmonComplete(device, request, completion, now), now))
  }
}

/** A capture into a file; `close` flushes it. */
export function openPcapngFile(path: string): { capture: UrbCapture; close(): Promise<void> } {
  const stream = createWriteStream(path, { mode: 0o600 })
  const capture = new PcapngUrbCapture((bytes) => stream.write(bytes))
  return {
    capture,
    async close() {
      stream.end()
      await once(stream, 'finish')
    },
  }
}
