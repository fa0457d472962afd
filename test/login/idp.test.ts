/** The IdP fixture itself: what it advertises, the service account, and its login form's refusal. */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type Idp, startIdp } from '../lib/idp.js'

describe('test IdP fixture', { timeout: 30_000 }, () => {
  let idp: Idp
  before(async () => {
    idp = await startIdp()
  })
  after(() => idp?.close())

  test('discovery advertises PKCE S256, the device grant and the groups scope on loopback http', async () => {
    const meta = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >
    assert.equal(meta.issuer, idp.issuer)
    assert.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256'])
    assert.equal(meta.device_authorization_endpoint, `${idp.issuer}/device/auth`)
    assert.ok((meta.scopes_supported as string[]).includes('groups'))
    assert.ok((meta.scopes_supported as string[]).includes('offline_access'))
    assert.ok((meta.claims_supported as string[]).includes('groups'))
    assert.equal(meta.jwks_uri, idp.jwksUri)
  })

  test('the service account gets an access token with the client credentials grant', async () => {
    const basic = Buffer.from(`${idp.serviceClient.clientId}:${idp.serviceClient.clientSecret}`).toString(
      'base64',
    )
    const res = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    })
    const body = (await res.json()) as Record<string, unknown>
    assert.equal(res.status, 200, JSON.stringify(body))
    assert.equal(typeof body.access_token, 'string')
    assert.equal(body.token_type, 'Bearer')

    const wrong = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${idp.serviceClient.clientId}:nope`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    })
    assert.equal(wrong.status, 401)
  })
})
