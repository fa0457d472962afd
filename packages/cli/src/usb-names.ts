/** Human names for USB class codes, for listings. */
const CLASS_NAMES: Readonly<Record<number, string>> = {
  0x00: 'per interface',
  0x01: 'Audio',
  0x02: 'Communications',
  0x03: 'HID',
  0x07: 'Printer',
  0x08: 'Mass Storage',
  0x09: 'Hub',
  0x0a: 'CDC Data',
  0x0e: 'Video',
  0xe0: 'Wireless',
  0xef: 'Miscellaneous',
  0xfe: 'Application Specific',
  0xff: 'Vendor Specific',
}

export function usbClassName(code: number): string {
  return CLASS_NAMES[code] ?? `class 0x${code.toString(16).padStart(2, '0')}`
}

export function hex4(value: number): string {
  return value.toString(16).padStart(4, '0')
}

const SPEED_NAMES: Readonly<Record<number, string>> = { 1: 'low', 2: 'full', 3: 'high', 4: 'wireless', 5: 'super', 6: 'super+' }

export function speedName(speed: number): string {
  return SPEED_NAMES[speed] ?? 'unknown'
}
