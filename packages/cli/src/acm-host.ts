/**
 * A tiny userspace CDC-ACM host driver over an imported USB/IP device: enough to reach a
 * board console without root or a kernel module.
 */
import { type ImportedDevice, parseConfigurationDescriptor, UsbipError } from '@tether/usbip'
import {
  CdcRequest,
  DEFAULT_LINE_CODING,
  DescriptorType,
  encodeLineCoding,
  StandardRequest,
} from '@tether/virtual'

const { GET_DESCRIPTOR, SET_CONFIGURATION } = StandardRequest
const { SET_LINE_CODING, SET_CONTROL_LINE_STATE } = CdcRequest
const DESC_CONFIGURATION = DescriptorType.CONFIGURATION
const CLASS_CDC_DATA = 0x0a
const CLASS_COMMUNICATIONS = 0x02
const READS_IN_FLIGHT = 4
const READ_SIZE = 512

export interface AcmPort {
  write(bytes: Uint8Array): Promise<void>
  close(): Promise<void>
}

export async function openAcmPort(
  device: ImportedDevice,
  onData: (bytes: Uint8Array) => void,
  options: { baudRate?: number } = {},
): Promise<AcmPort> {
  const header = await device.control({
    requestType: 0x80,
    request: GET_DESCRIPTOR,
    value: DESC_CONFIGURATION << 8,
    index: 0,
    length: 9,
  })
  expectOk(header.status, 'read the configuration descriptor')
  const total = header.data[2]! | (header.data[3]! << 8)
  const full = await device.control({
    requestType: 0x80,
    request: GET_DESCRIPTOR,
    value: DESC_CONFIGURATION << 8,
    index: 0,
    length: total,
  })
  expectOk(full.status, 'read the configuration descriptor')
  const configuration = parseConfigurationDescriptor(full.data)
  const data = configuration.altSettings.find((a) => a.interfaceClass === CLASS_CDC_DATA)
  const comm = configuration.altSettings.find((a) => a.interfaceClass === CLASS_COMMUNICATIONS)
  const bulkIn = data?.endpoints.find((e) => e.type === 'bulk' && e.address & 0x80)
  const bulkOut = data?.endpoints.find((e) => e.type === 'bulk' && !(e.address & 0x80))
  if (!comm || !bulkIn || !bulkOut) {
    throw new UsbipError(
      'ERR_BAD_DESCRIPTOR',
      'this device is not a CDC-ACM serial port (no data interface with bulk endpoints)',
      {
        origin: 'local',
      },
    )
  }
  expectOk(
    (
      await device.control({
        requestType: 0x00,
        request: SET_CONFIGURATION,
        value: configuration.configurationValue,
        index: 0,
        length: 0,
      })
    ).status,
    'set the configuration',
  )
  const coding = encodeLineCoding({
    ...DEFAULT_LINE_CODING,
    baudRate: options.baudRate ?? DEFAULT_LINE_CODING.baudRate,
  })
  const iface = comm.interfaceNumber
  expectOk(
    (
      await device.control(
        { requestType: 0x21, request: SET_LINE_CODING, value: 0, index: iface, length: 7 },
        coding,
      )
    ).status,
    'set the line coding',
  )
  // DTR | RTS: "a terminal is present"; boards' consoles often wait for it.
  expectOk(
    (
      await device.control({
        requestType: 0x21,
        request: SET_CONTROL_LINE_STATE,
        value: 0x3,
        index: iface,
        length: 0,
      })
    ).status,
    'raise DTR/RTS',
  )

  const reader = new AbortController()
  const readLoop = async () => {
    while (!reader.signal.aborted) {
      const result = await device.submit(
        { ep: bulkIn.address & 0x0f, direction: 'in', length: READ_SIZE },
        { signal: reader.signal },
      )
      if (result.unlinked) return
      expectOk(result.status, 'read from the serial port')
      if (result.data.length > 0) onData(result.data)
    }
  }
  const loops = Array.from({ length: READS_IN_FLIGHT }, readLoop)
  const finished = Promise.allSettled(loops)

  return {
    async write(bytes) {
      const result = await device.submit({ ep: bulkOut.address & 0x0f, direction: 'out', data: bytes })
      expectOk(result.status, 'write to the serial port')
    },
    async close() {
      reader.abort()
      await finished
      await device
        .control({ requestType: 0x21, request: SET_CONTROL_LINE_STATE, value: 0, index: iface, length: 0 })
        .catch(() => {})
      await device.close()
    },
  }
}

function expectOk(status: number, what: string): void {
  if (status !== 0)
    throw new UsbipError('ERR_UNEXPECTED_MESSAGE', `could not ${what}: USB status ${status}`, {
      details: { status },
    })
}
