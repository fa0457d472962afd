import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import {
  type AccessRequest,
  type AuthError,
  type AuthErrorCode,
  accessTo,
  authorize,
  evaluate,
  type Principal,
  parseHubToml,
} from '../src/index.js'

const IDP = 'https://idp.example'
const HOUR = 3_600_000

const CONFIG = parseHubToml(
  `
[auth]
[[auth.issuer]]
url = "${IDP}"
client_id = "tether-hub"

[[service_account]]
name = "ci-lab-a"
client_id = "ci-lab-a"
roles = ["importer"]
tags = ["lab-a"]
rights = ["usb.attach", "power"]
max_priority = 50
max_lease = "2h"
max_reservations = 3

[[service_account]]
name = "exporter-lab-a"
client_id = "exporter-lab-a"
roles = ["exporter"]
tags = ["lab-a"]
places = ["bench-1"]

[[rule]]
name = "admins"
match = { groups = ["admin"] }
roles = ["admin"]

[[rule]]
name = "lab-a"
match = { groups = ["lab-a"] }
roles = ["importer"]
tags = ["lab-a"]
max_priority = 10
max_lease = "8h"
max_reservations = 2

[[rule]]
name = "rpi-1 long leases"
match = { groups = ["lab-a", "nightly"] }
roles = ["importer"]
places = ["rpi-1"]
max_priority = 5
max_lease = "1d"

[[rule]]
name = "console watchers"
match = {}
roles = ["importer"]
places = ["demo"]
rights = ["serial.ro"]
max_lease = "30m"

[[rule]]
name = "console operators"
match = { groups = ["operators"] }
roles = ["importer"]
places = ["demo"]
rights = ["serial.rw"]

[[rule]]
name = "release"
match = { groups = ["release"] }
roles = ["importer"]
places = ["*"]
max_priority = 100
`,
  'hub.toml',
)

const user = (groups: string[], name = 'ada'): Principal =>
  evaluate(CONFIG, { iss: IDP, sub: `sub-${name}`, preferred_username: name, groups })

function refused(
  principal: Principal,
  request: AccessRequest,
  code: AuthErrorCode,
  ...parts: string[]
): AuthError {
  let caught: unknown
  try {
    authorize(principal, request)
  } catch (err) {
    caught = err
  }
  const err = caught as AuthError
  assert.equal(err?.code, code, `expected ${code}, got ${String(caught)}`)
  for (const part of parts) assert.ok(err.message.includes(part), `"${err.message}" lacks "${part}"`)
  return err
}

describe('authorize: which places', () => {
  const ada = user(['lab-a'])

  test('a tag grant covers a place carrying any of its tags', () => {
    const access = authorize(ada, { action: 'reserve', place: 'rpi-7', placeTags: ['rpi4', 'lab-a'] })
    assert.deepEqual(access.grantedBy, ['rule[1]'])
    assert.deepEqual(access.rights, ['usb.attach', 'serial.rw', 'serial.ro', 'power'])
  })

  test('a place grant covers that place by name only', () => {
    const nightly = user(['lab-a', 'nightly'])
    assert.deepEqual(authorize(nightly, { action: 'reserve', place: 'rpi-1' }).grantedBy, ['rule[2]'])
    refused(nightly, { action: 'reserve', place: 'rpi-2' }, 'ERR_PERMISSION_DENIED', 'rpi-2')
  })

  test('places = ["*"] covers every place', () => {
    const rel = user(['release'])
    assert.deepEqual(authorize(rel, { action: 'attach', place: 'anything' }).grantedBy, ['rule[5]'])
  })

  test('an uncovered place is refused, naming the rule that would grant it and the file', () => {
    const err = refused(
      ada,
      { action: 'reserve', place: 'rpi-9', placeTags: ['lab-b'] },
      'ERR_PERMISSION_DENIED',
      'user "ada" may not reserve place "rpi-9" (tags lab-b)',
      'importer role',
      'It needs a rule in hub.toml such as rule[5] "release" (match: groups has all of ["release"])',
    )
    assert.deepEqual(err.details.candidates, ['rule[5]'])
    assert.equal(err.details.principal, 'ada')
  })

  test('with no rule that could grant it, the message says how to add one', () => {
    const config = parseHubToml(
      `[auth]\n[[auth.issuer]]\nurl = "${IDP}"\nclient_id = "t"\n[[rule]]\nmatch = {}\nroles = ["importer"]\nplaces = ["a"]\n`,
      '/etc/tether/hub.toml',
    )
    const p = evaluate(config, { iss: IDP, sub: 's' })
    refused(
      p,
      { action: 'attach', place: 'b' },
      'ERR_PERMISSION_DENIED',
      'No rule in /etc/tether/hub.toml grants it',
      'roles = ["importer"], places = ["b"]',
    )
  })

  test('a principal with no matching rule may do nothing', () => {
    const nobody = user([])
    refused(
      nobody,
      { action: 'reserve', place: 'rpi-1', placeTags: ['lab-a'] },
      'ERR_PERMISSION_DENIED',
      'rule[1]',
    )
    refused(nobody, { action: 'admin' }, 'ERR_PERMISSION_DENIED')
  })

  test('a request without a place is refused', () => {
    refused(ada, { action: 'reserve' }, 'ERR_PERMISSION_DENIED', 'must name a place')
  })
})

