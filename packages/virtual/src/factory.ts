/**
 * Build a virtual device from a short spec string, as typed on a command line:
 *   cdc-acm              serial port whose far end echoes
 *   cdc-acm:board        serial console of a scripted pretend board
 *   gadget-zero          Linux Gadget Zero (usbtest)
 *   disk:/path/to.img    mass storage backed by an existing image file
 *   disk:/path/to.img:ro the same, write-protected
 */
import type { Logger } from '@tether/usbip'
import { type ScriptedBoardOptions, ScriptedBoardPeer } from './board-peer.js'
import { CdcAcmDevice } from './cdc-acm.js'
import type { VirtualDevice } from './device.js'
import { VirtualDeviceError } from './errors.js'
import { GadgetZeroDevice, type GadgetZeroPattern } from './gadget-zero.js'
import { MassStorageDevice } from './mass-storage.js'
import { EchoPeer } from './serial.js'

export interface CreateVirtualDeviceOptions {
  /** Position among exported devices (0-based); sets the default busid and devnum. */
  readonly index?: number
  /** Overrides the derived busid. */
  readonly busid?: string
  readonly busnum?: number
  readonly devnum?: number
  /** For cdc-acm:board. */
  readonly board?: ScriptedBoardOptions
  /** For gadget-zero. */
  readonly pattern?: GadgetZeroPattern
  /** Given to the device (as a child scoped to its busid). */
  readonly logger?: Logger
}

export const DEVICE_SPEC_HELP =
  'expected one of: cdc-acm, cdc-acm:board, gadget-zero, disk:<image path>, disk:<image path>:ro'

/**
 * Parse `spec` and build the device. Default identity for `index` i: busid "1-(i+1)", busnum 1,
 * devnum i+1 (so the first device is 1-1, devnum 1). Throws VirtualDeviceError on a bad spec
 * or an unusable disk image.
 */
export function createVirtualDevice(spec: string, options: CreateVirtualDeviceOptions = {}): VirtualDevice {
  const index = options.index ?? 0
  if (!Number.isInteger(index) || index < 0) {
    throw new VirtualDeviceError(
      'ERR_BAD_DEVICE_SPEC',
      `device index must be a non-negative integer, got ${index}`,
    )
  }
  const busid = options.busid ?? `1-${index + 1}`
  const identity = {
    busid,
    busnum: options.busnum ?? 1,
    devnum: options.devnum ?? index + 1,
    ...(options.logger ? { logger: options.logger.child(`virtual:${busid}`) } : {}),
  }
  const trimmed = spec.trim()
  const colon = trimmed.indexOf(':')
  const kind = colon < 0 ? trimmed : trimmed.slice(0, colon)
  const argument = colon < 0 ? undefined : trimmed.slice(colon + 1)

  switch (kind) {
    case 'cdc-acm':
      if (argument === undefined || argument === 'echo') {
        return new CdcAcmDevice({ ...identity, peer: new EchoPeer(), product: 'Tether Virtual Serial' })
      }
      if (argument === 'board') {
        return new CdcAcmDevice({
          ...identity,
          peer: new ScriptedBoardPeer(options.board),
          product: 'Tether Virtual Board Console',
        })
      }
      throw badSpec(spec, `unknown cdc-acm peer "${argument}" (use cdc-acm or cdc-acm:board)`)
    case 'gadget-zero':
      if (argument !== undefined) throw badSpec(spec, 'gadget-zero takes no argument')
      return new GadgetZeroDevice({ ...identity, pattern: options.pattern ?? 0 })
    case 'disk':
      return createDisk(spec, argument, identity)
    default:
      throw badSpec(spec, `unknown device kind "${kind}"`)
  }
}

function createDisk(
  spec: string,
  argument: string | undefined,
  identity: { busid: string; busnum: number; devnum: number; logger?: Logger },
): MassStorageDevice {
  if (!argument) throw badSpec(spec, 'disk needs an image path, e.g. disk:/var/lib/tether/disk.img')
  const readOnly = argument.endsWith(':ro')
  const path = readOnly
    ? argument.slice(0, -':ro'.length)
    : argument.endsWith(':rw')
      ? argument.slice(0, -3)
      : argument
  if (!path) throw badSpec(spec, 'disk needs an image path before ":ro"')
  return MassStorageDevice.fromFile(path, { ...identity, readOnly })
}

function badSpec(spec: string, why: string): VirtualDeviceError {
  return new VirtualDeviceError(
    'ERR_BAD_DEVICE_SPEC',
    `bad device spec "${spec}": ${why}; ${DEVICE_SPEC_HELP}`,
    {
      details: { spec },
    },
  )
}
