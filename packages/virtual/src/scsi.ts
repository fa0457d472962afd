/**
 * A SCSI direct-access block device (SBC/SPC subset), without I/O: a CDB goes in, a plan comes
 * out (answer these bytes, read or write these blocks, flush, or fail with this sense). The
 * transport does the data phase and the medium I/O, and reports I/O failures back via `fail`.
 * Sense data lives here so REQUEST SENSE can return the real reason for the last failure.
 */

export const ScsiOp = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  READ_6: 0x08,
  WRITE_6: 0x0a,
  INQUIRY: 0x12,
  MODE_SENSE_6: 0x1a,
  START_STOP_UNIT: 0x1b,
  PREVENT_ALLOW_MEDIUM_REMOVAL: 0x1e,
  READ_FORMAT_CAPACITIES: 0x23,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  VERIFY_10: 0x2f,
  SYNCHRONIZE_CACHE_10: 0x35,
  MODE_SENSE_10: 0x5a,
  READ_16: 0x88,
  WRITE_16: 0x8a,
  VERIFY_16: 0x8f,
  SYNCHRONIZE_CACHE_16: 0x91,
  SERVICE_ACTION_IN_16: 0x9e,
  READ_12: 0xa8,
  WRITE_12: 0xaa,
} as const

const SERVICE_ACTION_READ_CAPACITY_16 = 0x10

export const SenseKey = {
  NO_SENSE: 0x0,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
} as const

export interface Sense {
  readonly key: number
  /** Additional sense code and qualifier. */
  readonly asc: number
  readonly ascq: number
}

export const Senses = {
  NONE: { key: SenseKey.NO_SENSE, asc: 0, ascq: 0 },
  INVALID_COMMAND_OPERATION_CODE: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x20, ascq: 0 },
  LBA_OUT_OF_RANGE: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x21, ascq: 0 },
  INVALID_FIELD_IN_CDB: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x24, ascq: 0 },
  LOGICAL_UNIT_NOT_SUPPORTED: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x25, ascq: 0 },
  SAVING_PARAMETERS_NOT_SUPPORTED: { key: SenseKey.ILLEGAL_REQUEST, asc: 0x39, ascq: 0 },
  WRITE_PROTECTED: { key: SenseKey.DATA_PROTECT, asc: 0x27, ascq: 0 },
  UNRECOVERED_READ_ERROR: { key: SenseKey.MEDIUM_ERROR, asc: 0x11, ascq: 0 },
  WRITE_ERROR: { key: SenseKey.MEDIUM_ERROR, asc: 0x0c, ascq: 0 },
} as const satisfies Record<string, Sense>

export type ScsiPlan =
  /** GOOD status, no data phase. */
  | { readonly kind: 'no-data' }
  /** Send these bytes (already cut to the allocation length), then GOOD. */
  | { readonly kind: 'data-in'; readonly data: Uint8Array }
  /** Send `blocks` blocks from the medium starting at `lba`. */
  | { readonly kind: 'read'; readonly lba: number; readonly blocks: number }
  /** Receive `blocks` blocks and store them at `lba`. */
  | { readonly kind: 'write'; readonly lba: number; readonly blocks: number }
  /** Flush the medium, then GOOD. */
  | { readonly kind: 'sync' }
  /** CHECK CONDITION with this sense, no data phase. */
  | { readonly kind: 'check-condition'; readonly sense: Sense }

export interface ScsiDiskInfo {
  readonly blockCount: number
  readonly blockSize: number
  readonly readOnly: boolean
  /** Report the medium as removable (RMB), like a USB stick. Default true. */
  readonly removable?: boolean
  /** INQUIRY strings; padded or cut to 8, 16 and 4 characters. */
  readonly vendor?: string
  readonly product?: string
  readonly revision?: string
  readonly serialNumber?: string
}

