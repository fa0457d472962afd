/**
 * Reading an untyped TOML table into typed values while collecting every problem with its key
 * path (`rule[2].match.groups`) instead of stopping at the first. Pure: no I/O.
 */

/** One problem in hub.toml, at a key path such as `rule[1].max_lease`. */
export interface PolicyIssue {
  readonly path: string
  /** What is wrong and how to fix it. */
  readonly message: string
}

export class IssueList {
  readonly issues: PolicyIssue[] = []

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
  if (typeof value === 'bigint') return `integer ${value}`
  return `${typeof value} ${JSON.stringify(value)}`
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/

/** `parent.key`, quoting the key the way TOML would need it (`match."https://x/groups"`). */
export function joinPath(parent: string, key: string): string {
  const part = BARE_KEY.test(key) ? key : JSON.stringify(key)
  return parent ? `${parent}.${part}` : part
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
        const near = closest(key, known)
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
    if (value.length === 0) {
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

  /**
   * An array of distinct strings, each checked by `check` (which returns a problem or undefined).
   * undefined when absent or broken (reported).
   */
  stringArray(
    key: string,
    rule: { max: number; check: (item: string) => string | undefined; example: string },
  ): string[] | undefined {
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
    value.forEach((item, index) => {
      const path = `${this.at(key)}[${index}]`
      const problem =
        typeof item !== 'string'
          ? `must be a string, not ${describeValue(item)}`
          : seen.has(item)
            ? `${JSON.stringify(item)} is listed twice; remove one`
            : rule.check(item)
      if (problem !== undefined || typeof item !== 'string') {
        this.issues.add(path, problem ?? 'must be a string')
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

  /** An array of tables ([[rule]]), each with its indexed path `key[i]`. */
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
      else this.issues.add(path, `must be a table ([[${this.at(key)}]]), not ${describeValue(item)}`)
    })
    return out
  }
}

function hintOf(hint: string | undefined): string {
  return hint ? `; ${hint}` : ''
}

/** The known key within two edits of `key` (a likely typo), if exactly one is closest. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    } else if (distance === bestDistance) {
      best = undefined
    }
  }
  return best
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      next.push(Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + cost))
    }
    row = next
  }
  return row[b.length]!
}
