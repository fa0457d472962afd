/**
 * Checks of registrations and queries against the directory's bounds. Pure: each check takes a
 * `fail(field, why)` that builds the error, so the wire codecs report NetError ERR_BAD_FIELD and
 * the registry reports DirectoryError, from one set of rules. Checks return fresh, frozen copies.
 */
import { multiaddr } from '@multiformats/multiaddr'
import {
  MAX_ADDRESS_LENGTH,
  MAX_ADDRESSES,
  MAX_COMPATIBLE,
  MAX_DESCRIPTION_LENGTH,
  MAX_INTERFACES_PER_PART,
  MAX_NAME_LENGTH,
  MAX_PARTS_PER_PLACE,
  MAX_PLACES,
  MAX_QUERY_TEXT_LENGTH,
  MAX_TAGS,
} from './constants.js'
import type {
  DirectoryQuery,
  ExporterRegistration,
  InterfaceInfo,
  InterfaceKind,
  PartInfo,
  PlaceInfo,
} from './types.js'

export type Fail = (field: string, why: string) => Error

/** Exporter names: lower case, as they also name things on the command line. */
export const EXPORTER_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/
/** Place, part and interface names. */
export const ITEM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/
/** Tags and compatible strings: printable ASCII without spaces (e.g. "st,nucleo-f401re"). */
export const LABEL = /^[\x21-\x7e]{1,63}$/
/** A USB/IP busid: "1-1", "3-1.4.2". */
export const BUSID = /^[0-9]{1,3}-[0-9]{1,3}(\.[0-9]{1,3}){0,6}$/

const KINDS: readonly InterfaceKind[] = ['usb', 'serial']

export function checkRegistration(value: unknown, fail: Fail): ExporterRegistration {
  const o = record(value, 'registration', fail)
  const name = text(o.name, 'name', EXPORTER_NAME, 'must match [a-z0-9][a-z0-9._-]{0,62}', fail)
  const places = list(o.places, 'places', MAX_PLACES, fail).map((p, i) => checkPlace(p, `places[${i}]`, fail))
  unique(places, 'places', fail)
  const addresses = list(o.addresses, 'addresses', MAX_ADDRESSES, fail).map((a, i) =>
    checkAddress(a, `addresses[${i}]`, fail),
  )
  return Object.freeze({ name, places: Object.freeze(places), addresses: Object.freeze(addresses) })
}

function checkPlace(value: unknown, at: string, fail: Fail): PlaceInfo {
  const o = record(value, at, fail)
  const name = itemName(o.name, `${at}.name`, fail)
  const tags = labels(o.tags, `${at}.tags`, MAX_TAGS, fail)
  const parts = list(o.parts, `${at}.parts`, MAX_PARTS_PER_PLACE, fail).map((p, i) =>
    checkPart(p, `${at}.parts[${i}]`, fail),
  )
  unique(parts, `${at}.parts`, fail)
  return Object.freeze({ name, tags, parts: Object.freeze(parts) })
}

function checkPart(value: unknown, at: string, fail: Fail): PartInfo {
  const o = record(value, at, fail)
  const name = itemName(o.name, `${at}.name`, fail)
  const compatible = labels(o.compatible, `${at}.compatible`, MAX_COMPATIBLE, fail)
  const interfaces = list(o.interfaces, `${at}.interfaces`, MAX_INTERFACES_PER_PART, fail).map((x, i) =>
    checkInterface(x, `${at}.interfaces[${i}]`, fail),
  )
  unique(interfaces, `${at}.interfaces`, fail)
  return Object.freeze({ name, compatible, interfaces: Object.freeze(interfaces) })
}