describe('authorize: roles', () => {
  test('admin is its own role', () => {
    const admin = user(['admin'])
    assert.deepEqual(authorize(admin, { action: 'admin' }).grantedBy, ['rule[0]'])
    refused(admin, { action: 'reserve', place: 'x' }, 'ERR_PERMISSION_DENIED', 'importer role')
    refused(
      user(['lab-a']),
      { action: 'admin' },
      'ERR_PERMISSION_DENIED',
      'may not administer the hub',
      'rule[0] "admins"',
    )
  })

  test('an importer may not export; an exporter may not reserve', () => {
    refused(user(['release']), { action: 'export', place: 'rpi-1' }, 'ERR_PERMISSION_DENIED', 'exporter role')
    const exporter = evaluate(CONFIG, { iss: IDP, sub: 'svc', client_id: 'exporter-lab-a' })
    assert.deepEqual(
      authorize(exporter, { action: 'export', place: 'rpi-1', placeTags: ['lab-a'] }).grantedBy,
      ['service_account[1]'],
    )
    assert.ok(authorize(exporter, { action: 'export', place: 'bench-1' }))
    refused(exporter, { action: 'export', place: 'rpi-9', placeTags: ['lab-b'] }, 'ERR_PERMISSION_DENIED')
    refused(
      exporter,
      { action: 'reserve', place: 'rpi-1', placeTags: ['lab-a'] },
      'ERR_PERMISSION_DENIED',
      'importer',
    )
  })
})

describe('authorize: rights', () => {
  test('attach asks for usb.attach by default', () => {
    const watcher = user([])
    refused(
      watcher,
      { action: 'attach', place: 'demo' },
      'ERR_PERMISSION_DENIED',
      'may not use usb.attach on place "demo"',
      'rule[3] grants only serial.ro',
    )
    assert.ok(authorize(watcher, { action: 'attach', place: 'demo', rights: ['serial.ro'] }))
  })

  test('serial.rw is refused to a read-only grant, naming the rule that grants it', () => {
    const err = refused(
      user([]),
      { action: 'attach', place: 'demo', rights: ['serial.rw'] },
      'ERR_PERMISSION_DENIED',
      'rule[4] "console operators"',
    )
    assert.deepEqual(err.details.rights, ['serial.rw'])
  })

  test('serial.rw brings serial.ro; rights are the union of the covering rules', () => {
    const operator = user(['operators'])
    const access = authorize(operator, {
      action: 'attach',
      place: 'demo',
      rights: ['serial.ro', 'serial.rw'],
    })
    assert.deepEqual(access.grantedBy, ['rule[3]', 'rule[4]'])
    assert.deepEqual(access.rights, ['serial.rw', 'serial.ro'])
    refused(operator, { action: 'attach', place: 'demo', rights: ['power'] }, 'ERR_PERMISSION_DENIED')
  })
})

