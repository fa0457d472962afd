import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { type AuthError, type Claims, evaluate, namedClaim, parseHubToml, satisfies } from '../src/index.js'

const IDP = 'https://idp.example'
const HEAD = `[auth]\n[[auth.issuer]]\nurl = "${IDP}"\nclient_id = "tether-hub"\n`

/** A config with one admin rule whose match is `match` (inline TOML). */
function ruleWith(match: string, issuerExtra = '') {
  return parseHubToml(`${HEAD}${issuerExtra}\n[[rule]]\nmatch = ${match}\nroles = ["admin"]\n`, 'hub.toml')
}

/** Whether a token with these claims (plus iss/sub) matches the single rule. */
function matches(match: string, claims: Record<string, unknown>, issuerExtra = ''): boolean {
  const principal = evaluate(ruleWith(match, issuerExtra), { iss: IDP, sub: 'u1', ...claims })
  return principal.roles.includes('admin')
}

describe('claim matching', () => {
  test('scalar rule vs scalar claim: equality, type-sensitive', () => {
    assert.equal(matches('{ email = "ada@example.com" }', { email: 'ada@example.com' }), true)
    assert.equal(matches('{ email = "ada@example.com" }', { email: 'bob@example.com' }), false)
    assert.equal(matches('{ email = "ada@example.com" }', { email: 'ADA@example.com' }), false)
    assert.equal(matches('{ email_verified = true }', { email_verified: true }), true)
    assert.equal(matches('{ email_verified = true }', { email_verified: 'true' }), false)
    assert.equal(matches('{ level = 3 }', { level: 3 }), true)
    assert.equal(matches('{ level = 3 }', { level: '3' }), false)
  })

  test('scalar rule vs list claim: no match, even when the list holds the value', () => {
    assert.equal(matches('{ groups = "lab" }', { groups: ['lab'] }), false)
    assert.equal(matches('{ groups = "lab" }', { groups: ['lab', 'other'] }), false)
  })

  test('list rule vs list claim: the token list must hold EVERY listed value', () => {
    assert.equal(matches('{ groups = ["lab"] }', { groups: ['lab'] }), true)
    assert.equal(matches('{ groups = ["lab", "rpi"] }', { groups: ['rpi', 'lab'] }), true)
    assert.equal(
      matches('{ groups = ["lab", "rpi"] }', { groups: ['x', 'lab', 'rpi', 'y'] }),
      true,
      'extras are fine',
    )
  })

  test('list rule vs list claim lacking one required value: NO match', () => {
    assert.equal(matches('{ groups = ["lab", "rpi"] }', { groups: ['lab'] }), false)
    assert.equal(matches('{ groups = ["lab", "rpi"] }', { groups: ['rpi', 'other'] }), false)
    assert.equal(matches('{ groups = ["lab", "rpi"] }', { groups: [] }), false)
    assert.equal(matches('{ groups = ["1"] }', { groups: [1] }), false, 'elements compare type-sensitively')
  })

  test('list rule vs scalar claim: no match, even a one-element list equal to it', () => {
    assert.equal(matches('{ groups = ["lab"] }', { groups: 'lab' }), false)
    assert.equal(matches('{ groups = ["lab", "rpi"] }', { groups: 'lab rpi' }), false)
  })

  test('missing, null and object claims match nothing', () => {
    assert.equal(matches('{ groups = ["lab"] }', {}), false)
    assert.equal(matches('{ email = "a@b" }', {}), false)
    assert.equal(matches('{ email = "a@b" }', { email: null }), false)
    assert.equal(matches('{ groups = ["lab"] }', { groups: null }), false)
    assert.equal(matches('{ email = "a@b" }', { email: { value: 'a@b' } }), false)
    // inherited properties are not claims
    assert.equal(matches('{ constructor = "Object" }', {}), false)
    assert.equal(matches('{ toString = ["x"] }', {}), false)
  })

  test('all conditions must hold', () => {
    const rule = '{ groups = ["lab"], email_verified = true }'
    assert.equal(matches(rule, { groups: ['lab'], email_verified: true }), true)
    assert.equal(matches(rule, { groups: ['lab'], email_verified: false }), false)
    assert.equal(matches(rule, { groups: ['lab'] }), false)
  })

  test('match = {} matches every token of a trusted issuer', () => {
    assert.equal(matches('{}', {}), true)
  })

  test('nested claims: TOML dotted keys and sub-tables walk into objects', () => {
    const token = {
      realm_access: { roles: ['lab', 'rpi'] },
      resource_access: { 'tether-hub': { roles: ['x'] } },
    }
    assert.equal(matches('{ realm_access.roles = ["lab"] }', token), true)
    assert.equal(matches('{ realm_access = { roles = ["lab", "rpi"] } }', token), true)
    assert.equal(matches('{ resource_access.tether-hub.roles = ["x"] }', token), true)
    assert.equal(matches('{ realm_access.roles = ["admin"] }', token), false)
    assert.equal(matches('{ realm_access.roles = ["lab"] }', { realm_access: [{ roles: ['lab'] }] }), false)
    assert.equal(matches('{ realm_access.roles = ["lab"] }', { 'realm_access.roles': ['lab'] }), false)
  })

  test('a quoted key is one claim name, dots and all', () => {
    const rule = '{ "https://tether.example/groups" = ["lab"] }'
    assert.equal(matches(rule, { 'https://tether.example/groups': ['lab'] }), true)
    assert.equal(matches('{ "realm_access.roles" = ["lab"] }', { realm_access: { roles: ['lab'] } }), false)
    assert.equal(matches('{ "realm_access.roles" = ["lab"] }', { 'realm_access.roles': ['lab'] }), true)
  })

  test('satisfies() on its own', () => {
    const claims: Claims = { a: { b: [1, 2] } }
    assert.equal(satisfies(claims, { kind: 'containsAll', path: ['a', 'b'], values: [2] }), true)
    assert.equal(satisfies(claims, { kind: 'equals', path: ['a', 'b'], value: 1 }), false)
    assert.equal(satisfies(claims, { kind: 'equals', path: ['a', 'c'], value: 1 }), false)
  })

  test('namedClaim: exact name first, then a dotted path', () => {
    assert.deepEqual(namedClaim({ 'a.b': 1, a: { b: 2 } }, 'a.b'), 1)
    assert.deepEqual(namedClaim({ a: { b: 2 } }, 'a.b'), 2)
    assert.equal(namedClaim({ a: 1 }, 'a.b'), undefined)
    assert.equal(namedClaim({}, 'toString'), undefined)
  })
})

