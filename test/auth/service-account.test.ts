/**
 * Service accounts for CI: a CI job gets a token from the OpenID Provider (test/lib/idp.ts) with the
 * OAuth client credentials grant — a plain POST to the token endpoint with the client's secret in
 * HTTP basic auth and `resource=urn:tether:hub` — and uses it with the hub. The token is an RFC 9068
 * JWT access token (`typ: at+jwt`, `sub` = `client_id` = the client, `aud` = the resource) the
 * hub verifies offline against the IdP's keys; hub.toml maps its client to a [[service_account]].
 *
 * Shown: `whoami` over the hub protocol names the service account with its roles; it reserves a
 * place within its max_lease; a token for another resource (audience) or an opaque token is
 * refused, and so is the hub's own token when hub.toml does not list the resource as an audience;
 * the `tether` CLI as a child process logs in with `--token-cmd` and works with it, as a CI job
 * would. No browser: the exporter is enrolled with a join token the hub operator issues directly
 * (the admin flow for join tokens is in hub-auth.test.ts).
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Multiaddr } from '@multiformats/multiaddr'
import { IdTokenVerifier, parseHubToml } from '@tether/auth'
import { callHub, type HubRequest, HubRequestError } from '@tether/control'
import { keepRegistered, type RegistrationHandle } from '@tether/directory'
import type { Hub } from '@tether/hub'
import { createTetherNode, type TetherNode } from '@tether/net'
import { serviceAccountHubToml, startAuthHub } from '../lib/auth-hub.js'
import { tetherOk } from '../lib/cli-run.js'
import { clientCredentials, type Idp, startIdp } from '../lib/idp.js'

/** The issuer alone, with the CLI's client id as the only audience (no service accounts). */
const issuerOnlyToml = (issuer: string) => `
[auth]
[[auth.issuer]]
url = "${issuer}"
client_id = "tether-cli"
`

function decode(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [h, p] = token.split('.') as [string, string]
  const part = (s: string) =>
    JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>
  return { header: part(h), claims: part(p) }
}

