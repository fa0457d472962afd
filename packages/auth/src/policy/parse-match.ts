/**
 * A rule's `match` table → claim conditions. A scalar value means equality, a list means "the
 * token's list contains every listed value"; a sub-table (or a TOML dotted key such as
 * `realm_access.roles`) descends into a nested claim. A quoted key is one claim name even when it
 * holds dots (`"https://tether.example/groups"`), exactly as TOML reads it.
 */

import { describeValue, type IssueList, isTable, joinPath, type TomlTable } from '@tether/config'
import type { ClaimCondition, ClaimScalar } from './schema.js'

const MAX_CONDITIONS = 32
const MAX_DEPTH = 8
const MAX_LIST = 64

const SCALAR_HINT =
  'write a string, number or boolean (equality) or a list of them (the token list must hold all)'

export function readMatch(value: unknown, path: string, issues: IssueList): ClaimCondition[] | undefined {
  if (value === undefined) {
    issues.add(
      path,
      'is missing; add e.g. match = { groups = ["lab"] } (or match = {} to match every signed-in user)',
    )
    return undefined
  }
  if (!isTable(value)) {
    issues.add(path, `must be a table, not ${describeValue(value)}; e.g. match = { groups = ["lab"] }`)
    return undefined
  }
  const out: ClaimCondition[] = []
  const before = issues.issues.length
  walk(value, [], path, issues, out)
  if (out.length > MAX_CONDITIONS) {
    issues.add(path, `has ${out.length} conditions; at most ${MAX_CONDITIONS}`)
  }
  return issues.issues.length === before ? out : undefined
}

function walk(
  table: TomlTable,
  prefix: readonly string[],
  path: string,
  issues: IssueList,
  out: ClaimCondition[],
): void {
  for (const [key, value] of Object.entries(table)) {
    const at = joinPath(path, key)
    const claim = [...prefix, key]
    if (isTable(value)) {
      if (Object.keys(value).length === 0) {
        issues.add(at, `is an empty table; give the nested claim a value, e.g. ${key}.roles = ["lab"]`)
      } else if (claim.length >= MAX_DEPTH) {
        issues.add(at, `nests deeper than ${MAX_DEPTH} levels; match a claim nearer the top`)
      } else {
        walk(value, claim, at, issues, out)
      }
    } else if (Array.isArray(value)) {
      const values = readList(value, at, issues)
      if (values) out.push({ kind: 'containsAll', path: claim, values })
    } else if (isScalar(value)) {
      out.push({ kind: 'equals', path: claim, value })
    } else {
      issues.add(at, `${describeValue(value)} cannot be matched; ${SCALAR_HINT}`)
    }
  }
}

function readList(list: readonly unknown[], path: string, issues: IssueList): ClaimScalar[] | undefined {
  if (list.length === 0) {
    issues.add(
      path,
      'is an empty list, which would match any list; list the values the token must hold, or remove the key',
    )
    return undefined
  }
  if (list.length > MAX_LIST) {
    issues.add(path, `has ${list.length} entries; at most ${MAX_LIST}`)
    return undefined
  }
  const values: ClaimScalar[] = []
  let broken = false
  list.forEach((item, index) => {
    const at = `${path}[${index}]`
    if (!isScalar(item)) {
      issues.add(
        at,
        `${describeValue(item)} cannot be matched; list elements must be strings, numbers or booleans`,
      )
      broken = true
    } else if (values.some((v) => v === item)) {
      issues.add(at, `${JSON.stringify(item)} is listed twice; remove one`)
      broken = true
    } else {
      values.push(item)
    }
  })
  return broken ? undefined : values
}

function isScalar(value: unknown): value is ClaimScalar {
  return (
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  )
}