function checkInterface(value: unknown, at: string, fail: Fail): InterfaceInfo {
  const o = record(value, at, fail)
  const kind = o.kind
  if (typeof kind !== 'string' || !(KINDS as readonly string[]).includes(kind)) {
    throw fail(`${at}.kind`, `must be one of ${KINDS.join(', ')} (got ${JSON.stringify(kind)})`)
  }
  const info: { -readonly [K in keyof InterfaceInfo]: InterfaceInfo[K] } = {
    kind: kind as InterfaceKind,
    name: itemName(o.name, `${at}.name`, fail),
  }
  if (o.busid !== undefined) {
    if (kind !== 'usb') throw fail(`${at}.busid`, 'is only for usb interfaces')
    info.busid = text(o.busid, `${at}.busid`, BUSID, 'must look like "1-1"', fail)
  }
  if (o.vendorId !== undefined) info.vendorId = usbId(o.vendorId, `${at}.vendorId`, kind, fail)
  if (o.productId !== undefined) info.productId = usbId(o.productId, `${at}.productId`, kind, fail)
  if (o.description !== undefined) {
    const d = o.description
    if (typeof d !== 'string' || d.length > MAX_DESCRIPTION_LENGTH || hasControl(d)) {
      throw fail(
        `${at}.description`,
        `must be text of at most ${MAX_DESCRIPTION_LENGTH} chars without control characters`,
      )
    }
    info.description = d
  }
  return Object.freeze(info)
}

function checkAddress(value: unknown, at: string, fail: Fail): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ADDRESS_LENGTH) {
    throw fail(at, `must be a multiaddr string of at most ${MAX_ADDRESS_LENGTH} chars`)
  }
  try {
    multiaddr(value)
  } catch (err) {
    throw fail(at, `"${value}" is not a multiaddr (${(err as Error).message})`)
  }
  return value
}

export function checkQuery(value: unknown, fail: Fail): DirectoryQuery {
  const o = record(value, 'query', fail)
  const q: { -readonly [K in keyof DirectoryQuery]: DirectoryQuery[K] } = {}
  if (o.exporter !== undefined) {
    q.exporter = text(o.exporter, 'exporter', EXPORTER_NAME, 'must be an exporter name', fail)
  }
  if (o.place !== undefined) q.place = itemName(o.place, 'place', fail)
  if (o.tags !== undefined) q.tags = labels(o.tags, 'tags', MAX_TAGS, fail)
  if (o.compatible !== undefined) q.compatible = labels(o.compatible, 'compatible', MAX_COMPATIBLE, fail)
  if (o.text !== undefined) {
    const t = o.text
    if (typeof t !== 'string' || t.length > MAX_QUERY_TEXT_LENGTH || hasControl(t)) {
      throw fail('text', `must be text of at most ${MAX_QUERY_TEXT_LENGTH} chars without control characters`)
    }
    q.text = t
  }
  return Object.freeze(q)
}

function record(value: unknown, at: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(at, 'must be an object')
  return value as Record<string, unknown>
}

function list(value: unknown, at: string, max: number, fail: Fail): unknown[] {
  if (!Array.isArray(value)) throw fail(at, 'must be a list')
  if (value.length > max) throw fail(at, `has ${value.length} items, at most ${max}`)
  return value
}

function text(value: unknown, at: string, pattern: RegExp, why: string, fail: Fail): string {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw fail(at, `${why} (got ${JSON.stringify(value)?.slice(0, 80)})`)
  }
  return value
}

function itemName(value: unknown, at: string, fail: Fail): string {
  return text(value, at, ITEM_NAME, `must be a name of 1-${MAX_NAME_LENGTH} chars [A-Za-z0-9._-]`, fail)
}

function labels(value: unknown, at: string, max: number, fail: Fail): readonly string[] {
  const items = list(value, at, max, fail).map((v, i) =>
    text(v, `${at}[${i}]`, LABEL, `must be 1-${MAX_NAME_LENGTH} printable chars without spaces`, fail),
  )
  return Object.freeze(items)
}

function unique(items: readonly { name: string }[], at: string, fail: Fail): void {
  const seen = new Set<string>()
  for (const { name } of items) {
    if (seen.has(name)) throw fail(at, `names "${name}" twice; names must be unique`)
    seen.add(name)
  }
}

function usbId(value: unknown, at: string, kind: string, fail: Fail): number {
  if (kind !== 'usb') throw fail(at, 'is only for usb interfaces')
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw fail(at, `must be an integer 0-0xffff (got ${JSON.stringify(value)})`)
  }
  return value
}

function hasControl(s: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
  return /[\x00-\x1f\x7f]/.test(s)
}
