import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { type AuthError, type PolicyIssue, parseDuration, parseHubToml } from '../src/index.js'

const FIXTURES = new URL('../../test/fixtures/policy/', import.meta.url)
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8')

const ISSUER = `
[auth]
[[auth.issuer]]
url = "https://idp.example"
client_id = "tether-hub"
`

/** Parse and expect ERR_POLICY_CONFIG with an issue at exactly `path` whose text has `fix`. */
function refuses(text: string, path: string, fix: string | RegExp): AuthError {
  let caught: unknown
  try {
    parseHubToml(text, 'hub.toml')
  } catch (err) {
    caught = err
  }
  const err = caught as AuthError
  assert.equal(err?.code, 'ERR_POLICY_CONFIG', `expected ERR_POLICY_CONFIG, got ${String(caught)}`)
  const issues = err.details.issues as PolicyIssue[]
  const issue = issues.find((i) => i.path === path)
  assert.ok(issue, `no issue at ${path}; got:\n${err.message}`)
  assert.ok(err.message.includes(`hub.toml: ${path}: `), err.message)
  if (typeof fix === 'string') assert.ok(issue.message.includes(fix), `${issue.message} lacks "${fix}"`)
  else assert.match(issue.message, fix)
  return err
}

const rule = (body: string) => `${ISSUER}\n[[rule]]\n${body}\n`

