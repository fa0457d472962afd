/**
 * The hub's control protocol as API types (proto/tether/v1/hub.proto; codecs in requests.ts and
 * responses.ts), and the bounds every field is checked against.
 */
export interface PartSpec {
  readonly compatible: readonly string[]
  readonly interfaces: readonly string[]
}

export type HubRequestBody =
  | {
      readonly type: 'reserve'
      readonly place?: string
      readonly tags: readonly string[]
      readonly parts: readonly PartSpec[]
      readonly priority: number
      readonly leaseMs: number
      readonly wait: boolean
    }
  | { readonly type: 'return'; readonly id: string }
  | { readonly type: 'renew'; readonly id: string; readonly leaseMs: number }
  | { readonly type: 'capability'; readonly leaseId: string }
  | { readonly type: 'list'; readonly all: boolean }
  | { readonly type: 'show'; readonly id: string }
  | { readonly type: 'who'; readonly place?: string }
  | { readonly type: 'whoami' }
  | { readonly type: 'jwks' }
  | {
      readonly type: 'grant'
      readonly subject: string
      readonly place?: string
      readonly tag?: string
      readonly startsAtMs: number
      readonly endsAtMs: number
    }
  | { readonly type: 'revoke'; readonly id: string; readonly reason: string }
  | { readonly type: 'kick'; readonly leaseId: string; readonly reason: string }
  | { readonly type: 'maintenance'; readonly place: string; readonly on: boolean; readonly reason: string }
  | { readonly type: 'join-token'; readonly exporter: string; readonly validMs: number }
  | { readonly type: 'enroll'; readonly joinToken: string }
  | { readonly type: 'auth-info' }
  | { readonly type: 'watch' }

export interface HubRequest {
  /** The caller's OIDC token; empty for jwks and enroll. */
  readonly login: string
  readonly body: HubRequestBody
}

export interface LeaseInfo {
  readonly id: string
  readonly user: string
  readonly exporter: string
  readonly exporterPeerId: string
  readonly place: string
  readonly parts: readonly string[]
  readonly priority: number
  readonly startsAtMs: number
  readonly expiresAtMs: number
  readonly renewals: number
}

export interface QueueEntryInfo {
  readonly id: string
  readonly user: string
  readonly priority: number
  readonly position: number
  readonly enqueuedAtMs: number
  readonly wanted: string
}

export type HubResponse =
  | { readonly type: 'lease'; readonly lease: LeaseInfo }
  | { readonly type: 'progress'; readonly entry: QueueEntryInfo }
  | { readonly type: 'capability'; readonly token: string; readonly expiresAtMs: number }
  | {
      readonly type: 'list'
      readonly leases: readonly LeaseInfo[]
      readonly queue: readonly QueueEntryInfo[]
    }
  | {
      readonly type: 'identity'
      readonly user: string
      readonly roles: readonly string[]
      readonly issuer: string
      readonly expiresAtMs: number
    }
  | { readonly type: 'jwks'; readonly json: string }
  | { readonly type: 'join-token'; readonly token: string; readonly expiresAtMs: number }
  | { readonly type: 'enrolled'; readonly exporter: string }
  | { readonly type: 'done' }
  | { readonly type: 'auth-info'; readonly issuers: readonly IssuerInfo[] }
  | { readonly type: 'revoked'; readonly leaseId: string; readonly reason: string }
  | { readonly type: 'granted'; readonly id: string }
  | { readonly type: 'failure'; readonly code: string; readonly message: string }

export interface IssuerInfo {
  readonly url: string
  readonly clientId: string
  readonly deviceClientId?: string
}

/** Bounds: an OIDC token is a few KiB at most; names follow the directory's rules. */
export const MAX_LOGIN_TOKEN = 16 * 1024
export const MAX_NAME = 63
export const MAX_ID = 128
export const MAX_REASON = 512
export const MAX_SPEC_ITEMS = 32
export const MAX_CAPABILITY_TOKEN = 8 * 1024
export const MAX_JWKS_JSON = 64 * 1024
export const MAX_FAILURE_MESSAGE = 1024
