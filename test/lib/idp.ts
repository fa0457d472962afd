/**
 * A real OpenID Provider (oidc-provider 9) in-process on 127.0.0.1 with a random port, for login
 * tests. Plain http on loopback only: clients must opt in to insecure requests for it
 * (openid-client 6: `allowInsecureRequests`, which @tether/identity applies to loopback issuers
 * only).
 *
 * What it offers:
 * - `tether-cli`: a public native client (no secret, PKCE S256 required) whose redirect URI
 *   `http://127.0.0.1/callback` matches any loopback port (RFC 8252 §7.3, oidc-provider does this for
 *   `application_type: 'native'`), with the authorization code, refresh token and device grants;
 * - `tether-service`: a confidential client (client_secret_basic) for the client credentials grant,
 *   as a CI job signs in (a service account); `tether-admin-service`, a second one alike (a service
 *   account hub.toml may give another role, e.g. an admin's automation). Asked for the resource `urn:tether:hub` (RFC 8707
 *   `resource=`), it gets an RFC 9068 JWT access token the hub can verify offline: header
 *   `typ: at+jwt`, RS256 with the IdP's published key, `aud` = the resource, `sub` = `client_id` =
 *   the client id, `scope`, `iat`, `exp`. A second resource, `urn:example:elsewhere`, gives the
 *   same kind of token for another audience; without `resource=` the token is opaque (as before);
 *   other resources are `invalid_target`;
 * - users with passwords and claims, a `groups` scope carrying a list claim; the claims go into the
 *   ID token (conformIdTokenClaims off) since the ID token is what the hub verifies;
 * - refresh tokens when `offline_access` is granted, token lifetimes set per fixture (short ones to
 *   test refresh);
 * - its own minimal login/consent pages (oidc-provider's dev interactions load Google Fonts; these
 *   load nothing from outside loopback) with a Cancel link answering `access_denied`.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface IdpUser {
  /** The login name typed into the form; also the `sub`. */
  sub: string
  password: string
  /** Claims released by scope: name/preferred_username (profile), email/email_verified (email), groups. */
  claims: Record<string, unknown>
}

export interface IdpOptions {
  users?: IdpUser[]
  /** Seconds. Defaults: ID token 3600, access token 3600, refresh token 86400, device code 600. */
  idTokenTtlS?: number
  accessTokenTtlS?: number
  refreshTokenTtlS?: number
  deviceCodeTtlS?: number
}

export interface Idp {
  /** `http://127.0.0.1:<port>` */
  readonly issuer: string
  readonly jwksUri: string
  /** The public native client (PKCE + loopback redirect, device grant, refresh). */
  readonly cliClientId: string
  /** The confidential client for the client credentials grant (client_secret_basic). */
  readonly serviceClient: ServiceClient
  /** A second confidential client like it (`tether-admin-service`). */
  readonly adminServiceClient: ServiceClient
  /** `${issuer}/token` */
  readonly tokenEndpoint: string
  /** Resource indicators giving JWT access tokens: the hub's, and another one's. */
  readonly resources: { readonly hub: string; readonly other: string }
  /** The scope those resources know (`tether`): ask for it to have it in the token's `scope`. */
  readonly resourceScope: string
  /** Users by `sub`; tests may add or change users while the IdP runs. */
  readonly users: Map<string, IdpUser>
  /** How many requests each path received (e.g. `/token`). */
  readonly hits: Map<string, number>
  close(): Promise<void>
}

export interface ServiceClient {
  readonly clientId: string
  readonly clientSecret: string
}

export const DEFAULT_USERS: IdpUser[] = [
  {
    sub: 'alice',
    password: 'alice-password',
    claims: {
      name: 'Alice Example',
      preferred_username: 'alice',
      email: 'alice@example.test',
      email_verified: true,
      groups: ['lab-a', 'board-admins'],
    },
  },
  {
    sub: 'bob',
    password: 'bob-password',
    claims: { name: 'Bob Example', email: 'bob@example.test', email_verified: true, groups: [] },
  },
]

// oidc-provider ships no type declarations; the little of it used here is typed by hand.
interface InteractionDetails {
  uid: string
  prompt: { name: string; details: Record<string, unknown> }
  params: Record<string, unknown>
  session?: { accountId?: string }
  grantId?: string
}
interface Grant {
  addOIDCScope(scope: string): void
  addOIDCClaims(claims: string[]): void
  addResourceScope(indicator: string, scope: string): void
  save(): Promise<string>
}
interface ProviderInstance {
  proxy: boolean
  callback(): (req: IncomingMessage, res: ServerResponse) => void
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: Record<string, unknown>,
    options: { mergeWithLastSubmission: boolean },
  ): Promise<void>
  Grant: {
    new (init: { accountId: string; clientId: string }): Grant
    find(id: string): Promise<Grant | undefined>
  }
  on(event: string, listener: (...args: unknown[]) => void): void
}
type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance

