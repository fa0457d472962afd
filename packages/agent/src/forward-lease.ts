/**
 * The tunnels of a forward (`tether forward`), and when its lease is over. Each local `usbip`
 * connection opens one tunnel, with the lease's capability under a hub with [auth]. Like an
 * attachment, a forward ends when its lease does — the capability source says so
 * (ERR_LEASE_ENDED) or the exporter refuses the capability as revoked or expired (see
 * leaseOverReason) — state "ended" with the reason; from then on it opens no tunnel and its
 * endpoint refuses local connections. `tether forward` for the place again replaces it.
 *
 * A forward holds no tunnel of its own between connections, so the lease is checked when a
 * connection comes, and after a device's tunnel closes (the exporter closes it on a kick, a
 * return or the lease's end): check() asks for a list-only tunnel, closed at once.
 */
import type { Duplex } from 'node:stream'
import { type Logger, silentLogger } from '@tether/usbip'
import { type CapabilitySource, leaseOverReason } from './capabilities.js'
import { AgentError } from './errors.js'

export type ForwardState = 'up' | 'ended'

/** Opens one tunnel to the exporter, carrying `token` when there is one. */
export type ForwardOpener = (
  busid: string,
  token: Uint8Array | undefined,
  signal: AbortSignal,
) => Promise<Duplex>

/** How long a lease check (one list-only tunnel) may take. */
export const LEASE_CHECK_TIMEOUT_MS = 10_000

export class ForwardTunnels {
  private current: ForwardState = 'up'
  private reason: string | undefined
  private failure: string | undefined
  private checking: Promise<void> | undefined
  private readonly log: Logger

  constructor(
    private readonly open: ForwardOpener,
    private readonly options: {
      /** exporter:place, for messages. */
      readonly what: string
      /** The place as `tether forward` takes it, for the fix in the message. */
      readonly target: string
      /** Undefined: a forward without a lease (open mode), which never ends. */
      readonly capability?: CapabilitySource
      readonly logger?: Logger
    },
  ) {
    this.log = (options.logger ?? silentLogger).child('agent:forward')
  }

  get state(): ForwardState {
    return this.current
  }

  /** Why the forward ended, else the last failure to open a tunnel (cleared by a success). */
  get lastError(): string | undefined {
    return this.reason ?? this.failure
  }

  /**
   * A tunnel for one local connection. Throws AgentError ERR_LEASE_ENDED once the lease is over
   * (ending the forward when this attempt is what showed it); other failures pass unchanged.
   */
  async tunnel(busid: string, signal: AbortSignal): Promise<Duplex> {
    if (this.ended()) throw this.endedError()
    try {
      const token = await this.options.capability?.token()
      const duplex = await this.open(busid, token, signal)
      this.failure = undefined
      return duplex
    } catch (err) {
      // Another connection may have ended the forward meanwhile; without a lease nothing ends it.
      const over = this.ended() || !this.options.capability ? undefined : leaseOverReason(err)
      if (over !== undefined) this.end(over)
      if (this.ended()) throw this.endedError(err)
      this.failure = (err as Error).message
      throw err
    }
  }

  /**
   * Whether the lease still opens tunnels, after a device's tunnel closed: a list-only tunnel,
   * closed at once. Ends the forward if the lease is over; any other failure (the exporter
   * restarting, unreachable) is only noted. One check at a time; none without a lease.
   */
  check(timeoutMs = LEASE_CHECK_TIMEOUT_MS): Promise<void> {
    if (!this.options.capability || this.ended()) return Promise.resolve()
    this.checking ??= this.tunnel('', AbortSignal.timeout(timeoutMs))
      .then(
        (duplex) => void duplex.destroy(),
        (err: Error) =>
          this.log.debug('lease check failed', { forward: this.options.what, error: err.message }),
      )
      .finally(() => {
        this.checking = undefined
      })
    return this.checking
  }

  /** A method, not a narrowed field: the state changes across the awaits above. */
  private ended(): boolean {
    return this.current === 'ended'
  }

  private end(reason: string): void {
    this.current = 'ended'
    this.reason = reason
    this.log.warn('the lease is over; the forward refuses new connections', {
      forward: this.options.what,
      lease: this.options.capability?.leaseId,
      reason,
    })
  }

  private endedError(cause?: unknown): AgentError {
    return new AgentError(
      'ERR_LEASE_ENDED',
      `the forward of ${this.options.what} has ended: ${this.reason}; reserve the place again and run tether forward ${this.options.target}`,
      cause === undefined ? {} : { cause },
    )
  }
}
