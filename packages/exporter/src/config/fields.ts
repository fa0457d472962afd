/**
 * Reading an untyped TOML table into typed values while collecting every problem (with its key
 * path) instead of stopping at the first. Pure: no I/O.
 */
import type { ConfigIssue } from '../errors.js'

export class IssueList {
  readonly issues: ConfigIssue[] = []

  add(path: string, message: string): void {
    this.issues.push({ path, message })
  }
}

export type TomlTable = Readonly<Record<string, unknown>>

export function isTable(value: unknown): value is TomlTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
}

export function describeValue(value: unknown): string {
  if (Array.isArray(value)) return 'an array'
  if (value instanceof Date) return 'a date'
  if (isTable(value)) return 'a table'
  return `${typeof value} ${JSON.stringify(value)}`
}

/** A table at a key path; reports keys it does not know, with the known ones as the fix. */
export class TableReader {
  constructor(
    readonly table: TomlTable,
    readonly path: string,
    readonly issues: IssueList,
    known: readonly string[],
  ) {
    for (const key of Object.keys(table)) {
      if (!known.includes(key)) {
        this.issues.add(this.at(key), `unknown key; known keys here: ${known.join(', ')}`)
      }
    }
  }

  at(key: string): string {
    return this.path ? `${this.path}.${key}` : key
  }

  has(key: string): boolean {
    return this.table[key] !== undefined
  }

  string(
    key: string,
    rule: { required?: boolean; pattern?: RegExp; hint?: string; maxLength?: number } = {},
  ): string | undefined {
    const value = this.table[key]
    if (value === undefined) {
      if (rule.required) this.issues.add(this.at(key), `is missing; add ${key} = "..."${hintOf(rule.hint)}`)
      return undefined
    }
    if (typeof value !== 'string') {
      this.issues.add(this.at(key), `must be a string, not ${describeValue(value)}${hintOf(rule.hint)}`)
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

  choice<T extends string>(key: string, choices: readonly T[], fallback?: T): T | undefined {
    const value = this.table[key]
    if (value === undefined) {
      if (fallback === undefined) {
        this.issues.add(this.at(key), `is missing; add ${key} = "${choices[0]}" (one of ${list(choices)})`)
      }
      return fallback
    }
    if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
      this.issues.add(this.at(key), `${describeValue(value)} is not one of ${list(choices)}`)
      return undefined
    }
    return value as T
  }

  stringArray(key: string, rule: { max: number; pattern: RegExp; hint: string }): string[] | undefined {
    const value = this.table[key]
    if (value === undefined) return undefined
    if (!Array.isArray(value)) {
      this.issues.add(this.at(key), `must be an array of strings, e.g. ${key} = ["a", "b"]`)
      return undefined
    }
    if (value.length > rule.max) {
      this.issues.add(this.at(key), `has ${value.length} entries; at most ${rule.max}`)
      return undefined
    }
    const out: string[] = []
    const seen = new Set<string>()
    value.forEach((item, index) => {
      const path = `${this.at(key)}[${index}]`
      if (typeof item !== 'string') {
        this.issues.add(path, `must be a string, not ${describeValue(item)}`)
      } else if (!rule.pattern.test(item)) {
        this.issues.add(path, `${JSON.stringify(item)} is not allowed; ${rule.hint}`)
      } else if (seen.has(item)) {
        this.issues.add(path, `${JSON.stringify(item)} is listed twice; remove one`)
      } else {
        seen.add(item)
        out.push(item)
      }
    })
    return out
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

  /** A sub-table ([hub], [network]); undefined when absent or not a table (reported). */
  subTable(key: string): TomlTable | undefined {
    const value = this.table[key]
    if (value === undefined) return undefined
    if (!isTable(value)) {
      this.issues.add(this.at(key), `must be a table ([${this.at(key)}]), not ${describeValue(value)}`)
      return undefined
    }
    return value
  }

  /** An array of tables ([[place]]), each with its indexed path `key[i]`. */
  tables(key: string, max: number): { table: TomlTable; path: string }[] {
    const value = this.table[key]
    if (value === undefined) return []
    if (!Array.isArray(value)) {
      this.issues.add(
        this.at(key),
        `must be an array of tables ([[${this.at(key)}]]), not ${describeValue(value)}`,
      )
      return []
    }
    if (value.length > max) {
      this.issues.add(this.at(key), `has ${value.length} entries; at most ${max}`)
      return []
    }
    const out: { table: TomlTable; path: string }[] = []
    value.forEach((item, index) => {
      const path = `${this.at(key)}[${index}]`
      if (isTable(item)) out.push({ table: item, path })
      else this.issues.add(path, `must be a table, not ${describeValue(item)}`)
    })
    return out
  }
}

function hintOf(hint: string | undefined): string {
  return hint ? `; ${hint}` : ''
}

function list(choices: readonly string[]): string {
  return choices.map((c) => `"${c}"`).join(', ')
}
