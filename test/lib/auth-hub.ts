/** An in-process hub with [auth] (hub.toml text, SQLite in `dir`) on 127.0.0.1, for tests. */
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { generateSigningKey, parseHubToml, type SigningKey } from '@tether/auth'
import { type Hub, startHub } from '@tether/hub'
import type { Idp } from './idp.js'

/** Rule: the test IdP's lab-a group may reserve lab-a places, priority ≤ 5, leases ≤ 1 h. */
export const LAB_A_RULE = `
[[rule]]
name = "lab-a developers"
match = { groups = ["lab-a"] }
roles = ["importer"]
tags = ["lab-a"]
max_priority = 5
max_lease = "1h"
`

/** hub.toml trusting the test IdP (client tether-cli), its board-admins group as admins, then `rules`. */
export function testHubToml(issuer: string, ...rules: string[]): string {
  return `
[auth]
[[auth.issuer]]
url = "${issuer}"
client_id = "tether-cli"

[[rule]]
name = "board admins"
match = { groups = ["board-admins"] }
roles = ["admin"]
${rules.join('')}`
}

/**
 * hub.toml trusting the test IdP for logins and for its client-credentials access tokens (the
 * hub's resource as an audience), with its service client as service account "ci-lab" (importer,
 * any place, leases ≤ 30 min), then `more`.
 */
export function serviceAccountHubToml(idp: Idp, ...more: string[]): string {
  return `
[auth]
[[auth.issuer]]
url = "${idp.issuer}"
client_id = "${idp.cliClientId}"
audience = ["${idp.cliClientId}", "${idp.resources.hub}"]

[[service_account]]
name = "ci-lab"
client_id = "${idp.serviceClient.clientId}"
roles = ["importer"]
places = ["*"]
max_lease = "30m"
${more.join('')}`
}

export interface AuthHubOptions {
  readonly toml: string
  readonly dir: string
  /** Same key and signing key across a restart. */
  readonly privateKey?: PrivateKey
  readonly signingKey?: SigningKey
  /** Default: a new port on 127.0.0.1 (a restart may pass the address it had). */
  readonly listen?: readonly string[]
}

export async function startAuthHub(options: AuthHubOptions): Promise<{ hub: Hub; address: Multiaddr }> {
  const hub = await startHub({
    privateKey: options.privateKey ?? (await generateKeyPair('Ed25519')),
    listen: [...(options.listen ?? ['/ip4/127.0.0.1/tcp/0'])],
    auth: {
      policy: parseHubToml(options.toml, 'hub.toml'),
      database: join(options.dir, 'hub.db'),
      signingKeys: [options.signingKey ?? (await generateSigningKey())],
      tickMs: 100,
    },
  })
  return { hub, address: hub.addresses()[0] as Multiaddr }
}
