import type { ExporterRegistration } from '../src/index.js'

export function registration(
  name = 'lab-a',
  overrides: Partial<ExporterRegistration> = {},
): ExporterRegistration {
  return {
    name,
    addresses: ['/ip4/192.0.2.1/tcp/4001'],
    places: [
      {
        name: 'bench-1',
        tags: ['rack-3', 'arm'],
        parts: [
          {
            name: 'nucleo',
            compatible: ['st,nucleo-f401re', 'st,stm32f401'],
            interfaces: [
              { kind: 'usb', name: 'usb', busid: '1-1', vendorId: 0x0483, productId: 0x374b },
              { kind: 'serial', name: 'console', description: 'board console' },
            ],
          },
        ],
      },
      {
        name: 'bench-2',
        tags: ['rack-3'],
        parts: [
          { name: 'esp', compatible: ['espressif,esp32'], interfaces: [] },
          { name: 'relay-board', compatible: ['st,stm32f401'], interfaces: [] },
        ],
      },
    ],
    ...overrides,
  }
}

/** A clock the test moves by hand. */
export function frozenClock(start = 1_700_000_000_000) {
  let now = start
  return {
    now: () => now,
    advance(ms: number) {
      now += ms
    },
  }
}
