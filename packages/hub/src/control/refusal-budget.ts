/**
 * How many login and policy refusals of one peer go to the audit log: each is a row and shares a
 * commit, so a peer sending garbage tokens in a loop must not grow the log without bound. A token
 * bucket per peer (a burst, then a steady rate); refusals beyond it are counted and the next
 * recorded one says how many were left out. Pure: the clock is an argument.
 */

export interface RefusalBudgetOptions {
  /** Refusals recorded at once before the rate applies. */
  readonly burst?: number
  /** Then one more recorded per this many ms. */
  readonly refillMs?: number
  /** Peers remembered at most (least recently refused forgotten first). */
  readonly maxPeers?: number
}

interface Bucket {
  tokens: number
  at: number
  suppressed: number
}

export type RefusalDecision =
  | {
      readonly record: true /** Refusals left out since the last recorded one. */
      readonly suppressed: number
    }
  | { readonly record: false }

export class RefusalBudget {
  private readonly burst: number
  private readonly refillMs: number
  private readonly maxPeers: number
  private readonly buckets = new Map<string, Bucket>()

  constructor(options: RefusalBudgetOptions = {}) {
    this.burst = options.burst ?? 20
    this.refillMs = options.refillMs ?? 3_000
    this.maxPeers = options.maxPeers ?? 10_000
  }

  /** Whether this refusal of `peer` at `now` goes to the audit log. */
  take(peer: string, now: number): RefusalDecision {
    const bucket = this.buckets.get(peer) ?? { tokens: this.burst, at: now, suppressed: 0 }
    // Re-inserted on every refusal: Map order is then least recently refused first.
    this.buckets.delete(peer)
    this.buckets.set(peer, bucket)
    if (this.buckets.size > this.maxPeers) this.buckets.delete(this.buckets.keys().next().value as string)
    const earned = Math.floor(Math.max(0, now - bucket.at) / this.refillMs)
    if (earned > 0) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + earned)
      bucket.at = bucket.tokens === this.burst ? now : bucket.at + earned * this.refillMs
    }
    if (bucket.tokens < 1) {
      bucket.suppressed++
      return { record: false }
    }
    bucket.tokens--
    const suppressed = bucket.suppressed
    bucket.suppressed = 0
    return { record: true, suppressed }
  }

  /** Peers currently remembered. */
  get size(): number {
    return this.buckets.size
  }
}