describe('parseHubToml: good configs', () => {
  test('the annotated example parses into a frozen config', () => {
    // The example shipped with the project (examples/hub.toml) must stay valid.
    const config = parseHubToml(
      readFileSync(new URL('../../../../examples/hub.toml', import.meta.url), 'utf8'),
      'hub.toml',
    )
    assert.equal(config.mode, 'auth')
    assert.equal(config.file, 'hub.toml')
    assert.deepEqual(
      config.issuers.map((i) => i.url),
      ['https://sso.example.com/realms/lab', 'https://token.actions.githubusercontent.com'],
    )
    const [sso, github] = config.issuers
    assert.deepEqual(sso!.audiences, ['tether-hub', 'tether-cli'])
    assert.equal(sso!.deviceClientId, 'tether-cli')
    assert.deepEqual(sso!.userClaims, ['preferred_username', 'sub'])
    assert.equal(sso!.groupsClaim, 'realm_access.roles')
    assert.deepEqual(github!.userClaims, ['preferred_username', 'email', 'sub'])
    assert.deepEqual(github!.audiences, ['https://github.com/example-org'])

    assert.deepEqual(
      config.serviceAccounts.map((s) => [s.id, s.name, s.clientId, s.issuer, s.roles]),
      [
        ['service_account[0]', 'ci-lab-a', 'ci-lab-a', sso!.url, ['importer']],
        ['service_account[1]', 'exporter-lab-a', 'tether-exporter-lab-a', sso!.url, ['exporter']],
      ],
    )
    assert.equal(config.serviceAccounts[0]!.maxLeaseMs, 2 * 3_600_000)
    assert.deepEqual(
      config.serviceAccounts[1]!.rights,
      [],
      'an exporter-only grant carries no importer rights',
    )

    assert.equal(config.rules.length, 6)
    const [admins, devs, release, watch, ci, labB] = config.rules
    assert.deepEqual(admins!.roles, ['admin'])
    assert.deepEqual(admins!.places, [])
    assert.equal(devs!.label, 'lab-a developers')
    assert.deepEqual(devs!.match, [
      { kind: 'containsAll', path: ['groups'], values: ['lab-a'] },
      { kind: 'equals', path: ['email_verified'], value: true },
    ])
    assert.deepEqual(devs!.tags, ['lab-a'])
    assert.deepEqual(devs!.rights, ['usb.attach', 'serial.rw', 'serial.ro', 'power'])
    assert.equal(devs!.maxPriority, 10)
    assert.equal(devs!.maxLeaseMs, 8 * 3_600_000)
    assert.equal(devs!.maxReservations, 2)
    assert.equal(release!.places, '*')
    assert.equal(release!.maxLeaseMs, 3 * 86_400_000)
    assert.equal(release!.maxReservations, undefined)
    assert.deepEqual(watch!.match, [])
    assert.deepEqual(watch!.rights, ['serial.ro'])
    assert.equal(ci!.match.length, 3)
    assert.deepEqual(labB!.match, [
      { kind: 'containsAll', path: ['realm_access', 'roles'], values: ['lab-b-exporter'] },
      { kind: 'containsAll', path: ['resource_access', 'tether-hub', 'roles'], values: ['exporter'] },
    ])

    assertDeepFrozen(config)
    assert.throws(() => {
      ;(config.rules as unknown as unknown[]).push({})
    }, TypeError)
  })

  test('minimal config: defaults', () => {
    const config = parseHubToml(fixture('minimal-hub.toml'), 'hub.toml')
    const [only] = config.rules
    assert.deepEqual(config.issuers[0]!.audiences, ['tether-hub'])
    assert.equal(config.issuers[0]!.deviceClientId, undefined)
    assert.equal(config.issuers[0]!.groupsClaim, undefined)
    assert.deepEqual(config.serviceAccounts, [])
    assert.equal(only!.id, 'rule[0]')
    assert.equal(only!.label, undefined)
    assert.deepEqual(only!.rights, ['usb.attach', 'serial.rw', 'serial.ro', 'power'])
    assert.equal(only!.maxPriority, 0)
    assert.equal(only!.maxLeaseMs, undefined)
    assert.equal(only!.maxReservations, undefined)
  })

  test('http issuers on loopback, audience lists, claim_user, a service account with the issuer named', () => {
    const config = parseHubToml(fixture('local-dex-hub.toml'), 'hub.toml')
    assert.deepEqual(
      config.issuers.map((i) => i.url),
      ['http://127.0.0.1:5556/dex', 'http://localhost:8080/realms/test', 'http://[::1]:9000'],
    )
    assert.deepEqual(config.issuers[0]!.audiences, ['tether-hub', 'tether-ci'])
    assert.deepEqual(config.issuers[0]!.userClaims, ['email', 'sub'])
    assert.equal(config.serviceAccounts[0]!.issuer, 'http://127.0.0.1:5556/dex')
  })

  test('a single audience string; a service account may omit issuer when there is one', () => {
    const config = parseHubToml(
      `${ISSUER}audience = "tether"\n[[service_account]]\nname = "ci"\nclient_id = "ci"\nroles = ["admin"]\n`,
      'hub.toml',
    )
    assert.deepEqual(config.issuers[0]!.audiences, ['tether'])
    assert.equal(config.serviceAccounts[0]!.issuer, 'https://idp.example')
  })

  test('[auth] with no rules is valid (everyone signs in, nobody may do anything)', () => {
    const config = parseHubToml(ISSUER, 'hub.toml')
    assert.deepEqual(config.rules, [])
  })

  test('durations', () => {
    assert.equal(parseDuration('90s'), 90_000)
    assert.equal(parseDuration('30m'), 1_800_000)
    assert.equal(parseDuration('2h'), 7_200_000)
    assert.equal(parseDuration('1d'), 86_400_000)
    assert.equal(parseDuration('1h30m'), 5_400_000)
    for (const bad of ['', '0m', '2', 'h', '2 hours', '30m1h', '1.5h', '-1h', '2H', '1w']) {
      assert.equal(parseDuration(bad), undefined, bad)
    }
  })
})

describe('parseHubToml: open mode goes away', () => {
  test('no [auth] and no insecure flag: refused with ERR_POLICY_NO_AUTH naming the fix', () => {
    for (const text of ['', '# nothing here\n']) {
      assert.throws(
        () => parseHubToml(text, '/etc/tether/hub.toml'),
        (err: AuthError) =>
          err.code === 'ERR_POLICY_NO_AUTH' &&
          err.message.startsWith('/etc/tether/hub.toml: auth: is missing') &&
          err.message.includes('[[auth.issuer]]') &&
          err.message.includes('insecure flag'),
      )
    }
  })

  test('no [auth] with the insecure flag: open mode, no policy', () => {
    const config = parseHubToml('', 'hub.toml', { insecure: true })
    assert.equal(config.mode, 'open')
    assert.deepEqual([config.issuers, config.rules, config.serviceAccounts], [[], [], []])
  })

  test('[auth] present: the insecure flag changes nothing', () => {
    assert.equal(parseHubToml(ISSUER, 'hub.toml', { insecure: true }).mode, 'auth')
  })

  test('rules without [auth] are an error even with the insecure flag', () => {
    assert.throws(
      () => parseHubToml('[[rule]]\nmatch = {}\nroles = ["admin"]\n', 'hub.toml', { insecure: true }),
      (err: AuthError) =>
        err.code === 'ERR_POLICY_CONFIG' && err.message.startsWith('hub.toml: auth: is missing'),
    )
  })
})

