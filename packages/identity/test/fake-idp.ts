import type { Fetch } from '../src/deps.js'

export const ISSUER = 'https://idp.example.test'
export const CLIENT_ID = 'tether-cli'

export interface FakeIdp {
  fetch: Fetch
  /** Form bodies posted to the token endpoint, in order. */
  tokenRequests: URLSearchParams[]
}

/**
 * An IdP that exists only as a fetch function: discovery, device authorization, and a token
 * endpoint answering from `tokenReplies` in turn. No sockets.
 */
export function fakeIdp(tokenReplies: Array<{ status: number; body: Record<string, unknown> }>): FakeIdp {
  const tokenRequests: URLSearchParams[] = []
  const json = (status: number, body: unknown): Response =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : input)
    switch (url.pathname) {
      case '/.well-known/openid-configuration':
        return json(200, {
          issuer: ISSUER,
          authorization_endpoint: `${ISSUER}/auth`,
          token_endpoint: `${ISSUER}/token`,
          device_authorization_endpoint: `${ISSUER}/device/auth`,
          jwks_uri: `${ISSUER}/jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
        })
      case '/device/auth':
        return json(200, {
          device_code: 'dc-1',
          user_code: 'ABCD-EFGH',
          verification_uri: `${ISSUER}/device`,
          verification_uri_complete: `${ISSUER}/device?user_code=ABCD-EFGH`,
          expires_in: 600,
        })
      case '/token': {
        tokenRequests.push(new URLSearchParams(String(init?.body ?? '')))
        const reply = tokenReplies.shift()
        if (!reply) return json(500, { error: 'server_error' })
        return json(reply.status, reply.body)
      }
      default:
        return json(404, {})
    }
  }) as Fetch
  return { fetch, tokenRequests }
}
