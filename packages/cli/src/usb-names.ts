/** Human names for USB class codes, for listings. */
const CLASS_NAMES: Readonly<Record<number, string>> = {
  0: 'per interface',
  1: 'Audio',
  2: 'Communications',
  3: 'HID',
  7: 'Printer',
  8: 'Mass Storage',
  9: 'Hub',
  10: 'CDC Data',
  14: 'Video',
  224: 'Wireless',
  239: 'Miscellaneous',
  254: 'Application Specific',
  255: 'Vendor Specific',
}

export function usbClassName(code: number): string {
  return CLASS_NAMES[code] ?? `class 0x${code.toString(16).padStart(2, '0')}`
}

export function hex4(value: number): string {
  return value.toString(16).padStart(4, '0')
}

const SPEED_NAMES: Readonly<Record<number, string>> = {
  1: 'low',
  2: 'full',
  3: 'high',
  4: 'wireless',
  5: 'super',
  6: 'super+',
}

export function speedName(speed: number): string {
  return SPEED_NAMES[speed] ?? 'unknown'
}
