/**
 * hub.toml → HubConfig. Pure: the caller reads the file and passes its text and name; every
 * problem is collected and reported at once, each as `FILE: KEY.PATH: what is wrong; the fix`.
 * The annotated example is packages/auth/test/fixtures/policy/example-hub.toml.
 */
import { type ConfigIssue, formatIssues, IssueList, parseTomlTable, TableReader } from '@tether/config'
import { AuthError } from '../errors.js'
import { deepFreeze } from './freeze.js'
import { readAuth } from './parse-auth.js'
import { GRANT_KEYS, readGrant } from './parse-grant.js'
import { readMatch } from './parse-match.js'
import type { HubConfig, IssuerConfig, RuleConfig, ServiceAccountConfig } from './schema.js'

/** One problem in hub.toml, at a key path such as `rule[1].max_lease`. */
export type PolicyIssue = ConfigIssue

export interface ParseHubTomlOptions {
  /**
   * The hub's explicit insecure flag. Only then may hub.toml lack [auth]: the result has
   * mode "open" and no policy (anyone who reaches the hub may do anything). An [auth] section
   * always wins: with one present the flag changes nothing.
   */
  readonly insecure?: boolean
}

const TOP_KEYS = ['auth', 'service_account', 'rule']
const RULE_KEYS = ['name', 'match', ...GRANT_KEYS]
const SERVICE_ACCOUNT_KEYS = ['name', 'client_id', 'issuer', ...GRANT_KEYS]
const MAX_RULES = 1024
const MAX_SERVICE_ACCOUNTS = 256
const LABEL_MAX = 200
const ACCOUNT_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/
const ACCOUNT_NAME_HINT = 'use 1-63 characters a-z 0-9 . _ - starting with a letter or digit, e.g. "ci-lab-a"'

/**
 * Parse and validate hub.toml. Throws AuthError ERR_POLICY_CONFIG (details: `file`, `issues`)
 * listing every problem, or ERR_POLICY_NO_AUTH when there is no [auth] and `insecure` is not set.
 */
export function parseHubToml(text: string, file: string, options: ParseHubTomlOptions = {}): HubConfig {
  const issues = new IssueList()
  const document = parseTomlTable(text, issues)
  if (!document) throw policyError(file, issues.issues)
  const top = new TableReader(document, '', issues, TOP_KEYS)
  const authTable = top.subTable('auth')
  const issuers = authTable ? readAuth(authTable, issues) : []
  const serviceAccounts = readServiceAccounts(top, issuers)
  const rules = readRules(top)
  if (!top.has('auth')) {
    if (top.has('rule') || top.has('service_account')) {
      issues.add(
        'auth',
        'is missing, and without it no token is accepted, so [[rule]] and [[service_account]] could never apply; add [auth] with an [[auth.issuer]]',
      )
    } else if (issues.issues.length === 0 && !options.insecure) {
      throw new AuthError(
        'ERR_POLICY_NO_AUTH',
        `${file}: auth: is missing, so nobody could be authenticated; add [auth] with an [[auth.issuer]] (url, client_id) and [[rule]] entries, or start the hub with its explicit insecure flag to let anyone who can reach it use every board`,
        { details: { file } },
      )
    }
  }
  if (issues.issues.length > 0) throw policyError(file, issues.issues)
  return deepFreeze({
    file,
    mode: authTable ? ('auth' as const) : ('open' as const),
    issuers,
    serviceAccounts,
    rules,
  })
}

function policyError(file: string, issues: readonly PolicyIssue[]): AuthError {
  return new AuthError('ERR_POLICY_CONFIG', formatIssues(file, issues), { details: { file, issues } })
}

function readLabel(reader: TableReader): string | undefined {
  return reader.string('name', {
    nonEmpty: true,
    maxLength: LABEL_MAX,
    hint: 'a short label shown in messages',
  })
}

function readRules(top: TableReader): RuleConfig[] {
  const out: RuleConfig[] = []
  for (const { table, path } of top.tables('rule', MAX_RULES)) {
    const reader = new TableReader(table, path, top.issues, RULE_KEYS)
    const label = readLabel(reader)
    const match = readMatch(table.match, reader.at('match'), top.issues)
    const grant = readGrant(reader, label)
    if (match && grant) out.push({ ...grant, match })
  }
  return out
}

function readServiceAccounts(top: TableReader, issuers: readonly IssuerConfig[]): ServiceAccountConfig[] {
  const out: ServiceAccountConfig[] = []
  const names = new Map<string, string>()
  const clients = new Map<string, string>()
  for (const { table, path } of top.tables('service_account', MAX_SERVICE_ACCOUNTS)) {
    const reader = new TableReader(table, path, top.issues, SERVICE_ACCOUNT_KEYS)
    const name = reader.string('name', {
      nonEmpty: true,
      required: true,
      pattern: ACCOUNT_NAME,
      hint: ACCOUNT_NAME_HINT,
    })
    const clientId = reader.string('client_id', {
      nonEmpty: true,
      required: true,
      maxLength: 255,
      hint: 'the CI client (client-credentials grant) registered with the identity provider',
    })
    const issuer = resolveIssuer(reader, issuers)
    const grant = readGrant(reader, name)
    if (name !== undefined) once(names, name, reader.at('name'), `name ${JSON.stringify(name)}`, top.issues)
    if (name === undefined || clientId === undefined || issuer === undefined || grant === undefined) continue
    const clash = [issuer.clientId, issuer.deviceClientId].includes(clientId)
    if (clash) {
      top.issues.add(
        reader.at('client_id'),
        `${JSON.stringify(clientId)} is the hub's own login client at ${issuer.id}, so every user would count as this service account; register a separate client for CI`,
      )
      continue
    }
    if (
      !once(
        clients,
        `${issuer.url} ${clientId}`,
        reader.at('client_id'),
        `client ${JSON.stringify(clientId)}`,
        top.issues,
      )
    ) {
      continue
    }
    out.push({ ...grant, name, clientId, issuer: issuer.url })
  }
  return out
}

/** `issuer` must be the url of an [[auth.issuer]]; it may be left out when there is just one. */
function resolveIssuer(reader: TableReader, issuers: readonly IssuerConfig[]): IssuerConfig | undefined {
  const url = reader.string('issuer', { nonEmpty: true, maxLength: 1024 })
  const known = issuers.map((i) => JSON.stringify(i.url)).join(', ')
  if (url === undefined) {
    if (reader.has('issuer')) return undefined
    if (issuers.length === 1) return issuers[0]
    if (issuers.length > 1) {
      reader.issues.add(
        reader.at('issuer'),
        `is missing and there are several issuers; add issuer = one of ${known}`,
      )
    }
    return undefined
  }
  const issuer = issuers.find((i) => i.url === url)
  if (!issuer && issuers.length > 0) {
    reader.issues.add(
      reader.at('issuer'),
      `${JSON.stringify(url)} is not a trusted issuer; use the url of an [[auth.issuer]]: ${known}`,
    )
  }
  return issuer
}

function once(
  seen: Map<string, string>,
  key: string,
  path: string,
  what: string,
  issues: IssueList,
): boolean {
  const first = seen.get(key)
  if (first !== undefined) {
    issues.add(path, `${what} is already used at ${first}; each service account needs its own`)
    return false
  }
  seen.set(key, path.replace(/\.[^.]+$/, ''))
  return true
}
