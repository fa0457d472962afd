/**
 * Moves bulk data through a USB/IP endpoint with the userspace client, against a Gadget Zero
 * device (source/sink configuration, pattern 1), checking every byte. Runs inside a namespace:
 *
 *   node urb-load.js HOST:PORT BUSID MEGABYTES [IN_FLIGHT]
 *
 * Prints one JSON line: { bytes, seconds, mbps, roundTripUs }, exit 0; or an error, exit 1.
 */
import { importDevice } from '@tether/usbip'

const [address, busid, megabytes, inFlightText] = process.argv.slice(2)
const [host, portText] = (address ?? '').split(':')
const total = Number(megabytes) * 1024 * 1024
const inFlight = Number(inFlightText ?? 4)
const URB = 64 * 1024
const SOURCE_SINK_CONFIG = 3

function checkPattern(data: Uint8Array, maxPacket: number): boolean {
  for (let i = 0; i < data.length; i++) if (data[i] !== (i % maxPacket) % 63) return false
  return true
}

try {
  const device = await importDevice({
    host: host ?? '127.0.0.1',
    port: Number(portText),
    busid: busid ?? '1-1',
  })
  const set = await device.control({
    requestType: 0x00,
    request: 9,
    value: SOURCE_SINK_CONFIG,
    index: 0,
    length: 0,
  })
  if (set.status !== 0) throw new Error(`SET_CONFIGURATION failed with ${set.status}`)
  const t0 = process.hrtime.bigint()
  const ping = await device.submit({ ep: 1, direction: 'in', length: 64 })
  const roundTripUs = Number(process.hrtime.bigint() - t0) / 1000
  if (ping.status !== 0) throw new Error(`bulk IN failed with ${ping.status}`)
  const maxPacket = device.record.speed >= 5 ? 1024 : 512
  let issued = 0
  let received = 0
  const started = process.hrtime.bigint()
  const worker = async () => {
    while (issued < total) {
      issued += URB
      const result = await device.submit({ ep: 1, direction: 'in', length: URB })
      if (result.status !== 0 || result.actualLength !== URB)
        throw new Error(`bulk IN failed: status ${result.status}`)
      if (!checkPattern(result.data, maxPacket)) throw new Error(`corrupt data after ${received} bytes`)
      received += result.actualLength
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  await device.close()
  process.stdout.write(
    `${JSON.stringify({ bytes: received, seconds, mbps: received / seconds / 1e6, roundTripUs })}\n`,
  )
  process.exit(0)
} catch (err) {
  process.stderr.write(`urb-load: ${(err as Error).message}\n`)
  process.exit(1)
}
