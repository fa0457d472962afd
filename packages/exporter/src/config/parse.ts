/**
 * places.toml → ExporterConfig. Pure apart from reading nothing: the caller passes the text and
 * the file name; every problem is collected and reported at once, each with its key path.
 *
 * ```toml
 * name = "lab-a"                       # default: this host's name, sanitised
 * [hub]
 * address = "/ip4/192.0.2.1/tcp/4001/p2p/12D3Koo..."
 * [network]
 * listen = ["/ip4/0.0.0.0/tcp/0"]
 * announce = []
 * identity = "~/.local/state/tether/exporter.key"
 * [[place]]
 * name = "rpi-1"
 * tags = ["rpi4"]
 *   [[place.part]]
 *   name = "board"
 *   compatible = ["raspberrypi,4-model-b"]
 *     [[place.part.interface]]
 *     name = "console"
 *     kind = "usb"                     # usb (default) | serial (not supported yet)
 *     source = "virtual"               # virtual (default) | usb (not supported yet)
 *     model = "board-console"          # cdc-acm | board-console | gadget-zero | mass-storage
 * ```
 */
import { homedir, hostname } from 'node:os'
import { dirname, isAbsolute, resolve } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import {
  formatIssues,
  IssueList,
  parseTomlTable,
  type StringArrayRule,
  TableReader,
  type TomlTable,
} from '@tether/config'
import {
  COMPATIBLE_PATTERN,
  DEFAULT_LISTEN,
  EXPORTER_NAME_PATTERN,
  MAX_COMPATIBLE,
  MAX_CONFIGURED_ADDRESSES,
  MAX_DESCRIPTION,
  MAX_INTERFACES_PER_PART,
  MAX_MEMORY_DISK_BYTES,
  MAX_PARTS_PER_PLACE,
  MAX_PLACES,
  MAX_TAGS,
  MAX_USB_INTERFACES,
  MIN_MEMORY_DISK_BYTES,
  NAME_PATTERN,
} from '../constants.js'
import { type ConfigIssue, ExporterError } from '../errors.js'
import type {
  ExporterConfig,
  HubConfig,
  InterfaceConfig,
  NetworkConfig,
  PartConfig,
  PlaceConfig,
  UsbSource,
  VirtualModel,
} from './schema.js'
import { VIRTUAL_MODELS } from './schema.js'

export interface ParseOptions {
  /** Source of the default exporter name (default os.hostname()). */
  readonly hostname?: string
  /** For "~/" in paths (default os.homedir()). */
  readonly homedir?: string
}

const EXPORTER_NAME_HINT = 'use 1-63 characters a-z 0-9 . _ - starting with a letter or digit, e.g. "lab-a"'
const NAME_HINT = 'use 1-63 characters A-Z a-z 0-9 . _ - starting with a letter or digit, e.g. "rpi-1"'
const COMPATIBLE_HINT = 'use letters, digits and , . _ + / -, e.g. "raspberrypi,4-model-b"'
const MULTIADDR = /^\/[A-Za-z0-9]/
const MULTIADDR_HINT = 'write a multiaddr, e.g. "/ip4/0.0.0.0/tcp/4002"'
const HUB_HINT = 'write the hub multiaddr with its peer id, e.g. "/ip4/192.0.2.1/tcp/4001/p2p/12D3KooW..."'

const TOP_KEYS = ['name', 'hub', 'network', 'place']
const HUB_KEYS = ['address']
const NETWORK_KEYS = ['listen', 'announce', 'identity']
const PLACE_KEYS = ['name', 'tags', 'part']
const PART_KEYS = ['name', 'compatible', 'interface']
const MODEL_KEYS: Readonly<Record<string, readonly string[]>> = {
  'board-console': ['hostname', 'prompt', 'boot-on'],
  'gadget-zero': ['pattern'],
  'mass-storage': ['image', 'size', 'read-only'],
}
const HOST_USB_KEYS = ['vendor-id', 'product-id', 'serial', 'port']
const INTERFACE_KEYS = [
  'name',
  'kind',
  'source',
  'description',
  'model',
  ...Object.values(MODEL_KEYS).flat(),
  ...HOST_USB_KEYS,
  'path',
]

/**
 * Parse and validate places.toml. Throws ExporterError ERR_CONFIG listing every problem (its
 * `issues`, and a message with one line per problem: file, key path, what to do).
 */