// A computed specifier keeps TypeScript from demanding declarations for the untyped package.
const OIDC_PROVIDER = 'oidc-provider'

const CLI_CLIENT_ID = 'tether-cli'
const HUB_RESOURCE = 'urn:tether:hub'
const OTHER_RESOURCE = 'urn:example:elsewhere'
const RESOURCE_SCOPE = 'tether'

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function html(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head><body><h1>${esc(title)}</h1>${body}</body></html>`
}

function sendHtml(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
  res.end(body)
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > 64 * 1024) throw new Error('form too large')
    chunks.push(chunk)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}

function loginPage(uid: string, error?: string): string {
  return html(
    'Sign in to the test IdP',
    `${error ? `<p id="error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login">
  <label>Login <input name="login" id="login" autocomplete="off" required autofocus></label>
  <label>Password <input name="password" id="password" type="password" required></label>
  <button type="submit" id="sign-in">Sign in</button>
</form>
<p><a id="cancel" href="/interaction/${esc(uid)}/abort">Cancel</a></p>`,
  )
}

function consentPage(uid: string, clientId: string, details: Record<string, unknown>): string {
  const scopes = (details.missingOIDCScope as string[] | undefined) ?? []
  return html(
    'Authorize',
    `<p><span id="client">${esc(clientId)}</span> asks for: <span id="scopes">${esc(scopes.join(' '))}</span></p>
<form method="post" action="/interaction/${esc(uid)}/confirm"><button type="submit" id="allow">Allow</button></form>
<p><a id="deny" href="/interaction/${esc(uid)}/abort">Deny</a></p>`,
  )
}

async function handleInteraction(
  provider: ProviderInstance,
  users: Map<string, IdpUser>,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  const [, , uid, action] = path.split('/')
  if (!uid) return sendHtml(res, 404, html('Not found', ''))
  const details = await provider.interactionDetails(req, res)
  if (req.method === 'GET' && action === undefined) {
    if (details.prompt.name === 'login') return sendHtml(res, 200, loginPage(uid))
    if (details.prompt.name === 'consent') {
      return sendHtml(res, 200, consentPage(uid, String(details.params.client_id), details.prompt.details))
    }
    return sendHtml(res, 501, html('Unsupported prompt', esc(details.prompt.name)))
  }
  if (req.method === 'GET' && action === 'abort') {
    return provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'End-User aborted interaction' },
      { mergeWithLastSubmission: false },
    )
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req)
    const user = users.get(form.get('login') ?? '')
    if (!user || user.password !== form.get('password')) {
      return sendHtml(res, 200, loginPage(uid, 'Wrong login or password'))
    }
    return provider.interactionFinished(
      req,
      res,
      { login: { accountId: user.sub } },
      { mergeWithLastSubmission: false },
    )
  }
  if (req.method === 'POST' && action === 'confirm') {
    await readForm(req)
    const accountId = details.session?.accountId
    if (!accountId) return sendHtml(res, 400, html('No session', 'Sign in first.'))
    const grant =
      (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ??
      new provider.Grant({ accountId, clientId: String(details.params.client_id) })
    const d = details.prompt.details
    if (Array.isArray(d.missingOIDCScope)) grant.addOIDCScope((d.missingOIDCScope as string[]).join(' '))
    if (Array.isArray(d.missingOIDCClaims)) grant.addOIDCClaims(d.missingOIDCClaims as string[])
    if (d.missingResourceScopes && typeof d.missingResourceScopes === 'object') {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes as Record<string, string[]>)) {
        grant.addResourceScope(indicator, scopes.join(' '))
      }
    }
    const grantId = await grant.save()
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true })
  }
  return sendHtml(res, 404, html('Not found', ''))
}

/** Device flow pages without external resources (the defaults import Google Fonts). */
const deviceFlowPages = {
  userCodeInputSource(ctx: { body: string }, form: string, _out: unknown, err?: { name?: string }) {
    const msg = err
      ? `<p id="error">${esc(err.name ?? 'error')}</p>`
      : '<p>Enter the code shown on your device</p>'
    ctx.body = html(
      'Device sign-in',
      `${msg}${form}<button type="submit" id="continue" form="op.deviceInputForm">Continue</button>`,
    )
  },
  userCodeConfirmSource(
    ctx: { body: string },
    form: string,
    client: { clientId: string },
    _info: unknown,
    userCode: string,
  ) {
    ctx.body = html(
      'Confirm device',
      `<p><span id="client">${esc(client.clientId)}</span> shows the code <code id="user-code">${esc(userCode)}</code></p>${form}
<button type="submit" id="confirm" form="op.deviceConfirmForm">Continue</button>
<button type="submit" id="abort" form="op.deviceConfirmForm" value="yes" name="abort">Abort</button>`,
    )
  },
  successSource(ctx: { body: string }) {
    ctx.body = html(
      'Sign-in success',
      '<p id="success">The device is signed in; you can close this page.</p>',
    )
  },
}

