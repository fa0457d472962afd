/** What a capability token can grant on the parts of a place. */

export const RIGHTS = ['usb.attach', 'serial.rw', 'serial.ro', 'power'] as const

/**
 * - `usb.attach`: import the place's USB devices over USB/IP
 * - `serial.rw`: open its serial consoles read-write (implies `serial.ro`)
 * - `serial.ro`: watch its serial consoles
 * - `power`: switch its power / reset lines
 */
export type Right = (typeof RIGHTS)[number]

export function isRight(value: unknown): value is Right {
  return typeof value === 'string' && (RIGHTS as readonly string[]).includes(value)
}

/** Rights that a granted right also confers: a read-write console is also a read-only one. */
export const IMPLIED_BY: Readonly<Record<Right, readonly Right[]>> = {
  'usb.attach': [],
  'serial.rw': [],
  'serial.ro': ['serial.rw'],
  power: [],
}