describe('service accounts: a CI job with a client-credentials token', { timeout: 120_000 }, () => {
  let idp: Idp
  let dir: string
  let hub: Hub
  let hubAddress: Multiaddr
  let token: string
  const nodes: TetherNode[] = []
  let registration: RegistrationHandle | undefined

  const newNode = async () => {
    const n = await createTetherNode({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
    nodes.push(n)
    return n
  }
  const refusedWith = (code: string) => (err: unknown) => {
    assert.ok(err instanceof HubRequestError, String(err))
    assert.equal(err.code, code, err.message)
    return true
  }
  const reserve = (leaseMs: number): HubRequest['body'] => ({
    type: 'reserve',
    place: 'rpi-1',
    tags: [],
    parts: [],
    priority: 0,
    leaseMs,
    wait: false,
  })

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tether-service-account-'))
    idp = await startIdp()
    ;({ hub, address: hubAddress } = await startAuthHub({ toml: serviceAccountHubToml(idp), dir }))

    // An enrolled exporter with one place (the join token from the hub operator, out of band).
    const authority = hub.authority
    assert.ok(authority)
    const { token: joinToken } = authority.enrollment.issue('lab-1', 60_000, 'test operator')
    const exporter = await newNode()
    assert.deepEqual(
      await callHub(exporter, hubAddress, { login: '', body: { type: 'enroll', joinToken } }),
      {
        type: 'enrolled',
        exporter: 'lab-1',
      },
    )
    registration = keepRegistered(exporter, {
      hub: hubAddress,
      registration: () => ({
        name: 'lab-1',
        addresses: ['/ip4/127.0.0.1/tcp/9'],
        places: [
          {
            name: 'rpi-1',
            tags: ['ci'],
            parts: [{ name: 'board', compatible: ['raspberrypi,4'], interfaces: [] }],
          },
        ],
      }),
    })
    await registration.firstRegistered
  })

  after(async () => {
    await registration?.stop().catch(() => {})
    await Promise.allSettled(nodes.map((n) => n.stop()))
    await hub?.stop()
    await idp?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  test('the IdP issues an RFC 9068 JWT access token for the hub resource', async () => {
    const response = await clientCredentials(idp, idp.resources.hub)
    assert.equal(response.status, 200, JSON.stringify(response))
    assert.equal(response.token_type, 'Bearer')
    assert.equal(response.scope, idp.resourceScope)
    token = response.access_token ?? ''
    const { header, claims } = decode(token)
    assert.deepEqual([header.typ, header.alg], ['at+jwt', 'RS256'])
    assert.equal(claims.iss, idp.issuer)
    assert.equal(claims.aud, 'urn:tether:hub')
    assert.equal(claims.sub, 'tether-service')
    assert.equal(claims.client_id, 'tether-service')
    assert.ok(typeof claims.iat === 'number' && typeof claims.exp === 'number')
    // A resource the IdP does not know is its invalid_target.
    const unknown = await clientCredentials(idp, 'urn:example:unknown')
    assert.deepEqual([unknown.status, unknown.error], [400, 'invalid_target'])
  })

  test('whoami over the hub protocol: the service account with its roles', async () => {
    const ci = await newNode()
    const me = await callHub(ci, hubAddress, { login: token, body: { type: 'whoami' } })
    assert.equal(me.type, 'identity')
    if (me.type !== 'identity') return
    assert.equal(me.user, 'ci-lab')
    assert.deepEqual(me.roles, ['importer'])
    assert.equal(me.issuer, idp.issuer)
    assert.equal(me.expiresAtMs, (decode(token).claims.exp as number) * 1000)
  })

  test('it reserves a place; max_lease = 30m caps the lease', async () => {
    const ci = await newNode()
    await assert.rejects(
      callHub(ci, hubAddress, { login: token, body: reserve(2 * 3_600_000) }),
      refusedWith('ERR_LEASE_TOO_LONG'),
    )
    const lease = await callHub(ci, hubAddress, { login: token, body: reserve(0) })
    assert.equal(lease.type, 'lease')
    if (lease.type !== 'lease') return
    assert.deepEqual(
      [lease.lease.place, lease.lease.exporter, lease.lease.user],
      ['rpi-1', 'lab-1', 'ci-lab'],
    )
    assert.equal(lease.lease.expiresAtMs - lease.lease.startsAtMs, 30 * 60_000, 'no --for: max_lease')
    const returned = await callHub(ci, hubAddress, {
      login: token,
      body: { type: 'return', id: lease.lease.id },
    })
    assert.equal(returned.type, 'lease')
  })

  test('refused: a token for another audience, an opaque token; the hub resource only when listed', async () => {
    const ci = await newNode()
    const other = await clientCredentials(idp, idp.resources.other)
    assert.equal(other.status, 200, JSON.stringify(other))
    assert.equal(decode(other.access_token ?? '').claims.aud, idp.resources.other)
    await assert.rejects(
      callHub(ci, hubAddress, { login: other.access_token ?? '', body: { type: 'whoami' } }),
      refusedWith('ERR_TOKEN_AUDIENCE'),
    )
    // Without resource= the IdP gives an opaque token, which the hub cannot verify offline.
    const opaque = await clientCredentials(idp)
    assert.equal(opaque.status, 200, JSON.stringify(opaque))
    assert.ok(!opaque.access_token?.includes('.'), 'opaque')
    await assert.rejects(
      callHub(ci, hubAddress, { login: opaque.access_token ?? '', body: { type: 'whoami' } }),
      refusedWith('ERR_TOKEN_MALFORMED'),
    )
    // The hub's own token is accepted only because hub.toml lists urn:tether:hub as an audience:
    // with the default audiences (client_id only) the same token is refused.
    const defaults = parseHubToml(issuerOnlyToml(idp.issuer), 'hub.toml')
    assert.ok(defaults.mode !== 'open')
    assert.deepEqual(
      defaults.issuers.map((i) => i.audiences),
      [['tether-cli']],
    )
    await assert.rejects(new IdTokenVerifier({ issuers: defaults.issuers }).verify(token), {
      code: 'ERR_TOKEN_AUDIENCE',
    })
  })

  test('the tether CLI logs in with --token-cmd and works with the token, as a CI job would', async () => {
    const file = join(dir, 'ci-token.jwt')
    await writeFile(file, token, { mode: 0o600 })
    const env = {
      XDG_STATE_HOME: join(dir, 'ci-state'),
      TETHER_CREDENTIALS: 'file',
      DISPLAY: '',
      WAYLAND_DISPLAY: '',
    }
    const hubText = hubAddress.toString()
    assert.equal(
      await tetherOk(['login', hubText, '--token-cmd', `cat '${file}'`], env),
      `logged in to ${hubText} as ci-lab (roles: importer)\n`,
    )
    assert.match(await tetherOk(['whoami', hubText], env), /^ci-lab at \S+ \(roles: importer\), issuer /)
    const me = JSON.parse(await tetherOk(['whoami', hubText, '--json'], env)) as {
      user: string
      roles: string[]
      issuer: string
      verified: boolean
    }
    assert.deepEqual([me.user, me.roles, me.issuer, me.verified], ['ci-lab', ['importer'], idp.issuer, true])
    const lease = JSON.parse(await tetherOk(['reserve', 'rpi-1', '--hub', hubText, '--json'], env)) as {
      id: string
      user: string
      startsAtMs: number
      expiresAtMs: number
    }
    assert.equal(lease.user, 'ci-lab')
    assert.equal(lease.expiresAtMs - lease.startsAtMs, 30 * 60_000)
    await tetherOk(['return', lease.id, '--hub', hubText], env)
  })
})
