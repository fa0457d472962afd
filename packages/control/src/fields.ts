/**
 * Field checks shared by the request and response codecs: every error names the message type and
 * the field (NetError ERR_BAD_FIELD), and the forms names, places and codes must have.
 */
import { badField } from '@tether/net'
import { MAX_NAME, MAX_SPEC_ITEMS } from './types.js'

export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/
/** A place, optionally with its exporter: PLACE or EXPORTER/PLACE. */
export const PLACE = /^([A-Za-z0-9][A-Za-z0-9._-]{0,62}\/)?[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/
export const MAX_PLACE = 2 * MAX_NAME + 1
/** EXPORTER/PLACE, both parts required. */
export const PLACE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}\/[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/
export const SUBJECT = /^(user|group):[^\s]{1,256}$/
export const FAILURE_CODE = /^ERR_[A-Z0-9_]{1,60}$/
/** A user name as the hub knows it, and one line of text: no control characters. */
export const USER = /^[^\p{Cc}]{1,256}$/u
export const LINE = /^[^\p{Cc}]*$/u

export type Plain = Record<string, unknown>

/** Field checks bound to one message type, so every error names type and field. */
export function fields(type: string) {
  const str = (o: Plain, field: string, max: number, pattern?: RegExp): string => {
    const v = o[field]
    if (typeof v !== 'string') throw badField(type, field, 'must be a string')
    if (v.length > max) throw badField(type, field, `is longer than ${max}`)
    if (pattern && !pattern.test(v))
      throw badField(type, field, `has an invalid form: ${JSON.stringify(v.slice(0, 80))}`)
    return v
  }
  const optStr = (o: Plain, field: string, max: number, pattern?: RegExp): string | undefined =>
    o[field] === undefined || o[field] === null ? undefined : str(o, field, max, pattern)
  const num = (o: Plain, field: string, max = Number.MAX_SAFE_INTEGER): number => {
    const v = o[field] ?? 0
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) {
      throw badField(type, field, `must be an integer in 0..${max}`)
    }
    return v
  }
  const optNum = (o: Plain, field: string, max?: number): number | undefined =>
    o[field] === undefined || o[field] === null ? undefined : num(o, field, max)
  const bool = (o: Plain, field: string): boolean => {
    const v = o[field] ?? false
    if (typeof v !== 'boolean') throw badField(type, field, 'must be a boolean')
    return v
  }
  const strList = (o: Plain, field: string, pattern: RegExp = NAME, maxItems = MAX_SPEC_ITEMS): string[] => {
    const v = o[field] ?? []
    if (!Array.isArray(v) || v.length > maxItems)
      throw badField(type, field, `must be a list of at most ${maxItems}`)
    return v.map((item, i) => {
      if (typeof item !== 'string' || item.length > 256 || !pattern.test(item)) {
        throw badField(type, `${field}[${i}]`, 'is not a valid name')
      }
      return item
    })
  }
  const sub = (o: Plain, field: string): Plain | undefined => {
    const v = o[field]
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Plain) : undefined
  }
  return { str, optStr, num, optNum, bool, strList, sub }
}

// Compatible strings are vendor,model pairs; interface kinds are words.
export const COMPATIBLE = /^[A-Za-z0-9][A-Za-z0-9.,_+-]{0,127}$/
export const KIND = /^(usb|serial)$/
