/**
 * The validated, frozen form of hub.toml (see `parseHubToml`). Every list is in file order; every
 * entry keeps its `id` (its key path, e.g. `rule[2]`) so that refusals can name it.
 */
import type { Right } from '../capability/rights.js'

/** What a principal may be: hub administrator, exporter of places, importer (user) of places. */
export const ROLES = ['admin', 'exporter', 'importer'] as const
export type Role = (typeof ROLES)[number]

/** A scalar a rule can compare a claim with (TOML string, integer, float or boolean). */
export type ClaimScalar = string | number | boolean

/**
 * One condition of a rule's `match`. `path` is the claim's path in the token: one segment for a
 * top-level claim (`groups`, or a namespaced `"https://tether.example/groups"`), more for nested
 * claims written as TOML dotted keys or sub-tables (`realm_access.roles` → ["realm_access", "roles"]).
 *  - `equals`: the claim is a scalar of the same type and value (a list claim never matches).
 *  - `containsAll`: the claim is a list holding every value in `values` (a scalar claim never matches).
 */
export type ClaimCondition =
  | { readonly kind: 'equals'; readonly path: readonly string[]; readonly value: ClaimScalar }
  | {
      readonly kind: 'containsAll'
      readonly path: readonly string[]
      readonly values: readonly ClaimScalar[]
    }

/** A trusted OpenID Connect issuer ([[auth.issuer]]). */
export interface IssuerConfig {
  /** Key path, e.g. `auth.issuer[0]`. */
  readonly id: string
  /** Exactly as tokens carry it in `iss`. https (http only for loopback). */
  readonly url: string
  /** The hub's OIDC client (browser / authorization-code login). */
  readonly clientId: string
  /**
   * Accepted `aud` values (any one suffices): `audience` as written, else `clientId` and
   * `deviceClientId`. Same shape as the OIDC verifier's TrustedIssuer.
   */
  readonly audiences: readonly string[]
  /** A public client for the device-code flow (`tether login` on a headless machine), if any. */
  readonly deviceClientId: string | undefined
  /** Claims tried in order for the user name; the first that is a non-empty string wins. */
  readonly userClaims: readonly string[]
  /** The claim whose value is presented to rules as `groups` (e.g. "realm_access.roles"), if any. */
  readonly groupsClaim: string | undefined
}

/** What a rule or service account grants. Caps only concern the importer role. */
export interface GrantConfig {
  /** Key path, e.g. `rule[2]` or `service_account[0]`. */
  readonly id: string
  /** Optional human label (`name = "..."`) shown next to the id in messages. */
  readonly label: string | undefined
  readonly roles: readonly Role[]
  /** Place names; `"*"` means every place. Empty when only tags (or only admin) are granted. */
  readonly places: readonly string[] | '*'
  /** Tags: the grant covers a place that carries ANY of these tags. */
  readonly tags: readonly string[]
  /** Importer rights on the covered places (all rights unless `rights` was given; none without importer). */
  readonly rights: readonly Right[]
  /** Highest reservation priority allowed (default 0: only the default priority). */
  readonly maxPriority: number
  /** Longest lease in milliseconds; undefined = this grant sets no limit. */
  readonly maxLeaseMs: number | undefined
  /** Most reservations held at once; undefined = this grant sets no limit. */
  readonly maxReservations: number | undefined
}

/** A [[rule]]: tokens whose claims satisfy every condition of `match` get the grant. */
export interface RuleConfig extends GrantConfig {
  readonly match: readonly ClaimCondition[]
}

/** A [[service_account]]: a CI client (client-credentials grant) with a fixed name and grant. */
export interface ServiceAccountConfig extends GrantConfig {
  /** The principal's name (e.g. "ci-lab-a"). */
  readonly name: string
  readonly clientId: string
  /** The issuer's `url`. */
  readonly issuer: string
}

export interface HubConfig {
  /** The file name as given to parseHubToml (used in every message). */
  readonly file: string
  /** `open` only when there is no [auth] and the caller passed `insecure: true`. */
  readonly mode: 'auth' | 'open'
  readonly issuers: readonly IssuerConfig[]
  readonly serviceAccounts: readonly ServiceAccountConfig[]
  readonly rules: readonly RuleConfig[]
}

/** The user-name claims tried when an issuer has no `claim_user`. */
export const DEFAULT_USER_CLAIMS: readonly string[] = ['preferred_username', 'email', 'sub']
