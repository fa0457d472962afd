/**
 * Reading an untyped TOML table into typed values while collecting every problem with its key
 * path (`rule[2].match.groups`) instead of stopping at the first. Pure: no I/O.
 */
import { parse as parseToml, TomlError } from 'smol-toml'
import type { IssueList } from './issues.js'
import { closestMatch } from './suggest.js'

export type TomlTable = Readonly<Record<string, unknown>>

/**
 * Parse TOML text into its top-level table. A syntax error is added to `issues` at
 * `line L, column C` and the result is undefined.
 */
export function parseTomlTable(text: string, issues: IssueList): TomlTable | undefined {
  try {
    return parseToml(text) as TomlTable
  } catch (err) {
    if (!(err instanceof TomlError)) throw err
    const first = err.message.split('\n')[0] ?? err.message
    issues.add(`line ${err.line}, column ${err.column}`, `not valid TOML: ${first}`)
    return undefined
  }
}

export function isTable(value: unknown): value is TomlTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
}

/** A value as a message names it: `an array`, `a table`, `string "x"`, `number 7`. */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'an array'
  if (value instanceof Date) return 'a date'
  if (isTable(value)) return 'a table'
  if (typeof value === 'bigint') return `integer ${value}`
  return `${typeof value} ${JSON.stringify(value)}`
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/

/** `parent.key`, quoting the key the way TOML would need it (`match."https://x/groups"`). */
export function joinPath(parent: string, key: string): string {
  const part = BARE_KEY.test(key) ? key : JSON.stringify(key)
  return parent ? `${parent}.${part}` : part
}

export interface StringRule {
  /** Report a missing key (`is missing; add key = "..."`). */
  readonly required?: boolean
  /** Refuse "" (`is empty`); otherwise an empty string is a value like any other. */
  readonly nonEmpty?: boolean
  readonly maxLength?: number
  readonly pattern?: RegExp
  /** Appended to the problem: what a valid value looks like. */
  readonly hint?: string
}

export interface StringArrayRule {
  readonly max: number
  /** A problem with one element, or undefined when it is fine. */
  readonly check: (item: string) => string | undefined
  /** A valid setting, shown when the value is not an array: `roles = ["importer"]`. */
  readonly example: string
}

/**
 * A table at a key path. Reports the keys it does not know, with the known ones as the fix (and
 * the likely intended one when a key is a near miss).
 */
export class TableReader {
  constructor(
    readonly table: TomlTable,
    readonly path: string,
    readonly issues: IssueList,
    known: readonly string[],
  ) {
    for (const key of Object.keys(table)) {
      if (!known.includes(key)) {
        const near = closestMatch(key, known)
        const hint = near === undefined ? '' : `did you mean ${near}? `
        this.issues.add(this.at(key), `unknown key; ${hint}known keys here: ${known.join(', ')}`)
      }
    }
  }

  at(key: string): string {
    return joinPath(this.path, key)
  }

  has(key: string): boolean {
    return this.table[key] !== undefined
  }

  string(key: string, rule: StringRule = {}): string | undefined {
    const value = this.table[key]
    if (value === undefined) {
      if (rule.required) this.issues.add(this.at(key), `is missing; add ${key} = "..."${hintOf(rule.hint)}`)
      return undefined
    }
    if (typeof value !== 'string') {
      this.issues.add(this.at(key), `must be a string, not ${describeValue(value)}${hintOf(rule.hint)}`)
      return undefined
    }
    if (rule.nonEmpty && value.length === 0) {
      this.issues.add(this.at(key), `is empty${hintOf(rule.hint)}`)
      return undefined
    }
    if (rule.maxLength !== undefined && value.length > rule.maxLength) {
      this.issues.add(this.at(key), `is ${value.length} characters long; at most ${rule.maxLength}`)
      return undefined
    }
    if (rule.pattern && !rule.pattern.test(value)) {
      this.issues.add(this.at(key), `${JSON.stringify(value)} is not allowed${hintOf(rule.hint)}`)
      return undefined
    }
    return value
  }