/** Bytes a plan moves in its data phase: what the device intends to transfer (Di / Do). */
export function planDataLength(plan: ScsiPlan, blockSize: number): number {
  switch (plan.kind) {
    case 'data-in':
      return plan.data.length
    case 'read':
    case 'write':
      return plan.blocks * blockSize
    default:
      return 0
  }
}

export class ScsiDisk {
  readonly info: Required<ScsiDiskInfo>
  #sense: Sense = Senses.NONE

  constructor(info: ScsiDiskInfo) {
    this.info = {
      removable: true,
      vendor: 'Tether',
      product: 'Virtual Disk',
      revision: '1.00',
      serialNumber: 'TETHER000001',
      ...info,
    }
  }

  /** The sense data REQUEST SENSE would return now. */
  get sense(): Sense {
    return this.#sense
  }

  /** The transport failed to carry out a plan (I/O error): report it through sense data. */
  fail(sense: Sense): void {
    this.#sense = sense
  }

  plan(cdbBytes: Uint8Array): ScsiPlan {
    // Work on a 16-byte copy so short CDBs read as zeroes instead of out of bounds.
    const cdb = new Uint8Array(16)
    cdb.set(cdbBytes.subarray(0, 16))
    const opcode = cdb[0]!
    if (opcode === ScsiOp.REQUEST_SENSE) {
      const sense = this.#sense
      this.#sense = Senses.NONE
      return dataIn(fixedSense(sense), cdb[4]!)
    }
    // Sense data describes the previous command only.
    this.#sense = Senses.NONE
    const plan = this.#decide(cdb)
    if (plan.kind === 'check-condition') this.#sense = plan.sense
    return plan
  }

  #decide(cdb: Uint8Array): ScsiPlan {
    const view = new DataView(cdb.buffer)
    switch (cdb[0]) {
      case ScsiOp.TEST_UNIT_READY:
      case ScsiOp.START_STOP_UNIT:
      case ScsiOp.PREVENT_ALLOW_MEDIUM_REMOVAL:
        return NO_DATA
      case ScsiOp.INQUIRY:
        return this.#inquiry(cdb, view.getUint16(3))
      case ScsiOp.READ_CAPACITY_10:
        return dataIn(this.#capacity10(), 8)
      case ScsiOp.SERVICE_ACTION_IN_16:
        if ((cdb[1]! & 0x1f) !== SERVICE_ACTION_READ_CAPACITY_16)
          return checkCondition(Senses.INVALID_FIELD_IN_CDB)
        return dataIn(this.#capacity16(), view.getUint32(10))
      case ScsiOp.READ_FORMAT_CAPACITIES:
        return dataIn(this.#formatCapacities(), view.getUint16(7))
      case ScsiOp.MODE_SENSE_6:
        return this.#modeSense(cdb, cdb[4]!, false)
      case ScsiOp.MODE_SENSE_10:
        return this.#modeSense(cdb, view.getUint16(7), true)
      case ScsiOp.READ_6:
      case ScsiOp.WRITE_6: {
        // 21-bit LBA; a transfer length of 0 means 256 blocks in the 6-byte forms.
        const lba = ((cdb[1]! & 0x1f) << 16) | (cdb[2]! << 8) | cdb[3]!
        return this.#blockIo(cdb[0] === ScsiOp.WRITE_6, lba, cdb[4]! === 0 ? 256 : cdb[4]!)
      }
      case ScsiOp.READ_10:
      case ScsiOp.WRITE_10:
        return this.#blockIo(cdb[0] === ScsiOp.WRITE_10, view.getUint32(2), view.getUint16(7))
      case ScsiOp.READ_12:
      case ScsiOp.WRITE_12:
        return this.#blockIo(cdb[0] === ScsiOp.WRITE_12, view.getUint32(2), view.getUint32(6))
      case ScsiOp.READ_16:
      case ScsiOp.WRITE_16:
        return this.#blockIo(
          cdb[0] === ScsiOp.WRITE_16,
          toSafeNumber(view.getBigUint64(2)),
          view.getUint32(10),
        )
      case ScsiOp.VERIFY_10:
        return this.#verify(cdb, view.getUint32(2), view.getUint16(7))
      case ScsiOp.VERIFY_16:
        return this.#verify(cdb, toSafeNumber(view.getBigUint64(2)), view.getUint32(10))
      case ScsiOp.SYNCHRONIZE_CACHE_10:
      case ScsiOp.SYNCHRONIZE_CACHE_16:
        return this.info.readOnly ? NO_DATA : SYNC
      default:
        return checkCondition(Senses.INVALID_COMMAND_OPERATION_CODE)
    }
  }

  #inRange(lba: number, blocks: number): boolean {
    return lba + blocks <= this.info.blockCount
  }

