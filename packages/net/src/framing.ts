/**
 * Sans-I/O length-prefixed framing: each frame is an unsigned LEB128 varint byte length (as
 * libp2p's own protocols use) followed by that many bytes of protobuf.
 */
import { DEFAULT_MAX_FRAME_SIZE } from './constants.js'
import { NetError } from './errors.js'

/** A varint of more than 5 bytes would exceed 2^35: never a sane frame. */
const MAX_VARINT_BYTES = 5

export function encodeFrame(payload: Uint8Array, maxFrameSize = DEFAULT_MAX_FRAME_SIZE): Uint8Array {
  if (payload.length > maxFrameSize) {
    throw new NetError(
      'ERR_FRAME_TOO_LARGE',
      `frame of ${payload.length} bytes exceeds the limit of ${maxFrameSize}`,
      { origin: 'local', details: { length: payload.length, maxFrameSize } },
    )
  }
  let length = payload.length
  const prefix: number[] = []
  do {
    let byte = length & 0x7f
    length = Math.floor(length / 128)
    if (length > 0) byte |= 0x80
    prefix.push(byte)
  } while (length > 0)
  const frame = new Uint8Array(prefix.length + payload.length)
  frame.set(prefix, 0)
  frame.set(payload, prefix.length)
  return frame
}

/**
 * Feed bytes in with push(); take complete frame payloads out with next(). A frame announced
 * larger than `maxFrameSize` throws ERR_FRAME_TOO_LARGE as soon as its prefix says so, before
 * any of its body is buffered.
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = []
  private buffered = 0
  private failed: NetError | undefined

  constructor(readonly maxFrameSize = DEFAULT_MAX_FRAME_SIZE) {}

  /** Bytes received but not yet returned as frames. */
  get bufferedBytes(): number {
    return this.buffered
  }

  push(bytes: Uint8Array): void {
    if (this.failed) throw this.failed
    if (bytes.length === 0) return
    this.chunks.push(bytes)
    this.buffered += bytes.length
    // Check the prefix now so an oversize frame is refused before its body accumulates.
    this.peekHeader()
  }

  /** The next complete frame's payload, or undefined if more bytes are needed. */
  next(): Uint8Array | undefined {
    if (this.failed) throw this.failed
    const header = this.peekHeader()
    if (!header || this.buffered < header.prefixLength + header.length) return undefined
    this.consume(header.prefixLength)
    return this.consume(header.length)
  }

  /** Hand back everything buffered (e.g. the start of a raw byte stream after a preamble). */
  takeRemainder(): Uint8Array {
    return this.consume(this.buffered)
  }

  private peekHeader(): { length: number; prefixLength: number } | undefined {
    let value = 0
    let scale = 1
    let index = 0
    for (const chunk of this.chunks) {
      for (const byte of chunk) {
        value += (byte & 0x7f) * scale
        index++
        if (value > this.maxFrameSize) {
          throw this.fail(
            new NetError('ERR_FRAME_TOO_LARGE', `frame exceeds the limit of ${this.maxFrameSize} bytes`, {
              details: { atLeast: value, maxFrameSize: this.maxFrameSize },
            }),
          )
        }
        if ((byte & 0x80) === 0) {
          if (index > 1 && byte === 0) {
            throw this.fail(new NetError('ERR_BAD_FRAME', 'frame length prefix is not minimally encoded'))
          }
          return { length: value, prefixLength: index }
        }
        if (index >= MAX_VARINT_BYTES) {
          throw this.fail(new NetError('ERR_BAD_FRAME', 'frame length prefix is too long'))
        }
        scale *= 128
      }
    }
    return undefined
  }

  private consume(count: number): Uint8Array {
    if (count === 0) return new Uint8Array(0)
    const first = this.chunks[0]!
    if (first.length >= count) {
      const out = first.subarray(0, count)
      if (first.length === count) this.chunks.shift()
      else this.chunks[0] = first.subarray(count)
      this.buffered -= count
      return out
    }
    const out = new Uint8Array(count)
    let filled = 0
    while (filled < count) {
      const chunk = this.chunks[0]!
      const take = Math.min(chunk.length, count - filled)
      out.set(chunk.subarray(0, take), filled)
      filled += take
      if (take === chunk.length) this.chunks.shift()
      else this.chunks[0] = chunk.subarray(take)
    }
    this.buffered -= count
    return out
  }

  private fail(err: NetError): NetError {
    this.failed = err
    return err
  }
}
