/**
 * Round-trip time of a connection, in fractional milliseconds: one long-lived stream per
 * connection on which small probes are echoed. libp2p's ping opens a stream per ping and counts
 * whole milliseconds, so on a LAN it measures stream set-up and clock granularity, not the path.
 */
import type { AbortOptions, Connection, Stream, StreamMessageEvent } from '@libp2p/interface'
import { NetError } from './errors.js'
import type { TetherNode } from './node.js'

export const ROUND_TRIP_PROTOCOL = '/tether/rtt/1.0.0'
const PROBE_SIZE = 8

/** Echo probes back (exporters). Returns a function that unregisters the handler. */
export async function handleRoundTrips(node: TetherNode): Promise<() => Promise<void>> {
  await node.handle(
    ROUND_TRIP_PROTOCOL,
    (stream: Stream) => {
      stream.addEventListener('message', (event: StreamMessageEvent) => {
        // Echo what came, no more: a peer that floods is held back by its own stream window.
        if (!stream.send(event.data)) {
          stream.pause()
          stream.addEventListener('drain', () => stream.resume(), { once: true })
        }
      })
    },
    { runOnLimitedConnection: true },
  )
  return () => node.unhandle(ROUND_TRIP_PROTOCOL)
}

/** Measures one connection's round trip over a stream it keeps open between measurements. */
export class RoundTripProbe {
  private stream: Promise<Stream> | undefined
  private busy = false
  private counter = 0n

  constructor(readonly connection: Connection) {}

  /** One round trip in milliseconds. Rejects (ERR_CLOSED, ERR_TIMEOUT...) if the peer does not echo. */
  async measure(options: AbortOptions = {}): Promise<number> {
    if (this.busy) throw new NetError('ERR_BAD_CONFIG', 'one round-trip measurement at a time')
    this.busy = true
    try {
      const fresh = this.stream === undefined
      this.stream ??= this.connection.newStream(ROUND_TRIP_PROTOCOL, {
        runOnLimitedConnection: true,
        ...(options.signal ? { signal: options.signal } : {}),
      })
      const stream = await this.stream.catch((err: unknown) => {
        this.stream = undefined
        throw new NetError('ERR_CLOSED', `cannot open a round-trip stream: ${(err as Error).message}`, {
          cause: err,
        })
      })
      // A new stream's first echo also carries protocol negotiation: not a round trip to report.
      if (fresh) await this.echo(stream, options)
      return await this.echo(stream, options)
    } catch (err) {
      this.close()
      throw err
    } finally {
      this.busy = false
    }
  }

  close(): void {
    const stream = this.stream
    this.stream = undefined
    void stream?.then((s) => s.abort(new Error('round-trip probe closed'))).catch(() => {})
  }

  private echo(stream: Stream, options: AbortOptions): Promise<number> {
    const probe = new Uint8Array(PROBE_SIZE)
    new DataView(probe.buffer).setBigUint64(0, ++this.counter)
    let received: Uint8Array = new Uint8Array(0)
    return new Promise<number>((resolve, reject) => {
      const cleanup = () => {
        stream.removeEventListener('message', onMessage)
        stream.removeEventListener('close', onClose)
        options.signal?.removeEventListener('abort', onAbort)
      }
      const onMessage = (event: StreamMessageEvent) => {
        const chunk = event.data instanceof Uint8Array ? event.data : event.data.subarray()
        received = received.length === 0 ? chunk : Buffer.concat([received, chunk])
        if (received.length < PROBE_SIZE) return
        const elapsed = Number(process.hrtime.bigint() - started) / 1e6
        cleanup()
        if (received.length !== PROBE_SIZE || !Buffer.from(received).equals(probe)) {
          reject(new NetError('ERR_BAD_FRAME', 'the peer echoed something else', { origin: 'remote' }))
        } else resolve(elapsed)
      }
      const onClose = () => {
        cleanup()
        reject(new NetError('ERR_CLOSED', 'the round-trip stream closed'))
      }
      const onAbort = () => {
        cleanup()
        reject(
          new NetError('ERR_ABORTED', 'round-trip measurement aborted', { cause: options.signal?.reason }),
        )
      }
      if (options.signal?.aborted) return onAbort()
      stream.addEventListener('message', onMessage)
      stream.addEventListener('close', onClose)
      options.signal?.addEventListener('abort', onAbort, { once: true })
      const started = process.hrtime.bigint()
      try {
        stream.send(probe)
      } catch (err) {
        cleanup()
        reject(new NetError('ERR_CLOSED', `the round-trip stream is closed: ${(err as Error).message}`))
      }
    })
  }
}