describe('authorize: caps', () => {
  const ada = user(['lab-a'])
  const rpi7 = { place: 'rpi-7', placeTags: ['lab-a'] }

  test('priority up to the cap is allowed; above it ERR_PRIORITY_CAP names the cap and the rule', () => {
    assert.ok(authorize(ada, { action: 'reserve', ...rpi7, priority: 0 }))
    assert.ok(authorize(ada, { action: 'reserve', ...rpi7, priority: 10 }))
    const err = refused(
      ada,
      { action: 'reserve', ...rpi7, priority: 11 },
      'ERR_PRIORITY_CAP',
      'at priority at most 10',
      'rule[1] "lab-a"',
      'not 11',
      'max_priority in hub.toml',
    )
    assert.equal(err.details.maxPriority, 10)
  })

  test('the default max_priority is 0', () => {
    refused(user([]), { action: 'reserve', place: 'demo', priority: 1 }, 'ERR_PRIORITY_CAP', 'at most 0')
  })

  test('a nonsense priority is refused', () => {
    for (const priority of [-1, 1.5, Number.NaN]) {
      refused(ada, { action: 'reserve', ...rpi7, priority }, 'ERR_PRIORITY_CAP', 'integer ≥ 0')
    }
  })

  test('lease up to the cap is allowed; above it ERR_LEASE_TOO_LONG names the maximum', () => {
    assert.ok(authorize(ada, { action: 'reserve', ...rpi7, leaseMs: 8 * HOUR }))
    const err = refused(
      ada,
      { action: 'reserve', ...rpi7, leaseMs: 9 * HOUR },
      'ERR_LEASE_TOO_LONG',
      'for at most 8h',
      'rule[1] "lab-a"',
      'not 9h',
    )
    assert.equal(err.details.maxLeaseMs, 8 * HOUR)
    refused(ada, { action: 'reserve', ...rpi7, leaseMs: 0 }, 'ERR_LEASE_TOO_LONG', 'positive')
  })

  test('reservations: at the cap, ERR_RESERVATION_LIMIT', () => {
    assert.ok(authorize(ada, { action: 'reserve', ...rpi7, reservations: 1 }))
    refused(
      ada,
      { action: 'reserve', ...rpi7, reservations: 2 },
      'ERR_RESERVATION_LIMIT',
      'max_reservations = 2',
    )
  })

  test('several rules covering the place: each cap is the most generous of them', () => {
    const nightly = user(['lab-a', 'nightly'])
    // rpi-1 is covered by rule[1] (tag lab-a: prio 10, 8h, 2 reservations) and rule[2] (prio 5, 1d, no limit)
    const access = authorize(nightly, { action: 'reserve', place: 'rpi-1', placeTags: ['lab-a'] })
    assert.deepEqual(access.grantedBy, ['rule[1]', 'rule[2]'])
    assert.equal(access.maxPriority, 10)
    assert.equal(access.maxLeaseMs, 24 * HOUR)
    assert.equal(access.maxReservations, undefined, 'no limit beats a limit')
    assert.ok(
      authorize(nightly, { action: 'reserve', place: 'rpi-1', placeTags: ['lab-a'], leaseMs: 20 * HOUR }),
    )
    refused(
      nightly,
      { action: 'reserve', place: 'rpi-1', placeTags: ['lab-a'], leaseMs: 25 * HOUR },
      'ERR_LEASE_TOO_LONG',
      'at most 1d',
      'rule[1] "lab-a", rule[2] "rpi-1 long leases"',
    )
  })

  test("a rule's caps apply only on the places it covers", () => {
    const nightly = user(['lab-a', 'nightly'])
    refused(
      nightly,
      { action: 'reserve', place: 'rpi-7', placeTags: ['lab-a'], leaseMs: 20 * HOUR },
      'ERR_LEASE_TOO_LONG',
      'at most 8h',
    )
  })

  test('no max_lease in a covering rule means no lease limit there', () => {
    const rel = user(['release', 'lab-a'])
    const access = authorize(rel, { action: 'reserve', ...rpi7, leaseMs: 1000 * HOUR, priority: 100 })
    assert.equal(access.maxLeaseMs, undefined)
    assert.equal(access.maxPriority, 100)
  })

  test('accessTo reports what a principal may do on a place without a request', () => {
    const ada2 = user(['lab-a'])
    assert.equal(accessTo(ada2, 'importer', 'rpi-9', ['lab-b']), undefined)
    assert.deepEqual(accessTo(ada2, 'importer', 'rpi-7', ['lab-a']), {
      place: 'rpi-7',
      grantedBy: ['rule[1]'],
      rights: ['usb.attach', 'serial.rw', 'serial.ro', 'power'],
      maxPriority: 10,
      maxLeaseMs: 8 * HOUR,
      maxReservations: 2,
    })
  })
})

