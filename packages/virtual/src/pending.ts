/**
 * A transfer the device has accepted but maybe not finished. It guarantees the session's
 * `done` runs exactly once, whoever gets there first: the model, a cancel, or close().
 */
import type { BackendCompletion, IsoPacketResult, TransferRequest } from '@tether/usbip'

export const EMPTY = new Uint8Array(0)

export class PendingTransfer {
  readonly request: TransferRequest
  /** Endpoint address with direction bit (0x81 = EP1 IN); 0 for control. */
  readonly endpointAddress: number
  readonly #settle: (transfer: PendingTransfer, completion: BackendCompletion) => void
  #settled = false

  constructor(
    request: TransferRequest,
    settle: (transfer: PendingTransfer, completion: BackendCompletion) => void,
  ) {
    this.request = request
    this.endpointAddress =
      request.endpoint === 0 ? 0 : (request.direction === 'in' ? 0x80 : 0) | request.endpoint
    this.#settle = settle
  }

  get seqnum(): number {
    return this.request.seqnum
  }

  get settled(): boolean {
    return this.#settled
  }

  /** Finish with a raw completion. Returns false (and does nothing) if already finished. */
  complete(completion: BackendCompletion): boolean {
    if (this.#settled) return false
    this.#settled = true
    this.#settle(this, completion)
    return true
  }

  /** IN success: the bytes, clipped to what the host asked for. */
  completeIn(data: Uint8Array): boolean {
    const clipped = data.length > this.request.length ? data.subarray(0, this.request.length) : data
    return this.complete({ status: 0, data: clipped, actualLength: clipped.length })
  }

  /** OUT success: how many bytes the device took (default: all of them). */
  completeOut(actualLength: number = this.request.data.length): boolean {
    return this.complete({ status: 0, actualLength })
  }

  /**
   * Isochronous finish: one result per packet of the request, in order. IN: `data` holds the
   * packets' bytes packed back to back (each packet's actualLength of them), as USB/IP carries
   * them. The transfer's actual length is the sum; errorCount counts packets with a nonzero status.
   * A result list that doesn't line up with the request is a model bug and throws.
   */
  completeIso(packets: readonly IsoPacketResult[], data?: Uint8Array): boolean {
    // A late completion after a cancel is normal, not a bug: don't validate it.
    if (this.#settled) return false
    const requested = this.request.isoPackets
    if (packets.length !== requested.length) {
      throw new RangeError(
        `iso completion has ${packets.length} packet results for ${requested.length} packets`,
      )
    }
    let actualLength = 0
    let errorCount = 0
    packets.forEach((packet, i) => {
      if (packet.actualLength < 0 || packet.actualLength > requested[i]!.length) {
        throw new RangeError(
          `iso packet ${i}: actual length ${packet.actualLength} of ${requested[i]!.length}`,
        )
      }
      actualLength += packet.actualLength
      if (packet.status !== 0) errorCount++
    })
    if (this.request.direction === 'in' && (data?.length ?? 0) !== actualLength) {
      throw new RangeError(`iso IN data is ${data?.length ?? 0} bytes; packets add up to ${actualLength}`)
    }
    return this.complete({
      status: 0,
      actualLength,
      isoPackets: packets,
      errorCount,
      ...(this.request.direction === 'in' ? { data: data ?? EMPTY } : {}),
    })
  }

  /** Finish with a negative errno and no data. */
  fail(status: number): boolean {
    return this.complete({ status, actualLength: 0 })
  }
}
