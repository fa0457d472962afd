/**
 * The exporter's standing link to a hub with [auth]: enrollment (a one-time join token, presented
 * before the first registration), then a watch stream that delivers the hub's JWKS (cached on
 * disk, so tokens still verify while the hub is unreachable) and every lease that ends on our
 * places, whose tunnels we close at once. Reconnects by itself with backoff.
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import type { JwksCache } from '@tether/auth'
import { callHub, HubRequestError } from '@tether/control'
import type { Logger, TetherNode } from '@tether/net'
import { ExporterError } from '../errors.js'
import type { RevocationList } from './revocations.js'

const RETRY_MIN_MS = 500
const RETRY_MAX_MS = 15_000

export interface HubLinkInit {
  readonly node: TetherNode
  readonly hub: Multiaddr
  readonly keys: JwksCache
  /** Where ended leases are remembered (on disk, for restarts while the hub is unreachable). */
  readonly revoked: RevocationList
  readonly logger: Logger
  readonly onRevoked: (leaseId: string, reason: string) => void
  /** A lease was renewed at the hub: its tunnels may stay open until `expiresAt`. */
  readonly onRenewed: (leaseId: string, expiresAt: number) => void
}

export class HubLink {
  private readonly controller = new AbortController()
  private running: Promise<void> | undefined

  constructor(private readonly init: HubLinkInit) {}

  isRevoked(leaseId: string): boolean {
    return this.init.revoked.has(leaseId)
  }

  /** Present a join token once: binds our name to our PeerId at the hub. */
  async enroll(joinToken: string): Promise<string> {
    try {
      const answer = await callHub(this.init.node, this.init.hub, {
        login: '',
        body: { type: 'enroll', joinToken },
      })
      if (answer.type !== 'enrolled') throw new Error(`the hub answered ${answer.type}`)
      this.init.logger.info('enrolled with the hub', { exporter: answer.exporter })
      return answer.exporter
    } catch (err) {
      const code = err instanceof HubRequestError ? err.code : 'ERR_HUB_UNREACHABLE'
      throw new ExporterError(
        'ERR_ENROLL',
        `enrollment with the hub failed: ${(err as Error).message} (${code})`,
        {
          cause: err,
        },
      )
    }
  }

  /** Keep the watch stream open until stop(). */
  start(): void {
    this.running ??= this.loop()
  }

  async stop(): Promise<void> {
    this.controller.abort()
    await this.running
    await this.init.revoked.flush()
  }

  private async loop(): Promise<void> {
    const signal = this.controller.signal
    let failures = 0
    while (!signal.aborted) {
      try {
        await this.watchOnce(signal)
        failures = 0
      } catch (err) {
        if (signal.aborted) break
        failures++
        this.init.logger.warn('revocation watch lost; reconnecting', { error: (err as Error).message })
      }
      const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(failures, 10))
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay)
        signal.addEventListener('abort', () => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** One watch stream: resolves when the hub closes it. */
  private async watchOnce(signal: AbortSignal): Promise<void> {
    let first = true
    await callHub(
      this.init.node,
      this.init.hub,
      { login: '', body: { type: 'watch' } },
      {
        signal,
        onResponse: async (response) => {
          if (response.type === 'jwks') {
            await this.init.keys.update(JSON.parse(response.json))
            if (first) this.init.logger.info('watching the hub for revocations; its keys are cached')
            first = false
          } else if (response.type === 'lease') {
            this.init.onRenewed(response.lease.id, response.lease.expiresAtMs)
          } else if (response.type === 'revoked') {
            this.init.revoked.add(response.leaseId).catch((err: Error) => {
              this.init.logger.warn('could not save the list of ended leases (kept in memory)', {
                error: err.message,
              })
            })
            this.init.onRevoked(response.leaseId, response.reason)
          }
        },
      },
    )
  }
}