  #blockIo(write: boolean, lba: number, blocks: number): ScsiPlan {
    if (write && this.info.readOnly) return checkCondition(Senses.WRITE_PROTECTED)
    if (!this.#inRange(lba, blocks)) return checkCondition(Senses.LBA_OUT_OF_RANGE)
    if (blocks === 0) return NO_DATA
    return write ? { kind: 'write', lba, blocks } : { kind: 'read', lba, blocks }
  }

  #verify(cdb: Uint8Array, lba: number, blocks: number): ScsiPlan {
    // BYTCHK would need a data-out phase to compare against; the medium can't fail a verify.
    if ((cdb[1]! & 0x06) !== 0) return checkCondition(Senses.INVALID_FIELD_IN_CDB)
    return this.#inRange(lba, blocks) ? NO_DATA : checkCondition(Senses.LBA_OUT_OF_RANGE)
  }

  #inquiry(cdb: Uint8Array, allocation: number): ScsiPlan {
    const evpd = (cdb[1]! & 0x01) !== 0
    const page = cdb[2]!
    if (!evpd) return page === 0 ? dataIn(this.#standardInquiry(), allocation) : invalidField()
    switch (page) {
      case 0x00:
        return dataIn(Uint8Array.of(0, 0x00, 0, 3, 0x00, 0x80, 0x83), allocation)
      case 0x80: {
        const serial = ascii(this.info.serialNumber)
        return dataIn(Uint8Array.of(0, 0x80, 0, serial.length, ...serial), allocation)
      }
      case 0x83: {
        // One T10 vendor ID designator: vendor (8) + product (16) + serial, ASCII.
        const id = Uint8Array.of(
          ...ascii(padded(this.info.vendor, 8)),
          ...ascii(padded(this.info.product, 16)),
          ...ascii(this.info.serialNumber),
        )
        const designator = Uint8Array.of(0x02, 0x01, 0x00, id.length, ...id)
        return dataIn(Uint8Array.of(0, 0x83, 0, designator.length, ...designator), allocation)
      }
      default:
        return invalidField()
    }
  }

  #standardInquiry(): Uint8Array {
    const out = new Uint8Array(36)
    out[0] = 0x00 // connected direct-access block device
    out[1] = this.info.removable ? 0x80 : 0
    out[2] = 0x06 // SPC-4
    out[3] = 0x02 // response data format 2
    out[4] = out.length - 5
    out.set(ascii(padded(this.info.vendor, 8)), 8)
    out.set(ascii(padded(this.info.product, 16)), 16)
    out.set(ascii(padded(this.info.revision, 4)), 32)
    return out
  }

  #capacity10(): Uint8Array {
    const out = new Uint8Array(8)
    const view = new DataView(out.buffer)
    // 0xffffffff tells the host to ask READ CAPACITY(16) instead.
    view.setUint32(0, Math.min(this.info.blockCount - 1, 0xffffffff))
    view.setUint32(4, this.info.blockSize)
    return out
  }

  #capacity16(): Uint8Array {
    const out = new Uint8Array(32)
    const view = new DataView(out.buffer)
    view.setBigUint64(0, BigInt(this.info.blockCount - 1))
    view.setUint32(8, this.info.blockSize)
    return out
  }

  #formatCapacities(): Uint8Array {
    const out = new Uint8Array(12)
    const view = new DataView(out.buffer)
    out[3] = 8 // capacity list length: one descriptor
    view.setUint32(4, Math.min(this.info.blockCount, 0xffffffff))
    out[8] = 0x02 // formatted media
    out[9] = (this.info.blockSize >> 16) & 0xff
    view.setUint16(10, this.info.blockSize & 0xffff)
    return out
  }

  #modeSense(cdb: Uint8Array, allocation: number, tenByte: boolean): ScsiPlan {
    const pageControl = cdb[2]! >> 6
    const pageCode = cdb[2]! & 0x3f
    const subpage = cdb[3]!
    if (pageControl === 3) return checkCondition(Senses.SAVING_PARAMETERS_NOT_SUPPORTED)
    if (subpage !== 0 && !(pageCode === 0x3f && subpage === 0xff)) return invalidField()
    const changeable = pageControl === 1
    const pages: Uint8Array[] = []
    if (pageCode === 0x08 || pageCode === 0x3f) pages.push(cachingPage(changeable))
    if (pageCode === 0x0a || pageCode === 0x3f) pages.push(controlPage())
    if (pages.length === 0) return invalidField()
    const body = Uint8Array.from(pages.flatMap((p) => [...p]))
    const deviceSpecific = this.info.readOnly ? 0x80 : 0 // WP bit
    let header: Uint8Array
    if (tenByte) {
      const total = 8 + body.length
      header = Uint8Array.of((total - 2) >> 8, (total - 2) & 0xff, 0, deviceSpecific, 0, 0, 0, 0)
    } else {
      header = Uint8Array.of(4 + body.length - 1, 0, deviceSpecific, 0)
    }
    return dataIn(Uint8Array.of(...header, ...body), allocation)
  }
}

