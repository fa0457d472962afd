import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  buildDevices,
  disposeDevices,
  type ExporterError,
  parsePlacesToml,
  sanitiseName,
} from '../src/index.js'

const FILE = '/etc/tether/places.toml'
const OPTIONS = { hostname: 'Lab-Host.example', homedir: '/home/ada' }

const FULL = `
name = "lab-a"
[hub]
address = "/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWGRZHPjNyaFLYXLZfH6FWtRgdMrgkz7S6YfWWz2gQyXXt"
[network]
listen = ["/ip4/0.0.0.0/tcp/4002", "/ip4/0.0.0.0/tcp/4003/ws"]
announce = ["/dns4/lab-a.example/tcp/4002"]
identity = "keys/exporter.key"

[[place]]
name = "rpi-1"
tags = ["rpi4", "lab-a"]
  [[place.part]]
  name = "board"
  compatible = ["raspberrypi,4-model-b"]
    [[place.part.interface]]
    name = "console"
    kind = "usb"
    source = "virtual"
    model = "board-console"
    hostname = "rpi-1"
    [[place.part.interface]]
    name = "disk"
    model = "mass-storage"
    image = "images/rpi.img"
    read-only = true
  [[place.part]]
  name = "tester"
    [[place.part.interface]]
    name = "zero"
    model = "gadget-zero"
    pattern = 1
    description = "usbtest target"

[[place]]
name = "echo"
  [[place.part]]
  name = "uart"
    [[place.part.interface]]
    name = "serial"
    model = "cdc-acm"
    [[place.part.interface]]
    name = "ram"
    model = "mass-storage"
    size = "8MiB"
    [[place.part.interface]]
    name = "tty"
    kind = "serial"
    path = "/dev/ttyUSB0"
    [[place.part.interface]]
    name = "ftdi"
    source = "usb"
    vendor-id = 0x0403
    product-id = 0x6001
`

/** Parse `text`, expecting ERR_CONFIG; returns the issues as "path: message". */
function problems(text: string): string[] {
  try {
    parsePlacesToml(text, FILE, OPTIONS)
  } catch (err) {
    const error = err as ExporterError
    assert.equal(error.code, 'ERR_CONFIG')
    for (const issue of error.issues)
      assert.ok(error.message.includes(`${FILE}: ${issue.path}: `), issue.path)
    return error.issues.map((i) => `${i.path}: ${i.message}`)
  }
  assert.fail('expected ERR_CONFIG')
}

const MINIMAL_PLACE = `
[[place]]
name = "p"
  [[place.part]]
  name = "b"
    [[place.part.interface]]
    name = "i"
    model = "cdc-acm"
`

