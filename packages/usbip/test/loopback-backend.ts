/** A minimal backend for transport tests: bulk OUT (ep2) bytes come back on bulk IN (ep1). */
import type { BackendRequest, CompletionCallback, UsbDeviceBackend } from '../src/backend.js'
import { Errno } from '../src/constants.js'
import { testDescriptors } from './fixtures.js'

export class LoopbackBackend implements UsbDeviceBackend {
  readonly identity = {
    busid: '1-1',
    path: '/sys/devices/virtual/test',
    busnum: 1,
    devnum: 2,
    speed: 3 as const,
  }
  readonly descriptors = testDescriptors
  readonly description = 'test loopback'
  opened = 0
  closed = 0
  private readonly reads: { seqnum: number; length: number; done: CompletionCallback }[] = []
  private buffered = new Uint8Array(0)
  private readonly goneListeners = new Set<(reason: string) => void>()

  get pendingReads(): number {
    return this.reads.length
  }

  submit(request: BackendRequest, done: CompletionCallback): void {
    if (request.kind !== 'transfer' || request.endpoint === 0) {
      done({ status: 0, data: new Uint8Array(0) })
      return
    }
    if (request.direction === 'out') {
      const joined = new Uint8Array(this.buffered.length + request.data.length)
      joined.set(this.buffered)
      joined.set(request.data, this.buffered.length)
      this.buffered = joined
      done({ status: 0, actualLength: request.data.length })
      this.serveReads()
      return
    }
    this.reads.push({ seqnum: request.seqnum, length: request.length, done })
    this.serveReads()
  }

  cancel(seqnum: number): void {
    const at = this.reads.findIndex((r) => r.seqnum === seqnum)
    if (at < 0) return
    const [read] = this.reads.splice(at, 1)
    read!.done({ status: Errno.ECONNRESET })
  }

  open(): void {
    this.opened++
  }

  close(): void {
    this.closed++
    for (const read of this.reads.splice(0)) read.done({ status: Errno.ECONNRESET })
    this.buffered = new Uint8Array(0)
  }

  onGone(listener: (reason: string) => void): () => void {
    this.goneListeners.add(listener)
    return () => this.goneListeners.delete(listener)
  }

  unplug(): void {
    for (const listener of this.goneListeners) listener('unplugged')
  }

  private serveReads(): void {
    while (this.reads.length > 0 && this.buffered.length > 0) {
      const read = this.reads.shift()!
      const chunk = this.buffered.slice(0, read.length)
      this.buffered = this.buffered.slice(chunk.length)
      read.done({ status: 0, data: chunk })
    }
  }
}
