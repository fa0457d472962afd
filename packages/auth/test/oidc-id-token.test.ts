import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'
import { IdTokenVerifier } from '../src/oidc/id-token.js'

const NOW = 1_800_000_000_000
type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey']

/** A minimal issuer on loopback: discovery document and key set, over real HTTP. */
async function startIssuer(): Promise<{
  url: string
  sign: (
    claims: Record<string, unknown>,
    options?: { kid?: string; key?: PrivateKey; typ?: string },
  ) => Promise<string>
  requests: string[]
  server: Server
}> {
  const { privateKey, publicKey } = await generateKeyPair('RS256')
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
  const requests: string[] = []
  let url = ''
  const server = createServer((req, res) => {
    requests.push(req.url ?? '')
    res.setHeader('content-type', 'application/json')
    if (req.url === '/.well-known/openid-configuration') {
      res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/jwks` }))
    } else if (req.url === '/jwks') {
      res.end(JSON.stringify({ keys: [jwk] }))
    } else {
      res.statusCode = 404
      res.end('{}')
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const sign = (
    claims: Record<string, unknown>,
    options: { kid?: string; key?: PrivateKey; typ?: string } = {},
  ) =>
    new SignJWT({
      iss: url,
      aud: 'tether-cli',
      sub: 'alice',
      iat: NOW / 1000,
      exp: NOW / 1000 + 3600,
      ...claims,
    })
      .setProtectedHeader({
        alg: 'RS256',
        kid: options.kid ?? 'k1',
        ...(options.typ === undefined ? {} : { typ: options.typ }),
      })
      .sign(options.key ?? privateKey)
  return { url, sign, requests, server }
}

describe('IdTokenVerifier', () => {
  let issuer: Awaited<ReturnType<typeof startIssuer>>
  let verifier: IdTokenVerifier

  before(async () => {
    issuer = await startIssuer()
    verifier = new IdTokenVerifier({
      issuers: [{ url: issuer.url, audiences: ['tether-cli'] }],
      now: () => NOW,
    })
  })
  after(() => issuer?.server.close())

  it('accepts a token from a trusted issuer and returns its claims', async () => {
    const identity = await verifier.verify(await issuer.sign({ groups: ['lab', 'ci'] }))
    assert.equal(identity.subject, 'alice')
    assert.equal(identity.issuer, issuer.url)
    assert.deepEqual(identity.claims.groups, ['lab', 'ci'])
    assert.equal(identity.expiresAt, NOW + 3_600_000)
  })

  it('fetches discovery and keys once for many tokens', async () => {
    const before = issuer.requests.length
    for (let i = 0; i < 5; i++) await verifier.verify(await issuer.sign({}))
    assert.equal(issuer.requests.length, before)
  })

  it('remembers a verified token until it expires, then refuses it', async () => {
    let now = NOW
    const remembering = new IdTokenVerifier({
      issuers: [{ url: issuer.url, audiences: ['tether-cli'] }],
      now: () => now,
      clockToleranceS: 30,
      cacheSize: 2,
    })
    const token = await issuer.sign({ exp: NOW / 1000 + 60 })
    const first = await remembering.verify(token)
    assert.equal(await remembering.verify(token), first, 'the same verified identity, not verified again')
    now = NOW + 60_000 + 30_000
    assert.equal(await remembering.verify(token), first, 'within the clock tolerance')
    now += 1
    await assert.rejects(remembering.verify(token), { code: 'ERR_TOKEN_EXPIRED' })
    // Bounded: the least recently verified token is forgotten.
    now = NOW
    const [a, b, c] = await Promise.all([
      issuer.sign({ sub: 'a' }),
      issuer.sign({ sub: 'b' }),
      issuer.sign({ sub: 'c' }),
    ])
    const ia = await remembering.verify(a)
    await remembering.verify(b)
    await remembering.verify(c)
    assert.notEqual(await remembering.verify(a), ia, 'a was verified again')
  })

  const refusals: [string, () => Promise<string>, string][] = [
    ['wrong audience', () => issuer.sign({ aud: 'someone-else' }), 'ERR_TOKEN_AUDIENCE'],
    ['expired', () => issuer.sign({ exp: NOW / 1000 - 60 }), 'ERR_TOKEN_EXPIRED'],
    ['not yet valid', () => issuer.sign({ nbf: NOW / 1000 + 600 }), 'ERR_TOKEN_NOT_YET_VALID'],
    ['untrusted issuer', () => issuer.sign({ iss: 'https://evil.example' }), 'ERR_TOKEN_ISSUER'],
    [
      'tampered payload',
      async () => {
        const [h, p, s] = (await issuer.sign({})).split('.') as [string, string, string]
        const claims = JSON.parse(Buffer.from(p, 'base64url').toString())
        claims.sub = 'root'
        return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`
      },
      'ERR_TOKEN_SIGNATURE',
    ],
    [
      'signed by a key the issuer does not publish',
      async () => issuer.sign({}, { key: (await generateKeyPair('RS256')).privateKey }),
      'ERR_TOKEN_SIGNATURE',
    ],
    [
      'alg none',
      async () => {
        const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
        return `${enc({ alg: 'none' })}.${enc({ iss: issuer.url, aud: 'tether-cli', sub: 'alice', iat: NOW / 1000, exp: NOW / 1000 + 60 })}.`
      },
      'ERR_TOKEN_ALGORITHM',
    ],
    ['not a JWT', async () => 'hello', 'ERR_TOKEN_MALFORMED'],
  ]
  for (const [name, make, code] of refusals) {
    it(`refuses a token: ${name} (${code})`, async () => {
      await assert.rejects(verifier.verify(await make()), { name: 'AuthError', code })
    })
  }

  /** A service account's client-credentials token as RFC 9068 shapes it (oidc-provider's, Keycloak's). */
  const accessToken = () =>
    issuer.sign(
      {
        aud: 'urn:tether:hub',
        sub: 'tether-service',
        client_id: 'tether-service',
        scope: 'tether',
        jti: 'at-1',
      },
      { typ: 'at+jwt' },
    )

  it('accepts an RFC 9068 access token (typ at+jwt) when the issuer lists its audience', async () => {
    const withResource = new IdTokenVerifier({
      issuers: [{ url: issuer.url, audiences: ['tether-cli', 'urn:tether:hub'] }],
      now: () => NOW,
    })
    const identity = await withResource.verify(await accessToken())
    assert.equal(identity.subject, 'tether-service')
    assert.equal(identity.claims.client_id, 'tether-service')
    assert.equal(identity.claims.aud, 'urn:tether:hub')
    // ID tokens for the CLI's client keep working next to it.
    assert.equal((await withResource.verify(await issuer.sign({}))).subject, 'alice')
  })

  it('refuses that access token when the issuer does not list its audience (ERR_TOKEN_AUDIENCE)', async () => {
    await assert.rejects(verifier.verify(await accessToken()), {
      name: 'AuthError',
      code: 'ERR_TOKEN_AUDIENCE',
    })
  })

  it('refuses an issuer whose discovery document names another issuer', async () => {
    const other = new IdTokenVerifier({
      issuers: [{ url: `${issuer.url}/`, audiences: ['tether-cli'] }],
      now: () => NOW,
    })
    await assert.rejects(other.verify(await issuer.sign({ iss: `${issuer.url}/` })), {
      code: 'ERR_JWKS_UNAVAILABLE',
    })
  })

  it('refuses plain-http issuers that are not on loopback', () => {
    assert.throws(() => new IdTokenVerifier({ issuers: [{ url: 'http://idp.example', audiences: ['x'] }] }), {
      code: 'ERR_POLICY_CONFIG',
    })
  })
})
