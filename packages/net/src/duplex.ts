/**
 * A libp2p stream as a Node Duplex, so byte-stream code (the USB/IP server and client) runs over
 * a tunnel unchanged.
 *
 * Backpressure: reading, when the Duplex's buffer is full (push() returns false) the libp2p
 * stream is paused, which stops yamux window updates so the peer stalls after one window;
 * _read() resumes it. Writing, a send() that returns false holds the write callback until the
 * stream has drained (see drain.ts for why not stream.onDrain()); what is not yet handed to
 * libp2p stays in the Duplex's own buffer, so libp2p holds at most one DUPLEX_SEND_CHUNK extra.
 * Corked writes (cork()/uncork(), as the USB/IP server does per batch of completions) reach
 * libp2p as one buffer, handed over in DUPLEX_SEND_CHUNK pieces. Writes are not delayed to
 * batch them: measured, holding writes until the end of the tick halves socket writes per URB
 * but adds ~35 µs to a round trip (js-yamux then sends its window update ahead of our reply).
 *
 * Close: end() closes our write half (yamux FIN) after queued data is sent; the peer's FIN ends
 * the readable side. destroy() without an error closes gracefully in the background and resets
 * the stream if the peer has not closed its half within `closeTimeoutMs`; destroy(err) resets at
 * once. A reset by the peer destroys the Duplex with the peer's error.
 */
import { Duplex } from 'node:stream'
import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { DEFAULT_CLOSE_TIMEOUT_MS, DUPLEX_SEND_CHUNK } from './constants.js'
import { waitForDrain } from './drain.js'
import { NetError } from './errors.js'
import { type Logger, silentLogger } from './logger.js'

export interface StreamDuplexOptions {
  /** Bytes already read off the stream (e.g. MessageReader.release()), delivered first. */
  readonly initial?: Uint8Array
  readonly logger?: Logger
  readonly closeTimeoutMs?: number
  /** The Duplex's own buffer sizes (Node's default is 16 KiB). */
  readonly readableHighWaterMark?: number
  readonly writableHighWaterMark?: number
}

export function streamToDuplex(stream: Stream, options: StreamDuplexOptions = {}): Duplex {
  return new StreamDuplex(stream, options)
}

class StreamDuplex extends Duplex {
  private readonly log: Logger
  private readonly closeTimeoutMs: number
  private readEnded = false
  private readonly onMessage = (event: StreamMessageEvent) => {
    const data = event.data
    if (data instanceof Uint8Array) this.deliver(data)
    else for (const chunk of data) this.deliver(chunk)
  }
  private readonly onEnd = () => this.endRead()
  private readonly onClose = (event: StreamCloseEvent) => {
    if (this.destroyed) return
    if (event.error) {
      this.log.debug('stream closed with error', { error: event.error.message, local: event.local })
      this.destroy(event.error)
      return
    }
    if (this.stream.readBufferLength === 0 || this.stream.readableEnded) this.endRead()
    if (!this.writableEnded) this.end()
  }

  constructor(
    private readonly stream: Stream,
    options: StreamDuplexOptions,
  ) {
    super({
      allowHalfOpen: true,
      ...(options.readableHighWaterMark ? { readableHighWaterMark: options.readableHighWaterMark } : {}),
      ...(options.writableHighWaterMark ? { writableHighWaterMark: options.writableHighWaterMark } : {}),
    })
    this.log = (options.logger ?? silentLogger).child('net:duplex')
    this.closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS
    if (options.initial && options.initial.length > 0) this.push(options.initial)
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('end', this.onEnd)
    stream.addEventListener('close', this.onClose)
    if (stream.status !== 'open') {
      queueMicrotask(() => this.onClose(new Event('close') as StreamCloseEvent))
    } else if (stream.readableEnded && stream.readBufferLength === 0) {
      this.endRead()
    }
  }

  override _read(): void {
    if (this.stream.readStatus === 'paused') this.stream.resume()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.send(chunk, callback)
  }

  override _writev(
    chunks: Array<{ chunk: Buffer; encoding: BufferEncoding }>,
    callback: (error?: Error | null) => void,
  ): void {
    const bytes = chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk))
    this.send(bytes, callback)
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.stream.close().then(
      () => callback(),
      (err: Error) => callback(err),
    )
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('end', this.onEnd)
    this.stream.removeEventListener('close', this.onClose)
    const stream = this.stream
    if (error) {
      stream.abort(error)
    } else if (stream.status === 'open') {
      this.closeGracefully()
    }
    callback(error)
  }

  /** Hands `bytes` to libp2p piece by piece, waiting for a drain whenever send() says so. */
  private send(bytes: Uint8Array, callback: (error?: Error | null) => void, offset = 0): void {
    while (offset < bytes.length) {
      const piece =
        offset === 0 && bytes.length <= DUPLEX_SEND_CHUNK
          ? bytes
          : bytes.subarray(offset, offset + DUPLEX_SEND_CHUNK)
      offset += piece.length
      let ready: boolean
      try {
        ready = this.stream.send(piece)
      } catch (err) {
        callback(err as Error)
        return
      }
      if (!ready) {
        waitForDrain(this.stream).then(
          () => this.send(bytes, callback, offset),
          (err: Error) => callback(err),
        )
        return
      }
    }
    callback()
  }

  private deliver(chunk: Uint8Array): void {
    if (this.readEnded) {
      this.log.warn('data after end of stream dropped', { bytes: chunk.length })
      return
    }
    if (!this.push(chunk) && this.stream.readStatus === 'readable') this.stream.pause()
  }

  private endRead(): void {
    if (this.readEnded) return
    this.readEnded = true
    this.push(null)
  }

  /** FIN our half now; reset if the peer has not closed its half in time. */
  private closeGracefully(): void {
    const stream = this.stream
    if (stream.readStatus === 'paused') stream.resume()
    // Drop whatever the peer still sends: nobody reads it any more.
    stream.addEventListener('message', () => {})
    const timer = setTimeout(() => {
      if (stream.status === 'open' || stream.status === 'closing') {
        this.log.debug('peer did not close in time; resetting stream', { timeoutMs: this.closeTimeoutMs })
        stream.abort(
          new NetError('ERR_TIMEOUT', 'peer did not close the stream in time', { origin: 'local' }),
        )
      }
    }, this.closeTimeoutMs)
    timer.unref()
    stream.addEventListener('close', () => clearTimeout(timer), { once: true })
    stream.close({ signal: AbortSignal.timeout(this.closeTimeoutMs) }).catch((err: Error) => {
      this.log.debug('graceful close failed; resetting stream', { error: err.message })
      stream.abort(err)
    })
  }
}