describe('parseHubToml: bad configs name the file, the key path and the fix', () => {
  test('not TOML', () => {
    refuses('[auth\n', 'line 1, column 6', 'not valid TOML')
  })

  test('top level', () => {
    refuses(`${ISSUER}\n[[rules]]\nmatch = {}\n`, 'rules', 'did you mean rule?')
    refuses('auth = 1\n', 'auth', 'must be a table ([auth])')
    refuses(`rule = 1\n${ISSUER}`, 'rule', 'must be an array of tables ([[rule]])')
    refuses(`rule = [1]\n${ISSUER}`, 'rule[0]', 'must be a table')
  })

  test('[auth] and [[auth.issuer]]', () => {
    refuses('[auth]\n', 'auth.issuer', 'add an [[auth.issuer]]')
    refuses('[auth]\nissuers = []\n', 'auth.issuers', 'did you mean issuer?')
    refuses('[auth]\n[[auth.issuer]]\nclient_id = "x"\n', 'auth.issuer[0].url', 'is missing; add url = "..."')
    refuses(
      '[auth]\n[[auth.issuer]]\nurl = "https://idp.example"\n',
      'auth.issuer[0].client_id',
      'is missing',
    )
    refuses(`${ISSUER}clientid = "x"\n`, 'auth.issuer[0].clientid', 'did you mean client_id?')
    refuses(`${ISSUER}client = 1\n`, 'auth.issuer[0].client', 'unknown key')
    const bad = (url: string) => `[auth]\n[[auth.issuer]]\nurl = ${JSON.stringify(url)}\nclient_id = "x"\n`
    refuses(bad('http://idp.example'), 'auth.issuer[0].url', 'use https (http is only for localhost')
    refuses(bad('http://10.0.0.1'), 'auth.issuer[0].url', 'use https')
    refuses(bad('ftp://idp.example'), 'auth.issuer[0].url', 'uses ftp; use https')
    refuses(bad('idp.example'), 'auth.issuer[0].url', 'is not a URL')
    refuses(bad('https://idp.example/?x=1'), 'auth.issuer[0].url', 'query or fragment')
    refuses(bad('https://me:pw@idp.example'), 'auth.issuer[0].url', 'user name or password')
    refuses(
      `${ISSUER}${ISSUER.replace('[auth]', '')}`,
      'auth.issuer[1].url',
      'already trusted at auth.issuer[0]',
    )
    refuses(
      `${ISSUER}client_id = 7\n`.replace('client_id = "tether-hub"\n', ''),
      'auth.issuer[0].client_id',
      'must be a string',
    )
    refuses(`${ISSUER}audience = []\n`, 'auth.issuer[0].audience', 'is empty')
    refuses(`${ISSUER}audience = [""]\n`, 'auth.issuer[0].audience[0]', '1-1024 characters')
    refuses(`${ISSUER}groups_claim = ["a"]\n`, 'auth.issuer[0].groups_claim', 'must be a string')
    refuses(`${ISSUER}claim_user = ""\n`, 'auth.issuer[0].claim_user', 'is empty')
  })

  test('[[rule]] match', () => {
    refuses(rule('roles = ["admin"]'), 'rule[0].match', 'match = {} to match every signed-in user')
    refuses(rule('match = "lab"\nroles = ["admin"]'), 'rule[0].match', 'must be a table')
    refuses(rule('match = { groups = [] }\nroles = ["admin"]'), 'rule[0].match.groups', 'empty list')
    refuses(
      rule('match = { groups = ["a", ["b"]] }\nroles = ["admin"]'),
      'rule[0].match.groups[1]',
      'list elements must be',
    )
    refuses(
      rule('match = { groups = ["a", "a"] }\nroles = ["admin"]'),
      'rule[0].match.groups[1]',
      'listed twice',
    )
    refuses(
      rule('match = { exp = 2030-01-01 }\nroles = ["admin"]'),
      'rule[0].match.exp',
      'a date cannot be matched',
    )
    refuses(
      rule('match = { realm_access = {} }\nroles = ["admin"]'),
      'rule[0].match.realm_access',
      'empty table',
    )
    refuses(rule('match = { score = nan }\nroles = ["admin"]'), 'rule[0].match.score', 'cannot be matched')
    // nested and quoted key paths appear as TOML would write them
    refuses(
      rule('roles = ["admin"]\n[rule.match]\nrealm_access.roles = []'),
      'rule[0].match.realm_access.roles',
      'empty list',
    )
    refuses(
      rule('match = { "https://tether.example/groups" = [] }\nroles = ["admin"]'),
      'rule[0].match."https://tether.example/groups"',
      'empty list',
    )
  })

  test('[[rule]] roles, places, tags, rights', () => {
    refuses(rule('match = {}'), 'rule[0].roles', 'is missing; add e.g. roles = ["importer"]')
    refuses(rule('match = {}\nroles = []'), 'rule[0].roles', 'is empty')
    refuses(rule('match = {}\nroles = "admin"'), 'rule[0].roles', 'must be an array of strings')
    refuses(
      rule('match = {}\nroles = ["importer", "user"]\nplaces = ["*"]'),
      'rule[0].roles[1]',
      '"user" is not a role',
    )
    refuses(
      rule('match = {}\nroles = ["importer"]'),
      'rule[0]',
      'add places = ["rpi-1"], tags = ["rpi4"] or places = ["*"]',
    )
    refuses(rule('match = {}\nroles = ["importer"]\nplaces = []'), 'rule[0].places', 'is empty')
    refuses(rule('match = {}\nroles = ["importer"]\ntags = []'), 'rule[0].tags', 'is empty')
    refuses(
      rule('match = {}\nroles = ["importer"]\nplace = ["rpi-1"]'),
      'rule[0].place',
      'did you mean places?',
    )
    refuses(
      rule('match = {}\nroles = ["importer"]\nplaces = ["*", "rpi-1"]'),
      'rule[0].places',
      'write places = ["*"] alone',
    )
    refuses(
      rule('match = {}\nroles = ["importer"]\nplaces = ["rpi-*"]'),
      'rule[0].places[0]',
      'is not a place name',
    )
    refuses(
      rule('match = {}\nroles = ["importer"]\nplaces = ["a", "a"]'),
      'rule[0].places[1]',
      'listed twice',
    )
    refuses(rule('match = {}\nroles = ["importer"]\ntags = ["*"]'), 'rule[0].tags[0]', 'write places = ["*"]')
    refuses(
      rule('match = {}\nroles = ["importer"]\ntags = ["lab a"]'),
      'rule[0].tags[0]',
      'is not a tag name',
    )
    refuses(rule('match = {}\nroles = ["admin"]\nplaces = ["*"]'), 'rule[0].places', 'admin is hub-wide')
    refuses(rule('match = {}\nroles = ["admin"]\ntags = ["x"]'), 'rule[0].tags', 'admin is hub-wide')
    refuses(
      rule('match = {}\nroles = ["importer"]\nplaces = ["*"]\nrights = ["usb"]'),
      'rule[0].rights[0]',
      '"usb" is not a right',
    )
    refuses(
      rule('match = {}\nroles = ["importer"]\nplaces = ["*"]\nrights = []'),
      'rule[0].rights',
      'grants nothing',
    )
    refuses(
      rule('match = {}\nroles = ["exporter"]\nplaces = ["*"]\nrights = ["power"]'),
      'rule[0].rights',
      'only applies to the importer role',
    )
    refuses(rule('match = {}\nroles = ["admin"]\nname = 3'), 'rule[0].name', 'must be a string')
  })

  test('[[rule]] caps', () => {
    const importer = 'match = {}\nroles = ["importer"]\nplaces = ["*"]\n'
    refuses(rule(`${importer}max_priority = -1`), 'rule[0].max_priority', 'must be an integer from 0')
    refuses(rule(`${importer}max_priority = 1.5`), 'rule[0].max_priority', 'must be an integer from 0')
    refuses(rule(`${importer}max_priority = "10"`), 'rule[0].max_priority', 'must be an integer from 0')
    refuses(
      rule(`${importer}max_lease = "2 hours"`),
      'rule[0].max_lease',
      'write a duration string such as "30m", "2h"',
    )
    refuses(rule(`${importer}max_lease = 7200`), 'rule[0].max_lease', 'number 7200 is not a lease length')
    refuses(rule(`${importer}max_lease = "0m"`), 'rule[0].max_lease', 'is not a lease length')
    refuses(rule(`${importer}max_lease = "400d"`), 'rule[0].max_lease', 'at most 366d')
    refuses(rule(`${importer}max_reservations = 0`), 'rule[0].max_reservations', 'from 1 to')
    refuses(rule(`${importer}max_leese = "2h"`), 'rule[0].max_leese', 'did you mean max_lease?')
    refuses(
      rule('match = {}\nroles = ["admin"]\nmax_priority = 5'),
      'rule[0].max_priority',
      'add "importer" to roles',
    )
    refuses(
      rule('match = {}\nroles = ["exporter"]\ntags = ["a"]\nmax_lease = "1h"'),
      'rule[0].max_lease',
      'only applies to the importer role',
    )
  })

  test('[[service_account]]', () => {
    const sa = (body: string, issuers = ISSUER) => `${issuers}\n[[service_account]]\n${body}\n`
    refuses(sa('client_id = "ci"\nroles = ["admin"]'), 'service_account[0].name', 'is missing')
    refuses(
      sa('name = "CI Bot"\nclient_id = "ci"\nroles = ["admin"]'),
      'service_account[0].name',
      'e.g. "ci-lab-a"',
    )
    refuses(sa('name = "ci"\nroles = ["admin"]'), 'service_account[0].client_id', 'is missing')
    refuses(sa('name = "ci"\nclient_id = "ci"'), 'service_account[0].roles', 'is missing')
    refuses(
      sa('name = "ci"\nclient_id = "ci"\nroles = ["importer"]'),
      'service_account[0]',
      'need the places',
    )
    refuses(
      sa('name = "ci"\nclient_id = "ci"\nroles = ["admin"]\nmatch = {}'),
      'service_account[0].match',
      'unknown key',
    )
    refuses(
      sa('name = "ci"\nclient_id = "ci"\nroles = ["admin"]\nissuer = "https://other.example"'),
      'service_account[0].issuer',
      'is not a trusted issuer; use the url of an [[auth.issuer]]: "https://idp.example"',
    )
    const two = `${ISSUER}[[auth.issuer]]\nurl = "https://two.example"\nclient_id = "tether-hub"\n`
    refuses(
      sa('name = "ci"\nclient_id = "ci"\nroles = ["admin"]', two),
      'service_account[0].issuer',
      'several issuers',
    )
    refuses(
      sa('name = "ci"\nclient_id = "tether-hub"\nroles = ["admin"]'),
      'service_account[0].client_id',
      "hub's own login client",
    )
    refuses(
      sa(
        'name = "ci"\nclient_id = "tether-cli"\nroles = ["admin"]',
        `${ISSUER}device_client_id = "tether-cli"\n`,
      ),
      'service_account[0].client_id',
      "hub's own login client",
    )
    const twice = `${sa('name = "ci"\nclient_id = "ci"\nroles = ["admin"]')}\n[[service_account]]\nname = "ci"\nclient_id = "ci2"\nroles = ["admin"]\n`
    refuses(twice, 'service_account[1].name', 'already used at service_account[0]')
    const sameClient = `${sa('name = "ci"\nclient_id = "ci"\nroles = ["admin"]')}\n[[service_account]]\nname = "ci2"\nclient_id = "ci"\nroles = ["admin"]\n`
    refuses(sameClient, 'service_account[1].client_id', 'already used at service_account[0]')
  })

  test('every problem is reported at once, in file order', () => {
    const err = refuses(fixture('typos-hub.toml'), 'auth.issuer[0].clientid', 'did you mean client_id?')
    const paths = (err.details.issues as PolicyIssue[]).map((i) => i.path)
    assert.deepEqual(paths, [
      'auth.issuer[0].clientid',
      'auth.issuer[0].client_id',
      'rule[0].place',
      'rule[0].max_leese',
      'rule[0]',
      'rule[1].match.groups',
      'rule[1].roles[1]',
      'rule[1].places',
      'rule[1].max_priority',
      'rule[1].max_lease',
    ])
    assert.ok(
      err.message.startsWith('hub.toml: 10 problems:\n  hub.toml: auth.issuer[0].clientid: '),
      err.message,
    )
    assert.equal(err.details.file, 'hub.toml')
  })
})

function assertDeepFrozen(value: unknown, path = 'config'): void {
  if (typeof value !== 'object' || value === null) return
  assert.ok(Object.isFrozen(value), `${path} is not frozen`)
  for (const [key, child] of Object.entries(value)) assertDeepFrozen(child, `${path}.${key}`)
}
