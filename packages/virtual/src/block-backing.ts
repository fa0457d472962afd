/**
 * Where a virtual disk's bytes live: a file (read and written in place through a FileHandle)
 * or a Uint8Array for tests. Offsets are bytes; the SCSI layer turns LBAs into offsets.
 */
import { statSync } from 'node:fs'
import { type FileHandle, open } from 'node:fs/promises'
import { VirtualDeviceError } from './errors.js'

export interface BlockBacking {
  readonly byteLength: number
  readonly readOnly: boolean
  /** A short name for listings: the file path, or "memory". */
  readonly label: string
  read(offset: number, length: number): Promise<Uint8Array>
  write(offset: number, data: Uint8Array): Promise<void>
  /** Make written data durable (SYNCHRONIZE CACHE). */
  flush(): Promise<void>
  /** Release the underlying resource; later I/O reopens it. */
  close(): Promise<void>
}

export class MemoryBacking implements BlockBacking {
  readonly bytes: Uint8Array
  readonly readOnly: boolean
  readonly label = 'memory'

  constructor(bytes: Uint8Array, options: { readOnly?: boolean } = {}) {
    this.bytes = bytes
    this.readOnly = options.readOnly ?? false
  }

  get byteLength(): number {
    return this.bytes.length
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    // A copy: the caller may hold it after later writes change the medium.
    return this.bytes.slice(offset, offset + length)
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.readOnly) throw new VirtualDeviceError('ERR_DISK_IO', 'memory disk is read-only')
    this.bytes.set(data, offset)
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}

export class FileBacking implements BlockBacking {
  readonly path: string
  readonly readOnly: boolean
  readonly byteLength: number
  #handle: Promise<FileHandle> | undefined

  /** Checks the file now (synchronously) so a bad path fails at startup, not on first read. */
  constructor(path: string, options: { readOnly?: boolean } = {}) {
    this.path = path
    this.readOnly = options.readOnly ?? false
    let stats: ReturnType<typeof statSync>
    try {
      stats = statSync(path)
    } catch (cause) {
      throw new VirtualDeviceError(
        'ERR_DISK_NOT_FOUND',
        `disk image ${path} does not exist or cannot be read; create it first, e.g. \`truncate -s 64M ${path}\``,
        { details: { path }, cause },
      )
    }
    if (!stats.isFile()) {
      throw new VirtualDeviceError('ERR_DISK_NOT_A_FILE', `disk image ${path} is not a regular file`, {
        details: { path },
      })
    }
    this.byteLength = stats.size
  }

  get label(): string {
    return this.path
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const handle = await this.#open()
    const out = new Uint8Array(length)
    let filled = 0
    while (filled < length) {
      const { bytesRead } = await handle.read(out, filled, length - filled, offset + filled)
      if (bytesRead === 0) break // past the end of a file that shrank: the rest reads as zeroes
      filled += bytesRead
    }
    return out
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.readOnly) throw new VirtualDeviceError('ERR_DISK_IO', `disk image ${this.path} is read-only`)
    const handle = await this.#open()
    let written = 0
    while (written < data.length) {
      const { bytesWritten } = await handle.write(data, written, data.length - written, offset + written)
      written += bytesWritten
    }
  }

  async flush(): Promise<void> {
    if (this.readOnly || !this.#handle) return
    await (await this.#handle).datasync()
  }

  async close(): Promise<void> {
    const handle = this.#handle
    this.#handle = undefined
    if (handle) await (await handle).close()
  }

  #open(): Promise<FileHandle> {
    if (!this.#handle) {
      const opening = open(this.path, this.readOnly ? 'r' : 'r+')
      // Forget a failed open so the next I/O retries instead of failing forever.
      opening.catch(() => {
        if (this.#handle === opening) this.#handle = undefined
      })
      this.#handle = opening
    }
    return this.#handle
  }
}