const NO_DATA: ScsiPlan = { kind: 'no-data' }
const SYNC: ScsiPlan = { kind: 'sync' }

function checkCondition(sense: Sense): ScsiPlan {
  return { kind: 'check-condition', sense }
}

function invalidField(): ScsiPlan {
  return checkCondition(Senses.INVALID_FIELD_IN_CDB)
}

function dataIn(data: Uint8Array, allocationLength: number): ScsiPlan {
  if (allocationLength === 0) return NO_DATA
  return { kind: 'data-in', data: data.length > allocationLength ? data.subarray(0, allocationLength) : data }
}

/** Fixed-format sense data (SPC 4.5.3), 18 bytes. */
export function fixedSense(sense: Sense): Uint8Array {
  const out = new Uint8Array(18)
  out[0] = 0x70 // current error, fixed format
  out[2] = sense.key & 0x0f
  out[7] = 10 // additional sense length
  out[12] = sense.asc
  out[13] = sense.ascq
  return out
}

/** Caching mode page: write-back cache (WCE) so the host sends SYNCHRONIZE CACHE to flush. */
function cachingPage(changeable: boolean): Uint8Array {
  const page = new Uint8Array(20)
  page[0] = 0x08
  page[1] = 18
  page[2] = changeable ? 0 : 0x04
  return page
}

function controlPage(): Uint8Array {
  const page = new Uint8Array(12)
  page[0] = 0x0a
  page[1] = 10
  return page
}

function toSafeNumber(value: bigint): number {
  // Anything beyond 2^53 is out of range for any disk we could back; keep it out of range.
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value)
}

function padded(text: string, width: number): string {
  return text.slice(0, width).padEnd(width, ' ')
}

function ascii(text: string): number[] {
  return Array.from(text, (c) => {
    const code = c.charCodeAt(0)
    return code >= 0x20 && code < 0x7f ? code : 0x3f
  })
}
