/** The URB workloads both benchmarks run against Gadget Zero's source/sink endpoints. */
import type { ImportedDevice } from '@tether/usbip'

export const URB_SIZE = 64 * 1024
/** Gadget Zero's source/sink configuration (bulk IN source on ep 1, bulk OUT sink on ep 1). */
const SOURCE_SINK_CONFIG = 3

export async function selectSourceSink(device: ImportedDevice): Promise<void> {
  const set = await device.control({
    requestType: 0,
    request: 9,
    value: SOURCE_SINK_CONFIG,
    index: 0,
    length: 0,
  })
  if (set.status !== 0) throw new Error(`SET_CONFIGURATION failed: ${set.status}`)
}

export interface RoundTrips {
  count: number
  perSecond: number
  medianUs: number
  p99Us: number
}

export function summarize(latenciesNs: readonly number[]): RoundTrips {
  const sorted = Float64Array.from(latenciesNs).sort()
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! / 1000
  const totalS = latenciesNs.reduce((a, b) => a + b, 0) / 1e9
  return {
    count: latenciesNs.length,
    perSecond: latenciesNs.length / totalS,
    medianUs: at(0.5),
    p99Us: at(0.99),
  }
}

/** Up to `count` 64-byte bulk IN URBs one after the other, stopping after `budgetS` seconds. */
export async function urbRoundTrips(device: ImportedDevice, count: number, budgetS = Infinity) {
  const latencies: number[] = []
  const deadline = Number.isFinite(budgetS)
    ? process.hrtime.bigint() + BigInt(Math.round(budgetS * 1e9))
    : undefined
  for (let i = 0; i < count; i++) {
    const started = process.hrtime.bigint()
    const result = await device.submit({ ep: 1, direction: 'in', length: 64 })
    const ended = process.hrtime.bigint()
    if (result.status !== 0 || result.actualLength !== 64) throw new Error(`bulk IN failed: ${result.status}`)
    latencies.push(Number(ended - started))
    if (deadline !== undefined && ended > deadline) break
  }
  return summarize(latencies)
}

/** Bulk transfers of URB_SIZE with `inFlight` URBs outstanding at all times; MB/s. */
export async function bulkThroughput(
  device: ImportedDevice,
  direction: 'in' | 'out',
  inFlight: number,
  bytes: number,
): Promise<number> {
  const data = new Uint8Array(URB_SIZE)
  let issued = 0
  const started = process.hrtime.bigint()
  const worker = async () => {
    while (issued < bytes) {
      issued += URB_SIZE
      const result =
        direction === 'in'
          ? await device.submit({ ep: 1, direction: 'in', length: URB_SIZE })
          : await device.submit({ ep: 1, direction: 'out', data })
      if (result.status !== 0 || result.actualLength !== URB_SIZE)
        throw new Error(`bulk ${direction} failed: status ${result.status}, ${result.actualLength} bytes`)
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  return issued / seconds / 1e6
}
