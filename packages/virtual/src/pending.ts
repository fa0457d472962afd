/**
 * A transfer the device has accepted but maybe not finished. It guarantees the session's
 * `done` runs exactly once, whoever gets there first: the model, a cancel, or close().
 */
import type { BackendCompletion, TransferRequest } from '@tether/usbip'

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

  /** Finish with a negative errno and no data. */
  fail(status: number): boolean {
    return this.complete({ status, actualLength: 0 })
  }
}
