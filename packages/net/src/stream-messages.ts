/**
 * Length-prefixed protobuf messages on a libp2p stream: writeMessage() and a MessageReader that
 * decodes, validates and can hand the rest of the stream back as raw bytes (for a preamble
 * followed by a byte tunnel).
 */
import type { AbortOptions, Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { DEFAULT_MAX_FRAME_SIZE } from './constants.js'
import { type DrainableStream, waitForDrain } from './drain.js'
import { NetError } from './errors.js'
import { encodeFrame, FrameDecoder } from './framing.js'
import type { MessageCodec } from './messages.js'

export interface FramingOptions {
  /** Largest frame payload accepted (default DEFAULT_MAX_FRAME_SIZE). */
  readonly maxFrameSize?: number
}

/** Encode, frame and send one message; waits for drain when the stream is backed up. */
export async function writeMessage<T>(
  stream: DrainableStream & Pick<Stream, 'send'>,
  codec: MessageCodec<T>,
  value: T,
  options: FramingOptions & AbortOptions = {},
): Promise<void> {
  const frame = encodeFrame(codec.encode(value), options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE)
  if (!stream.send(frame)) await waitForDrain(stream, options)
}

/**
 * Reads framed messages off a stream. Owns the stream's 'message' events until release().
 * A protocol violation (oversize frame, bad prefix, undecodable or invalid message) rejects the
 * read with a NetError and aborts the stream, since framing cannot be recovered.
 */
export class MessageReader {
  private readonly decoder: FrameDecoder
  private ended = false
  private failure: Error | undefined
  private wake: (() => void) | undefined
  private released = false
  private readonly onMessage = (event: StreamMessageEvent) => {
    const data = event.data
    try {
      if (data instanceof Uint8Array) this.decoder.push(data)
      else for (const chunk of data) this.decoder.push(chunk)
    } catch (err) {
      this.failure = err as Error
      this.detach()
      this.stream.abort(err as Error)
    }
    // Don't buffer unboundedly if nobody reads: libp2p stops the peer via flow control.
    if (this.decoder.bufferedBytes > 2 * this.decoder.maxFrameSize && this.stream.readStatus === 'readable') {
      this.stream.pause()
    }
    this.notify()
  }
  private readonly onEnd = () => {
    this.ended = true
    this.notify()
  }
  private readonly onClose = (event: StreamCloseEvent) => {
    if (event.error) this.failure ??= event.error
    this.ended = true
    this.notify()
  }

  constructor(
    private readonly stream: Stream,
    options: FramingOptions = {},
  ) {
    this.decoder = new FrameDecoder(options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE)
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('end', this.onEnd)
    stream.addEventListener('close', this.onClose)
    if (stream.readableEnded) this.ended = true
  }

  /**
   * The next message. Rejects with ERR_CLOSED if the stream ends cleanly first, ERR_TRUNCATED if
   * it ends inside a frame, ERR_ABORTED / ERR_TIMEOUT on the signal.
   */
  async read<T>(codec: MessageCodec<T>, options: AbortOptions = {}): Promise<T> {
    if (this.released) throw new NetError('ERR_CLOSED', 'reader was released', { origin: 'local' })
    const { signal } = options
    for (;;) {
      if (this.failure) throw this.failure
      const frame = this.decoder.next()
      if (frame) {
        if (this.stream.readStatus === 'paused' && this.decoder.bufferedBytes <= this.decoder.maxFrameSize) {
          this.stream.resume()
        }
        try {
          return codec.decode(frame)
        } catch (err) {
          this.failure = err as Error
          this.detach()
          this.stream.abort(err as Error)
          throw err
        }
      }
      if (this.ended) {
        if (this.decoder.bufferedBytes > 0) {
          throw new NetError('ERR_TRUNCATED', `stream ended inside a ${codec.name} frame`, {
            details: { buffered: this.decoder.bufferedBytes },
          })
        }
        throw new NetError('ERR_CLOSED', `stream ended before a ${codec.name} arrived`)
      }
      if (signal?.aborted) throw abortError(signal)
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve()
        signal?.addEventListener('abort', onAbort, { once: true })
        this.wake = () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        }
      })
      this.wake = undefined
    }
  }

  /** Read messages until the stream ends cleanly. */
  async *messages<T>(codec: MessageCodec<T>, options: AbortOptions = {}): AsyncGenerator<T> {
    for (;;) {
      try {
        yield await this.read(codec, options)
      } catch (err) {
        if (err instanceof NetError && err.code === 'ERR_CLOSED' && !this.released) return
        throw err
      }
    }
  }

  /**
   * Stop reading messages: detach from the stream and return the bytes received past the last
   * message (the caller feeds them first to whatever reads the stream next).
   */
  release(): Uint8Array {
    this.released = true
    this.detach()
    return this.decoder.takeRemainder()
  }

  private detach(): void {
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('end', this.onEnd)
    this.stream.removeEventListener('close', this.onClose)
  }

  private notify(): void {
    this.wake?.()
  }
}

function abortError(signal: AbortSignal): NetError {
  const reason = signal.reason as { name?: string } | undefined
  return reason?.name === 'TimeoutError'
    ? new NetError('ERR_TIMEOUT', 'timed out waiting for a message', { origin: 'local', cause: reason })
    : new NetError('ERR_ABORTED', 'aborted while waiting for a message', { origin: 'local', cause: reason })
}
