/** [auth] and its [[auth.issuer]] entries: the OpenID Connect issuers the hub trusts. */
import { type IssueList, joinPath, TableReader, type TomlTable } from '@tether/config'
import { DEFAULT_USER_CLAIMS, type IssuerConfig } from './schema.js'

const AUTH_KEYS = ['issuer']
const ISSUER_KEYS = ['url', 'client_id', 'audience', 'device_client_id', 'claim_user', 'groups_claim']
const MAX_ISSUERS = 16
const CLIENT_HINT = 'the client id registered with the identity provider, e.g. client_id = "tether-hub"'
const CLAIM_HINT = 'a claim name, or a dotted path into a nested claim such as "realm_access.roles"'

export function readAuth(table: TomlTable, issues: IssueList): IssuerConfig[] {
  const auth = new TableReader(table, 'auth', issues, AUTH_KEYS)
  const entries = auth.tables('issuer', MAX_ISSUERS)
  if (entries.length === 0 && !auth.has('issuer')) {
    issues.add(
      'auth.issuer',
      'no trusted issuer; add an [[auth.issuer]] with url = "https://idp.example/realms/lab" and client_id = "tether-hub"',
    )
  }
  const out: IssuerConfig[] = []
  const urls = new Map<string, string>()
  for (const { table: entry, path } of entries) {
    const issuer = readIssuer(new TableReader(entry, path, issues, ISSUER_KEYS))
    if (!issuer) continue
    const first = urls.get(issuer.url)
    if (first !== undefined) {
      issues.add(
        joinPath(path, 'url'),
        `${JSON.stringify(issuer.url)} is already trusted at ${first}; remove one`,
      )
      continue
    }
    urls.set(issuer.url, path)
    out.push(issuer)
  }
  return out
}

function readIssuer(reader: TableReader): IssuerConfig | undefined {
  const before = reader.issues.issues.length
  const url = readIssuerUrl(reader)
  const clientId = reader.string('client_id', {
    nonEmpty: true,
    required: true,
    maxLength: 255,
    hint: CLIENT_HINT,
  })
  const audience = readAudience(reader)
  const deviceClientId = reader.string('device_client_id', {
    nonEmpty: true,
    maxLength: 255,
    hint: 'a public client with the device-code grant, e.g. "tether-cli"',
  })
  const claimUser = reader.string('claim_user', { nonEmpty: true, maxLength: 255, hint: CLAIM_HINT })
  const groupsClaim = reader.string('groups_claim', { nonEmpty: true, maxLength: 255, hint: CLAIM_HINT })
  if (reader.issues.issues.length > before || url === undefined || clientId === undefined) return undefined
  return {
    id: reader.path,
    url,
    clientId,
    audiences: audience ?? (deviceClientId === undefined ? [clientId] : [clientId, deviceClientId]),
    deviceClientId,
    userClaims: claimUser === undefined ? DEFAULT_USER_CLAIMS : [claimUser, 'sub'],
    groupsClaim,
  }
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i

function readIssuerUrl(reader: TableReader): string | undefined {
  const hint =
    'write the issuer exactly as its tokens carry it in "iss", e.g. "https://idp.example/realms/lab"'
  const text = reader.string('url', { nonEmpty: true, required: true, maxLength: 1024, hint })
  if (text === undefined) return undefined
  let url: URL
  try {
    url = new URL(text)
  } catch {
    reader.issues.add(reader.at('url'), `${JSON.stringify(text)} is not a URL; ${hint}`)
    return undefined
  }
  let problem: string | undefined
  if (url.protocol === 'http:' && !LOOPBACK.test(url.hostname)) {
    problem =
      'uses http, which anyone on the path could impersonate; use https (http is only for localhost / 127.0.0.1 / [::1])'
  } else if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    problem = `uses ${url.protocol.replace(':', '')}; use https`
  } else if (url.username || url.password) {
    problem = 'holds a user name or password; remove them'
  } else if (url.search || url.hash || text.includes('?') || text.includes('#')) {
    problem = 'has a query or fragment, which an issuer must not; remove it'
  }
  if (problem !== undefined) {
    reader.issues.add(reader.at('url'), `${JSON.stringify(text)} ${problem}`)
    return undefined
  }
  // Kept as written: `iss` is compared character for character (a trailing "/" matters).
  return text
}

/** `audience = "tether"` or `audience = ["tether", "ci"]`: what tokens must carry in "aud". */
function readAudience(reader: TableReader): string[] | undefined {
  const check = (aud: string) =>
    aud.length > 0 && aud.length <= 1024 ? undefined : 'must be 1-1024 characters'
  if (typeof reader.table.audience === 'string') {
    const one = reader.table.audience
    const problem = check(one)
    if (problem) reader.issues.add(reader.at('audience'), problem)
    return problem ? undefined : [one]
  }
  const list = reader.stringArray('audience', { max: 16, check, example: 'audience = ["tether-hub"]' })
  if (list && list.length === 0) {
    reader.issues.add(reader.at('audience'), 'is empty; list the "aud" values to accept, or remove the key')
  }
  return list
}
