/**
 * The kernel's usbip-host stub performs SET_CONFIGURATION, SET_INTERFACE and
 * CLEAR_FEATURE(ENDPOINT_HALT) itself instead of passing them to the device as control
 * transfers; we route them to the backend as their own request kinds for the same reason.
 */
import type { BackendRequest } from '../backend.js'

const REQ_CLEAR_FEATURE = 0x01
const REQ_SET_CONFIGURATION = 0x09
const REQ_SET_INTERFACE = 0x0b
const FEATURE_ENDPOINT_HALT = 0

export function interceptStandardRequest(seqnum: number, setup: Uint8Array): BackendRequest | undefined {
  const requestType = setup[0]!
  const request = setup[1]!
  const value = setup[2]! | (setup[3]! << 8)
  const index = setup[4]! | (setup[5]! << 8)
  if (requestType === 0x00 && request === REQ_SET_CONFIGURATION) {
    return { kind: 'set-configuration', seqnum, configurationValue: value & 0xff }
  }
  if (requestType === 0x01 && request === REQ_SET_INTERFACE) {
    return { kind: 'set-interface', seqnum, interfaceNumber: index & 0xff, alternateSetting: value & 0xff }
  }
  if (requestType === 0x02 && request === REQ_CLEAR_FEATURE && value === FEATURE_ENDPOINT_HALT) {
    return { kind: 'clear-halt', seqnum, endpointAddress: index & 0xff }
  }
  return undefined
}