describe('groups_claim', () => {
  const realm = 'groups_claim = "realm_access.roles"\n'

  test('rules see the configured claim as groups', () => {
    assert.equal(matches('{ groups = ["lab"] }', { realm_access: { roles: ['lab'] } }, realm), true)
    const principal = evaluate(ruleWith('{}', realm), {
      iss: IDP,
      sub: 'u',
      realm_access: { roles: ['lab', 7] },
    })
    assert.deepEqual(principal.groups, ['lab'])
  })

  test("with groups_claim set, the token's own groups claim is not used", () => {
    assert.equal(matches('{ groups = ["lab"] }', { groups: ['lab'] }, realm), false)
    assert.equal(
      matches('{ groups = ["lab"] }', { groups: ['lab'], realm_access: { roles: [] } }, realm),
      false,
    )
  })

  test('a namespaced claim name with dots', () => {
    const extra = 'groups_claim = "https://tether.example/groups"\n'
    assert.equal(matches('{ groups = ["lab"] }', { 'https://tether.example/groups': ['lab'] }, extra), true)
  })

  test('without groups_claim, principal.groups is the groups claim (strings only)', () => {
    const principal = evaluate(ruleWith('{}'), { iss: IDP, sub: 'u', groups: ['a', 1, 'b'] })
    assert.deepEqual(principal.groups, ['a', 'b'])
    assert.deepEqual(evaluate(ruleWith('{}'), { iss: IDP, sub: 'u', groups: 'solo' }).groups, ['solo'])
    assert.deepEqual(evaluate(ruleWith('{}'), { iss: IDP, sub: 'u' }).groups, [])
  })
})

