/**
 * Waiting for a libp2p stream to accept more data after send() returned false.
 *
 * Not `stream.onDrain()`: in @libp2p/utils 7.4 its promise is created once and never reset, so
 * after the first 'drain' it resolves immediately forever, and a writer relying on it stops
 * honouring backpressure (measured: 14 MiB piled up in the stream's write buffer while the peer
 * was paused). This listens to the 'drain' event itself and re-checks writableNeedsDrain once
 * libp2p has retried its send queue (a 'drain' can come from the muxer while this stream's
 * window is still exhausted).
 */
import type { AbortOptions, Stream, StreamCloseEvent } from '@libp2p/interface'
import { NetError } from './errors.js'

export type DrainableStream = Pick<
  Stream,
  'writableNeedsDrain' | 'status' | 'writeStatus' | 'addEventListener' | 'removeEventListener'
>

export function waitForDrain(stream: DrainableStream, options: AbortOptions = {}): Promise<void> {
  if (!stream.writableNeedsDrain) return Promise.resolve()
  const { signal } = options
  return new Promise<void>((resolve, reject) => {
    const cleanup = () => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
    }
    const onDrain = () => {
      // libp2p's own drain listener queued its send-queue retry first; look after it.
      queueMicrotask(() => {
        if (stream.writableNeedsDrain) return
        cleanup()
        resolve()
      })
    }
    const onClose = (event: StreamCloseEvent) => {
      cleanup()
      reject(event.error ?? new NetError('ERR_CLOSED', 'stream closed while waiting to send'))
    }
    const onAbort = () => {
      cleanup()
      reject(
        new NetError('ERR_ABORTED', 'aborted while waiting to send', {
          origin: 'local',
          cause: signal?.reason,
        }),
      )
    }
    if (signal?.aborted) return onAbort()
    if (stream.status !== 'open' || stream.writeStatus === 'closed') {
      reject(new NetError('ERR_CLOSED', 'stream closed while waiting to send'))
      return
    }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