export function parsePlacesToml(text: string, fileName: string, options: ParseOptions = {}): ExporterConfig {
  const file = resolve(fileName)
  const issues = new IssueList()
  const document = parseTomlTable(text, issues)
  if (!document) throw configError(file, issues.issues)
  const context: Context = { dir: dirname(file), home: options.homedir ?? homedir(), issues, usbCount: 0 }
  const top = new TableReader(document, '', issues, TOP_KEYS)
  const name =
    top.string('name', { pattern: EXPORTER_NAME_PATTERN, hint: EXPORTER_NAME_HINT }) ??
    defaultName(options, top)
  const hub = readHub(top)
  const network = readNetwork(top, context)
  const places = readPlaces(top, context)
  if (issues.issues.length > 0) throw configError(file, issues.issues)
  return { file, name, hub, network, places }
}

/** A host name made into an exporter name: lowercased, other characters → "-". */
export function sanitiseName(text: string): string {
  const name = text
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 63)
  return name || 'exporter'
}

interface Context {
  readonly dir: string
  readonly home: string
  readonly issues: IssueList
  usbCount: number
}

function configError(file: string, issues: readonly ConfigIssue[]): ExporterError {
  return new ExporterError('ERR_CONFIG', formatIssues(file, issues), { issues, details: { file } })
}

/** Distinct strings each matching `pattern`. */
function matching(max: number, pattern: RegExp, hint: string, example: string): StringArrayRule {
  return {
    max,
    example,
    check: (item) => (pattern.test(item) ? undefined : `${JSON.stringify(item)} is not allowed; ${hint}`),
  }
}

function defaultName(options: ParseOptions, top: TableReader): string {
  // An invalid explicit name was reported already; the default only fills a missing one.
  if (top.has('name')) return ''
  return sanitiseName(options.hostname ?? hostname())
}

function readHub(top: TableReader): HubConfig | undefined {
  const table = top.subTable('hub')
  if (!table) return undefined
  const hub = new TableReader(table, 'hub', top.issues, HUB_KEYS)
  const address = hub.string('address', { required: true, hint: HUB_HINT, maxLength: 1024 })
  if (address === undefined) return undefined
  const why = hubAddressProblem(address)
  if (why !== undefined) {
    top.issues.add('hub.address', `${JSON.stringify(address)} ${why}; ${HUB_HINT}`)
    return undefined
  }
  return { address }
}

function readNetwork(top: TableReader, context: Context): NetworkConfig {
  const table = top.subTable('network') ?? {}
  const network = new TableReader(table, 'network', top.issues, NETWORK_KEYS)
  const rule = (key: string) =>
    matching(MAX_CONFIGURED_ADDRESSES, MULTIADDR, MULTIADDR_HINT, `${key} = ["/ip4/0.0.0.0/tcp/4002"]`)
  const listen = checkMultiaddrs(network, 'listen', network.stringArray('listen', rule('listen'))) ?? [
    ...DEFAULT_LISTEN,
  ]
  const announce =
    checkMultiaddrs(network, 'announce', network.stringArray('announce', rule('announce'))) ?? []
  if (listen.length + announce.length > MAX_CONFIGURED_ADDRESSES) {
    top.issues.add(
      'network',
      `listen and announce name ${listen.length + announce.length} addresses; at most ${MAX_CONFIGURED_ADDRESSES}`,
    )
  }
  const identity = network.string('identity', { maxLength: 4096 })
  return { listen, announce, identity: identity === undefined ? undefined : resolvePath(identity, context) }
}

function readPlaces(top: TableReader, context: Context): PlaceConfig[] {
  const entries = top.tables('place', MAX_PLACES)
  if (entries.length === 0 && isEmptyOrMissing(top, 'place')) {
    top.issues.add(
      'place',
      'no places; add at least one [[place]] with a [[place.part]] and its [[place.part.interface]]',
    )
  }
  const places: PlaceConfig[] = []
  const names = new Map<string, string>()
  for (const { table, path } of entries) {
    const place = new TableReader(table, path, top.issues, PLACE_KEYS)
    const name = place.string('name', { required: true, pattern: NAME_PATTERN, hint: NAME_HINT })
    unique(names, name, place.at('name'), 'place', 'in this file', top.issues)
    const tags =
      place.stringArray('tags', matching(MAX_TAGS, NAME_PATTERN, NAME_HINT, 'tags = ["rpi4"]')) ?? []
    const partEntries = place.tables('part', MAX_PARTS_PER_PLACE)
    if (partEntries.length === 0 && isEmptyOrMissing(place, 'part')) {
      top.issues.add(place.at('part'), `place has no parts; add a [[place.part]] after this [[place]]`)
    }
    const partNames = new Map<string, string>()
    const parts: PartConfig[] = []
    for (const entry of partEntries) {
      const part = readPart(entry.table, entry.path, context)
      unique(partNames, part.name || undefined, `${entry.path}.name`, 'part', 'in this place', top.issues)
      parts.push(part)
    }
    places.push({ name: name ?? '', tags, parts })
  }
  return places
}