  /** One of `choices`; `fallback` when absent (absent without a fallback is reported). */
  choice<T extends string>(key: string, choices: readonly T[], fallback?: T): T | undefined {
    const value = this.table[key]
    if (value === undefined) {
      if (fallback === undefined) {
        this.issues.add(this.at(key), `is missing; add ${key} = "${choices[0]}" (one of ${quoted(choices)})`)
      }
      return fallback
    }
    if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
      this.issues.add(this.at(key), `${describeValue(value)} is not one of ${quoted(choices)}`)
      return undefined
    }
    return value as T
  }

  /**
   * An array of distinct strings, each checked by `rule.check`. undefined when absent or when
   * anything in it is wrong (each element's problem is reported at `key[i]`).
   */
  stringArray(key: string, rule: StringArrayRule): string[] | undefined {
    const value = this.table[key]
    if (value === undefined) return undefined
    if (!Array.isArray(value)) {
      this.issues.add(
        this.at(key),
        `must be an array of strings, not ${describeValue(value)}; e.g. ${rule.example}`,
      )
      return undefined
    }
    if (value.length > rule.max) {
      this.issues.add(this.at(key), `has ${value.length} entries; at most ${rule.max}`)
      return undefined
    }
    const out: string[] = []
    const seen = new Set<string>()
    let broken = false
    value.forEach((item: unknown, index) => {
      const problem =
        typeof item !== 'string'
          ? `must be a string, not ${describeValue(item)}`
          : seen.has(item)
            ? `${JSON.stringify(item)} is listed twice; remove one`
            : rule.check(item)
      if (problem !== undefined || typeof item !== 'string') {
        this.issues.add(`${this.at(key)}[${index}]`, problem ?? 'must be a string')
        broken = true
        return
      }
      seen.add(item)
      out.push(item)
    })
    return broken ? undefined : out
  }

  integer(key: string, rule: { min: number; max: number; hint?: string }): number | undefined {
    const value = this.table[key]
    if (value === undefined) return undefined
    if (typeof value !== 'number' || !Number.isInteger(value) || value < rule.min || value > rule.max) {
      this.issues.add(
        this.at(key),
        `must be an integer from ${rule.min} to ${rule.max}, not ${describeValue(value)}${hintOf(rule.hint)}`,
      )
      return undefined
    }
    return value
  }

  boolean(key: string): boolean | undefined {
    const value = this.table[key]
    if (value === undefined) return undefined
    if (typeof value !== 'boolean') {
      this.issues.add(this.at(key), `must be true or false, not ${describeValue(value)}`)
      return undefined
    }
    return value
  }

  /** A sub-table ([auth]); undefined when absent or not a table (reported). */
  subTable(key: string): TomlTable | undefined {
    const value = this.table[key]
    if (value === undefined) return undefined
    if (!isTable(value)) {
      this.issues.add(this.at(key), `must be a table ([${this.at(key)}]), not ${describeValue(value)}`)
      return undefined
    }
    return value
  }

  /** An array of tables ([[rule]]), each with its indexed path `key[i]`; at most `max`. */
  tables(key: string, max: number): { table: TomlTable; path: string }[] {
    const value = this.table[key]
    if (value === undefined) return []
    const shape = `[[${this.at(key)}]]`
    if (!Array.isArray(value)) {
      this.issues.add(this.at(key), `must be an array of tables (${shape}), not ${describeValue(value)}`)
      return []
    }
    if (value.length > max) {
      this.issues.add(this.at(key), `has ${value.length} entries; at most ${max}`)
      return []
    }
    const out: { table: TomlTable; path: string }[] = []
    value.forEach((item: unknown, index) => {
      const path = `${this.at(key)}[${index}]`
      if (isTable(item)) out.push({ table: item, path })
      else this.issues.add(path, `must be a table (${shape}), not ${describeValue(item)}`)
    })
    return out
  }
}

function hintOf(hint: string | undefined): string {
  return hint ? `; ${hint}` : ''
}

function quoted(choices: readonly string[]): string {
  return choices.map((c) => `"${c}"`).join(', ')
}
