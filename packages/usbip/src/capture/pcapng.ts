/**
 * A minimal pcapng encoder: section header, one interface description, enhanced packet blocks.
 * Pure (bytes out); the caller writes them where it wants.
 */
const BLOCK_SHB = 0x0a0d0d0a
const BLOCK_IDB = 0x00000001
const BLOCK_EPB = 0x00000006
const BYTE_ORDER_MAGIC = 0x1a2b3c4d
const OPTION_IF_TSRESOL = 9
const OPTION_IF_NAME = 2

function pad4(n: number): number {
  return (n + 3) & ~3
}

function block(type: number, body: Uint8Array): Uint8Array {
  const total = 12 + pad4(body.length)
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  view.setUint32(0, type, true)
  view.setUint32(4, total, true)
  out.set(body, 8)
  view.setUint32(total - 4, total, true)
  return out
}

function option(code: number, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + pad4(value.length))
  const view = new DataView(out.buffer)
  view.setUint16(0, code, true)
  view.setUint16(2, value.length, true)
  out.set(value, 4)
  return out
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

/** Section header + one interface (microsecond timestamps). Write once at the start of a file. */
export function pcapngHeader(linkType: number, interfaceName: string): Uint8Array {
  const shb = new Uint8Array(16)
  const shbView = new DataView(shb.buffer)
  shbView.setUint32(0, BYTE_ORDER_MAGIC, true)
  shbView.setUint16(4, 1, true)
  shbView.setUint16(6, 0, true)
  shbView.setBigInt64(8, -1n, true) // section length unknown
  const idbFixed = new Uint8Array(8)
  const idbView = new DataView(idbFixed.buffer)
  idbView.setUint16(0, linkType, true)
  idbView.setUint32(4, 0, true) // no snap length limit
  const idb = concat([
    idbFixed,
    option(OPTION_IF_NAME, new TextEncoder().encode(interfaceName)),
    option(OPTION_IF_TSRESOL, Uint8Array.of(6)),
    new Uint8Array(4), // opt_endofopt
  ])
  return concat([block(BLOCK_SHB, shb), block(BLOCK_IDB, idb)])
}

/** One captured packet on interface 0; `timeMicros` since the epoch. */
export function pcapngPacket(packet: Uint8Array, timeMicros: bigint): Uint8Array {
  const fixed = new Uint8Array(20)
  const view = new DataView(fixed.buffer)
  view.setUint32(0, 0, true)
  view.setUint32(4, Number(timeMicros >> 32n), true)
  view.setUint32(8, Number(timeMicros & 0xffffffffn), true)
  view.setUint32(12, packet.length, true)
  view.setUint32(16, packet.length, true)
  return block(BLOCK_EPB, concat([fixed, packet]))
}