function readPart(table: TomlTable, path: string, context: Context): PartConfig {
  const part = new TableReader(table, path, context.issues, PART_KEYS)
  const name = part.string('name', { required: true, pattern: NAME_PATTERN, hint: NAME_HINT })
  const compatible =
    part.stringArray(
      'compatible',
      matching(MAX_COMPATIBLE, COMPATIBLE_PATTERN, COMPATIBLE_HINT, 'compatible = ["raspberrypi,4-model-b"]'),
    ) ?? []
  const entries = part.tables('interface', MAX_INTERFACES_PER_PART)
  if (entries.length === 0 && isEmptyOrMissing(part, 'interface')) {
    context.issues.add(
      part.at('interface'),
      'part has no interfaces; add a [[place.part.interface]] (e.g. kind = "usb", model = "cdc-acm")',
    )
  }
  const names = new Map<string, string>()
  const interfaces: InterfaceConfig[] = []
  for (const entry of entries) {
    const iface = readInterface(entry.table, entry.path, context)
    // Names are checked even when the rest of the interface is broken.
    const name = entry.table.name
    if (typeof name === 'string' && NAME_PATTERN.test(name)) {
      unique(names, name, `${entry.path}.name`, 'interface', 'in this part', context.issues)
    }
    if (iface) interfaces.push(iface)
  }
  return { name: name ?? '', compatible, interfaces }
}

function readInterface(table: TomlTable, path: string, context: Context): InterfaceConfig | undefined {
  const iface = new TableReader(table, path, context.issues, INTERFACE_KEYS)
  const name = iface.string('name', { required: true, pattern: NAME_PATTERN, hint: NAME_HINT }) ?? ''
  const kind = iface.choice('kind', ['usb', 'serial'] as const, 'usb')
  const description = iface.string('description', { maxLength: MAX_DESCRIPTION })
  if (kind === 'serial') {
    refuseKeys(
      iface,
      ['source', 'model', ...Object.values(MODEL_KEYS).flat(), ...HOST_USB_KEYS],
      'kind = "usb"',
    )
    const tty = iface.string('path', { maxLength: 4096, hint: 'e.g. path = "/dev/ttyUSB0"' })
    return {
      kind: 'serial',
      name,
      description,
      path: tty === undefined ? undefined : resolvePath(tty, context),
    }
  }
  if (kind === undefined) return undefined
  refuseKeys(iface, ['path'], 'kind = "serial"')
  const sourceType = iface.choice('source', ['virtual', 'usb'] as const, 'virtual')
  let source: UsbSource | undefined
  if (sourceType === 'virtual') {
    refuseKeys(iface, HOST_USB_KEYS, 'source = "usb"')
    const model = readVirtualModel(iface, context)
    if (model) source = { type: 'virtual', model }
  } else if (sourceType === 'usb') {
    refuseKeys(iface, ['model', ...Object.values(MODEL_KEYS).flat()], 'source = "virtual"')
    source = readHostUsb(iface)
  }
  context.usbCount++
  if (context.usbCount === MAX_USB_INTERFACES + 1) {
    context.issues.add(
      path,
      `more than ${MAX_USB_INTERFACES} usb interfaces in one exporter; split the places over several exporters`,
    )
  }
  if (!source) return undefined
  return { kind: 'usb', name, busid: `1-${context.usbCount}`, description, source }
}

function readVirtualModel(iface: TableReader, context: Context): VirtualModel | undefined {
  const model = iface.choice('model', VIRTUAL_MODELS)
  for (const [owner, keys] of Object.entries(MODEL_KEYS)) {
    if (owner !== model) refuseKeys(iface, keys, `model = "${owner}"`)
  }
  switch (model) {
    case 'cdc-acm':
      return { name: 'cdc-acm' }
    case 'board-console':
      return {
        name: 'board-console',
        hostname: iface.string('hostname', {
          pattern: /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/,
          hint: 'a host name',
        }),
        prompt: iface.string('prompt', { maxLength: 64 }),
        bootOn: iface.choice('boot-on', ['dtr', 'attach'] as const, 'dtr'),
      }
    case 'gadget-zero': {
      const pattern = iface.integer('pattern', { min: 0, max: 2, hint: '0 zeros, 1 mod 63, 2 none' })
      return { name: 'gadget-zero', pattern: (pattern ?? 0) as 0 | 1 | 2 }
    }
    case 'mass-storage': {
      const image = iface.string('image', { maxLength: 4096 })
      const size = readSize(iface)
      const readOnly = iface.boolean('read-only') ?? false
      if (image !== undefined && size !== undefined) {
        context.issues.add(
          iface.at('size'),
          'give either image (a disk image file) or size (an in-memory disk), not both',
        )
      } else if (image === undefined && size === undefined && !iface.has('image') && !iface.has('size')) {
        context.issues.add(
          iface.path,
          'mass-storage needs image = "disk.img" (relative to this file) or size = "64MiB" (in memory)',
        )
      }
      return {
        name: 'mass-storage',
        image: image === undefined ? undefined : resolvePath(image, context),
        size,
        readOnly,
      }
    }
    default:
      return undefined
  }
}