describe('service accounts', () => {
  test('identified by the client_id claim (RFC 9068): fixed name, kind, grant', () => {
    const ci = evaluate(CONFIG, { iss: IDP, sub: 'service-account-ci', client_id: 'ci-lab-a', azp: 'other' })
    assert.equal(ci.kind, 'service')
    assert.equal(ci.name, 'ci-lab-a')
    assert.equal(ci.subject, 'service-account-ci')
    assert.deepEqual(ci.roles, ['importer'])
    assert.deepEqual(
      ci.grants.map((g) => g.id),
      ['service_account[0]', 'rule[3]'],
    )
    const access = authorize(ci, {
      action: 'reserve',
      place: 'rpi-7',
      placeTags: ['lab-a'],
      priority: 50,
      leaseMs: 2 * HOUR,
      reservations: 2,
    })
    assert.deepEqual(access.rights, ['usb.attach', 'power'])
    refused(
      ci,
      { action: 'reserve', place: 'rpi-7', placeTags: ['lab-a'], priority: 51 },
      'ERR_PRIORITY_CAP',
      'service account "ci-lab-a"',
      'service_account[0] "ci-lab-a"',
    )
    refused(
      ci,
      { action: 'attach', place: 'rpi-7', placeTags: ['lab-a'], rights: ['serial.rw'] },
      'ERR_PERMISSION_DENIED',
    )
    refused(
      ci,
      { action: 'reserve', place: 'rpi-7', placeTags: ['lab-a'], reservations: 3 },
      'ERR_RESERVATION_LIMIT',
    )
  })

  test('or by azp when the token has no client_id claim', () => {
    const ci = evaluate(CONFIG, { iss: IDP, sub: 'x', azp: 'ci-lab-a' })
    assert.equal(ci.kind, 'service')
    assert.equal(ci.name, 'ci-lab-a')
  })

  test('a client_id claim that is not listed wins over a listed azp', () => {
    const p = evaluate(CONFIG, { iss: IDP, sub: 'x', client_id: 'tether-hub', azp: 'ci-lab-a' })
    assert.equal(p.kind, 'user')
  })

  test('rules still apply to a service account token', () => {
    const ci = evaluate(CONFIG, { iss: IDP, sub: 'x', client_id: 'ci-lab-a', groups: ['release'] })
    assert.deepEqual(
      ci.grants.map((g) => g.id),
      ['service_account[0]', 'rule[3]', 'rule[5]'],
    )
  })

  test('the same client id at another issuer is not the service account', () => {
    const config = parseHubToml(
      readFileSync(new URL('../../test/fixtures/policy/local-dex-hub.toml', import.meta.url), 'utf8'),
      'hub.toml',
    )
    const at = (iss: string) => evaluate(config, { iss, sub: 's', client_id: 'tether-ci' })
    assert.equal(at('http://127.0.0.1:5556/dex').kind, 'service')
    assert.equal(at('http://localhost:8080/realms/test').kind, 'user')
    assert.deepEqual(at('http://localhost:8080/realms/test').roles, [])
  })
})