describe('evaluate: who the token names', () => {
  const config = ruleWith('{}')

  test('user name: preferred_username, then email, then sub', () => {
    const name = (claims: Record<string, unknown>) =>
      evaluate(config, { iss: IDP, sub: 's-1', ...claims }).name
    assert.equal(name({ preferred_username: 'ada', email: 'ada@example.com' }), 'ada')
    assert.equal(name({ preferred_username: '', email: 'ada@example.com' }), 'ada@example.com')
    assert.equal(name({ preferred_username: 7, email: 'ada@example.com' }), 'ada@example.com')
    assert.equal(name({}), 's-1')
  })

  test('claim_user: that claim, then sub', () => {
    const custom = ruleWith('{}', 'claim_user = "upn"\n')
    assert.equal(
      evaluate(custom, { iss: IDP, sub: 's-1', upn: 'ada@corp', preferred_username: 'x' }).name,
      'ada@corp',
    )
    assert.equal(evaluate(custom, { iss: IDP, sub: 's-1', preferred_username: 'x' }).name, 's-1')
    const nested = ruleWith('{}', 'claim_user = "profile.login"\n')
    assert.equal(evaluate(nested, { iss: IDP, sub: 's-1', profile: { login: 'ada' } }).name, 'ada')
  })

  test('the principal carries issuer, subject and kind, and is frozen', () => {
    const principal = evaluate(config, { iss: IDP, sub: 's-1', preferred_username: 'ada' })
    assert.equal(principal.kind, 'user')
    assert.equal(principal.issuer, IDP)
    assert.equal(principal.subject, 's-1')
    assert.equal(principal.config, config)
    assert.ok(
      Object.isFrozen(principal) && Object.isFrozen(principal.roles) && Object.isFrozen(principal.grants),
    )
  })

  test('an untrusted issuer is refused', () => {
    for (const iss of ['https://evil.example', `${IDP}/`, undefined, 42]) {
      assert.throws(
        () => evaluate(config, { iss, sub: 's' }),
        (err: AuthError) =>
          err.code === 'ERR_TOKEN_ISSUER' &&
          err.message.includes('hub.toml') &&
          err.message.includes(`"${IDP}"`),
      )
    }
  })

  test('a token without sub is refused', () => {
    for (const sub of [undefined, '', 5]) {
      assert.throws(
        () => evaluate(config, { iss: IDP, sub }),
        (err: AuthError) => err.code === 'ERR_TOKEN_MALFORMED',
      )
    }
  })

  test('an open-mode config has no policy to evaluate', () => {
    const open = parseHubToml('', 'hub.toml', { insecure: true })
    assert.throws(
      () => evaluate(open, { iss: IDP, sub: 's' }),
      (err: AuthError) => err.code === 'ERR_POLICY_NO_AUTH',
    )
  })

  test('the example config: roles are the union over matching rules, in a fixed order', () => {
    const example = parseHubToml(
      readFileSync(new URL('../../../../examples/hub.toml', import.meta.url), 'utf8'),
      'hub.toml',
    )
    const sso = 'https://sso.example.com/realms/lab'
    const principal = evaluate(example, {
      iss: sso,
      sub: 'u-1',
      preferred_username: 'ada',
      email_verified: true,
      realm_access: { roles: ['lab-a', 'tether-admin', 'lab-b-exporter'] },
      resource_access: { 'tether-hub': { roles: ['exporter'] } },
    })
    assert.deepEqual(principal.roles, ['admin', 'exporter', 'importer'])
    assert.deepEqual(
      principal.grants.map((g) => g.id),
      ['rule[0]', 'rule[1]', 'rule[3]', 'rule[5]'],
    )
    const nobody = evaluate(example, { iss: sso, sub: 'u-2' })
    assert.deepEqual(nobody.roles, ['importer'], 'only the match = {} rule')
    assert.deepEqual(
      nobody.grants.map((g) => g.id),
      ['rule[3]'],
    )
    // The github-ci rule is pinned to its issuer: the same claims from the other issuer do not match.
    const ciClaims = { sub: 'repo:x', repository: 'example-org/firmware', ref: 'refs/heads/main' }
    const gh = evaluate(example, { ...ciClaims, iss: 'https://token.actions.githubusercontent.com' })
    assert.ok(gh.grants.some((g) => g.id === 'rule[4]'))
    assert.ok(!evaluate(example, { ...ciClaims, iss: sso }).grants.some((g) => g.id === 'rule[4]'))
  })
})