const SIZE = /^\s*([0-9]+)\s*(b|k|kib|m|mib|g|gib)?\s*$/i
const UNITS: Readonly<Record<string, number>> = {
  b: 1,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
}

function readSize(iface: TableReader): number | undefined {
  const value = iface.table.size
  if (value === undefined) return undefined
  let bytes: number | undefined
  if (typeof value === 'number' && Number.isInteger(value)) bytes = value
  else if (typeof value === 'string') {
    const match = SIZE.exec(value)
    if (match) bytes = Number(match[1]) * (UNITS[(match[2] ?? 'b').toLowerCase()] ?? 1)
  }
  const limits = `from ${MIN_MEMORY_DISK_BYTES} bytes to 1GiB, a multiple of 512`
  if (
    bytes === undefined ||
    bytes < MIN_MEMORY_DISK_BYTES ||
    bytes > MAX_MEMORY_DISK_BYTES ||
    bytes % 512 !== 0
  ) {
    iface.issues.add(
      iface.at('size'),
      `${JSON.stringify(value)} is not a disk size; write e.g. "64MiB" (${limits})`,
    )
    return undefined
  }
  return bytes
}

function readHostUsb(iface: TableReader): UsbSource | undefined {
  const hex = { min: 0, max: 0xffff, hint: 'write it in hex, e.g. 0x0403' }
  const match = {
    vendorId: iface.integer('vendor-id', hex),
    productId: iface.integer('product-id', hex),
    serial: iface.string('serial', { maxLength: 255 }),
    port: iface.string('port', {
      pattern: /^[0-9]{1,3}-[0-9]{1,3}(\.[0-9]{1,3}){0,6}$/,
      hint: 'e.g. port = "1-1.4"',
    }),
  }
  if (!HOST_USB_KEYS.some((k) => iface.has(k))) {
    iface.issues.add(iface.path, 'source = "usb" needs a match: vendor-id / product-id, serial or port')
  }
  return { type: 'usb', match }
}

function refuseKeys(iface: TableReader, keys: readonly string[], belongsTo: string): void {
  for (const key of keys) {
    if (iface.has(key)) iface.issues.add(iface.at(key), `only applies with ${belongsTo}; remove it`)
  }
}

function unique(
  seen: Map<string, string>,
  name: string | undefined,
  path: string,
  what: string,
  scope: string,
  issues: IssueList,
): void {
  if (name === undefined) return
  const first = seen.get(name)
  if (first !== undefined) {
    issues.add(
      path,
      `${what} name ${JSON.stringify(name)} is already used at ${first}; names must be unique ${scope}`,
    )
  } else {
    seen.set(name, path)
  }
}

/** "~/x" → home; relative → against the TOML file's directory. */
function resolvePath(path: string, context: Context): string {
  if (path === '~' || path.startsWith('~/')) return resolve(context.home, path.slice(2))
  return isAbsolute(path) ? path : resolve(context.dir, path)
}

function isEmptyOrMissing(reader: TableReader, key: string): boolean {
  const value = reader.table[key]
  return value === undefined || (Array.isArray(value) && value.length === 0)
}

/** Why `text` cannot be a hub address (a multiaddr ending in /p2p/<peer id>), or undefined. */
export function hubAddressProblem(text: string): string | undefined {
  let components: { name: string; value?: string }[]
  try {
    components = multiaddr(text).getComponents()
  } catch (err) {
    return `is not a multiaddr (${(err as Error).message})`
  }
  if (components.at(-1)?.name !== 'p2p') return 'does not end in /p2p/<hub peer id>'
  return undefined
}

function checkMultiaddrs(
  reader: TableReader,
  key: string,
  values: string[] | undefined,
): string[] | undefined {
  if (values === undefined) return undefined
  values.forEach((text, index) => {
    try {
      multiaddr(text)
    } catch (err) {
      reader.issues.add(
        `${reader.at(key)}[${index}]`,
        `${JSON.stringify(text)} is not a multiaddr (${(err as Error).message}); ${MULTIADDR_HINT}`,
      )
    }
  })
  return values
}