/** Starts the IdP; `close()` stops it. */
export async function startIdp(options: IdpOptions = {}): Promise<Idp> {
  const { default: Provider, errors } = (await import(OIDC_PROVIDER)) as {
    default: ProviderConstructor
    errors: { InvalidTarget: new (description?: string) => Error }
  }
  const users = new Map((options.users ?? DEFAULT_USERS).map((u) => [u.sub, u]))
  const hits = new Map<string, number>()
  const serviceClient = { clientId: 'tether-service', clientSecret: randomBytes(24).toString('base64url') }
  const adminServiceClient = {
    clientId: 'tether-admin-service',
    clientSecret: randomBytes(24).toString('base64url'),
  }

  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.writeHead(503).end()
  }
  const server = createServer((req, res) => handler(req, res))
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' })
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLI_CLIENT_ID,
        client_name: 'tether CLI',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
      },
      ...[serviceClient, adminServiceClient].map((c) => ({
        client_id: c.clientId,
        client_secret: c.clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      })),
    ],
    jwks: { keys: [{ ...jwk, kid: 'test-idp-1', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    conformIdTokenClaims: false,
    async findAccount(_ctx: unknown, sub: string) {
      const user = users.get(sub)
      if (!user) return undefined
      return { accountId: sub, claims: async () => ({ ...user.claims, sub }) }
    },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: { enabled: true, ...deviceFlowPages },
      clientCredentials: { enabled: true },
      // RFC 8707: a known resource indicator gets a JWT access token (RFC 9068) for that audience.
      // No `resource=` keeps the opaque token (user flows are unchanged).
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => false,
        async getResourceServerInfo(_ctx: unknown, resource: string) {
          if (resource !== HUB_RESOURCE && resource !== OTHER_RESOURCE) {
            throw new errors.InvalidTarget(`unknown resource ${resource}`)
          }
          return {
            scope: RESOURCE_SCOPE,
            audience: resource,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          }
        },
      },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: false },
    },
    pkce: { required: () => true },
    clientBasedCORS: () => false,
    ttl: {
      AccessToken: options.accessTokenTtlS ?? 3600,
      AuthorizationCode: 60,
      ClientCredentials: options.accessTokenTtlS ?? 3600,
      DeviceCode: options.deviceCodeTtlS ?? 600,
      IdToken: options.idTokenTtlS ?? 3600,
      RefreshToken: options.refreshTokenTtlS ?? 86400,
      Interaction: 600,
      Session: 3600,
      Grant: 86400,
    },
    async renderError(ctx: { type: string; body: string }, out: Record<string, string>) {
      ctx.type = 'html'
      ctx.body = html('IdP error', `<pre id="idp-error">${esc(JSON.stringify(out))}</pre>`)
    },
  })
  provider.proxy = false
  const callback = provider.callback()
  handler = (req, res) => {
    const path = new URL(req.url ?? '/', issuer).pathname
    hits.set(path, (hits.get(path) ?? 0) + 1)
    if (path.startsWith('/interaction/')) {
      handleInteraction(provider, users, req, res, path).catch((err: unknown) => {
        if (!res.headersSent) sendHtml(res, 500, html('Interaction failed', esc(String(err))))
        else res.end()
      })
      return
    }
    callback(req, res)
  }

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    cliClientId: CLI_CLIENT_ID,
    serviceClient,
    adminServiceClient,
    tokenEndpoint: `${issuer}/token`,
    resources: { hub: HUB_RESOURCE, other: OTHER_RESOURCE },
    resourceScope: RESOURCE_SCOPE,
    users,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

export interface TokenResponse {
  access_token?: string
  token_type?: string
  expires_in?: number
  scope?: string
  error?: string
}

/**
 * What a CI job does: the client credentials grant, client_secret_basic, for one resource (none:
 * an opaque token). Resolves with the HTTP status and the token endpoint's JSON.
 */
export async function clientCredentials(
  idp: Idp,
  resource?: string,
  client: ServiceClient = idp.serviceClient,
): Promise<TokenResponse & { status: number }> {
  const { clientId, clientSecret } = client
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString(
    'base64',
  )
  const body = new URLSearchParams({ grant_type: 'client_credentials', scope: idp.resourceScope })
  if (resource !== undefined) body.set('resource', resource)
  const response = await fetch(idp.tokenEndpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body,
    signal: AbortSignal.timeout(10_000),
  })
  return { status: response.status, ...((await response.json()) as TokenResponse) }
}