describe('places.toml', () => {
  test('a full valid file: every section, busids in file order, paths resolved against the file', () => {
    const config = parsePlacesToml(FULL, FILE, OPTIONS)
    assert.equal(config.file, FILE)
    assert.equal(config.name, 'lab-a')
    assert.equal(
      config.hub?.address.endsWith('/p2p/12D3KooWGRZHPjNyaFLYXLZfH6FWtRgdMrgkz7S6YfWWz2gQyXXt'),
      true,
    )
    assert.deepEqual(config.network, {
      listen: ['/ip4/0.0.0.0/tcp/4002', '/ip4/0.0.0.0/tcp/4003/ws'],
      announce: ['/dns4/lab-a.example/tcp/4002'],
      identity: '/etc/tether/keys/exporter.key',
    })
    assert.deepEqual(
      config.places.map((p) => [p.name, p.tags, p.parts.map((q) => [q.name, q.compatible])]),
      [
        [
          'rpi-1',
          ['rpi4', 'lab-a'],
          [
            ['board', ['raspberrypi,4-model-b']],
            ['tester', []],
          ],
        ],
        ['echo', [], [['uart', []]]],
      ],
    )
    const [board, tester] = config.places[0]!.parts
    assert.deepEqual(board!.interfaces, [
      {
        kind: 'usb',
        name: 'console',
        busid: '1-1',
        description: undefined,
        source: {
          type: 'virtual',
          model: { name: 'board-console', hostname: 'rpi-1', prompt: undefined, bootOn: 'dtr' },
        },
      },
      {
        kind: 'usb',
        name: 'disk',
        busid: '1-2',
        description: undefined,
        source: {
          type: 'virtual',
          model: {
            name: 'mass-storage',
            image: '/etc/tether/images/rpi.img',
            size: undefined,
            readOnly: true,
          },
        },
      },
    ])
    assert.deepEqual(tester!.interfaces[0], {
      kind: 'usb',
      name: 'zero',
      busid: '1-3',
      description: 'usbtest target',
      source: { type: 'virtual', model: { name: 'gadget-zero', pattern: 1 } },
    })
    const uart = config.places[1]!.parts[0]!.interfaces
    assert.deepEqual(
      uart.map((i) => [i.name, i.kind, i.kind === 'usb' ? i.busid : i.path]),
      [
        ['serial', 'usb', '1-4'],
        ['ram', 'usb', '1-5'],
        ['tty', 'serial', '/dev/ttyUSB0'],
        ['ftdi', 'usb', '1-6'],
      ],
    )
    const ram = uart[1]!
    assert.equal(ram.kind === 'usb' && ram.source.type === 'virtual' && ram.source.model.name, 'mass-storage')
    assert.deepEqual(ram.kind === 'usb' && ram.source, {
      type: 'virtual',
      model: { name: 'mass-storage', image: undefined, size: 8 * 1024 * 1024, readOnly: false },
    })
    assert.deepEqual(uart[3]!.kind === 'usb' && uart[3]!.source, {
      type: 'usb',
      match: { vendorId: 0x0403, productId: 0x6001, serial: undefined, port: undefined },
    })
  })

  test('defaults: name from the host name, listen on all IPv4, no hub, no identity', () => {
    const config = parsePlacesToml(MINIMAL_PLACE, 'relative/places.toml', OPTIONS)
    assert.equal(config.name, 'lab-host.example')
    assert.equal(config.hub, undefined)
    assert.deepEqual(config.network, { listen: ['/ip4/0.0.0.0/tcp/0'], announce: [], identity: undefined })
    assert.equal(config.file, `${process.cwd()}/relative/places.toml`)
  })

  test('relative, absolute and ~ paths', () => {
    const text = `[network]
identity = "~/keys/e.key"
${MINIMAL_PLACE}
    [[place.part.interface]]
    name = "a"
    model = "mass-storage"
    image = "../disks/a.img"
    [[place.part.interface]]
    name = "b"
    model = "mass-storage"
    image = "/srv/b.img"
`
    const config = parsePlacesToml(text, '/lab/conf/places.toml', OPTIONS)
    assert.equal(config.network.identity, '/home/ada/keys/e.key')
    const images = config.places[0]!.parts[0]!.interfaces.flatMap((i) =>
      i.kind === 'usb' && i.source.type === 'virtual' && i.source.model.name === 'mass-storage'
        ? [i.source.model.image]
        : [],
    )
    assert.deepEqual(images, ['/lab/disks/a.img', '/srv/b.img'])
  })

  test('sanitiseName makes a host name into an exporter name', () => {
    assert.equal(sanitiseName('Lab Host_01.local'), 'lab-host_01.local')
    assert.equal(sanitiseName('--x'), 'x')
    assert.equal(sanitiseName('***'), 'exporter')
    assert.equal(sanitiseName('a'.repeat(80)).length, 63)
  })

  test('a TOML syntax error names the file, line and column', () => {
    const [issue, ...rest] = problems('name = "lab-a"\n[[place]\n')
    assert.deepEqual(rest, [])
    assert.match(issue!, /^line 2, column \d+: not valid TOML/)
  })

  test('every problem is reported at once, each with its key path and fix', () => {
    const text = `
name = "Lab A"
colour = "blue"
[hub]
address = "/ip4/192.0.2.1/tcp/4001"
[network]
listen = ["/ip4/0.0.0.0/tcp/x"]
announce = "nope"

[[place]]
name = "rpi-1"
tags = ["ok", "no spaces"]
  [[place.part]]
  name = "board"
  compatible = ["raspberrypi,4-model-b", 7]
    [[place.part.interface]]
    name = "console"
    model = "board-consol"
    [[place.part.interface]]
    name = "console"
    kind = "usb"
    model = "gadget-zero"
    pattern = 9
    image = "x.img"
    [[place.part.interface]]
    kind = "can"

[[place]]
name = "rpi-1"
  [[place.part]]
  name = "disk"
    [[place.part.interface]]
    name = "d"
    model = "mass-storage"
    [[place.part.interface]]
    name = "e"
    model = "mass-storage"
    image = "e.img"
    size = "1MiB"
    [[place.part.interface]]
    name = "f"
    model = "mass-storage"
    size = "12 parsecs"
    [[place.part.interface]]
    name = "g"
    source = "usb"
    [[place.part.interface]]
    name = "h"
    source = "usb"
    vendor-id = 70000
    model = "cdc-acm"
  [[place.part]]
  name = "disk"

[[place]]
  [[place.part]]
  name = "x"
`
    const found = problems(text)
    const expect: [string, RegExp][] = [
      ['colour', /unknown key; known keys here: name, hub, network, place/],
      ['name', /"Lab A" is not allowed; use 1-63 characters a-z/],
      ['hub.address', /does not end in \/p2p\/<hub peer id>; write the hub multiaddr/],
      ['network.listen[0]', /is not a multiaddr/],
      ['network.announce', /must be an array of strings/],
      ['place[0].tags[1]', /"no spaces" is not allowed/],
      ['place[0].part[0].compatible[1]', /must be a string, not number 7/],
      ['place[0].part[0].interface[0].model', /"board-consol" is not one of "cdc-acm", "board-console"/],
      ['place[0].part[0].interface[1].image', /only applies with model = "mass-storage"; remove it/],
      ['place[0].part[0].interface[1].pattern', /must be an integer from 0 to 2/],
      [
        'place[0].part[0].interface[1].name',
        /interface name "console" is already used at place\[0\]\.part\[0\]\.interface\[0\]\.name/,
      ],
      ['place[0].part[0].interface[2].name', /is missing; add name = /],
      ['place[0].part[0].interface[2].kind', /"can" is not one of "usb", "serial"/],
      ['place[1].name', /place name "rpi-1" is already used at place\[0\]\.name/],
      [
        'place[1].part[0].interface[0]',
        /mass-storage needs image = "disk.img" \(relative to this file\) or size/,
      ],
      ['place[1].part[0].interface[1].size', /either image .* or size .*, not both/],
      ['place[1].part[0].interface[2].size', /"12 parsecs" is not a disk size; write e.g. "64MiB"/],
      ['place[1].part[0].interface[3]', /source = "usb" needs a match: vendor-id/],
      ['place[1].part[0].interface[4].model', /only applies with source = "virtual"/],
      ['place[1].part[0].interface[4].vendor-id', /must be an integer from 0 to 65535/],
      ['place[1].part[1].interface', /part has no interfaces/],
      ['place[1].part[1].name', /part name "disk" is already used at place\[1\]\.part\[0\]\.name/],
      ['place[2].name', /is missing/],
      ['place[2].part[0].interface', /part has no interfaces/],
    ]
    for (const [path, pattern] of expect) {
      const hit = found.find((f) => f.startsWith(`${path}: `) && pattern.test(f))
      assert.ok(hit, `no problem at ${path} matching ${pattern}; got:\n${found.join('\n')}`)
    }
    assert.equal(found.length, expect.length, `unexpected extra problems:\n${found.join('\n')}`)
  })

  test('a file without places, and a place without parts, say what to add', () => {
    assert.deepEqual(problems('name = "x"'), [
      'place: no places; add at least one [[place]] with a [[place.part]] and its [[place.part.interface]]',
    ])
    const found = problems('[[place]]\nname = "p"\n')
    assert.equal(found.length, 1)
    assert.match(found[0]!, /^place\[0\]\.part: place has no parts; add a \[\[place\.part\]\]/)
  })

  test('a single problem reads as one line: file, key path, fix', () => {
    try {
      parsePlacesToml(MINIMAL_PLACE.replace('"cdc-acm"', '"nope"'), FILE, OPTIONS)
      assert.fail('expected ERR_CONFIG')
    } catch (err) {
      assert.equal(
        (err as Error).message,
        `${FILE}: place[0].part[0].interface[0].model: string "nope" is not one of "cdc-acm", "board-console", "gadget-zero", "mass-storage"`,
      )
    }
  })
})

describe('examples/places.toml', () => {
  test('parses and builds its devices', async () => {
    // dist/test/config.test.js → package root
    const file = fileURLToPath(new URL('../../examples/places.toml', import.meta.url))
    const config = parsePlacesToml(await readFile(file, 'utf8'), file)
    const devices = buildDevices(config)
    assert.deepEqual(
      devices.map((d) => [d.place, d.part, d.interface, d.busid]),
      [
        ['rpi-1', 'board', 'console', '1-1'],
        ['rpi-1', 'board', 'sd', '1-2'],
        ['usbtest', 'dut', 'zero', '1-3'],
      ],
    )
    await disposeDevices(devices)
  })
})
