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
  | {
      readonly type: 'capability'
      readonly leaseId: string
      /** Renewal without a login: the capability in hand, proof of holding it. */
      readonly previous?: string
    }
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
  | {
      readonly type: 'audit'
      /** Records with a greater seq only (paging: the last seq seen). */
      readonly afterSeq?: number
      /** Records at or after this time only. */
      readonly sinceMs?: number
      readonly user?: string
      /** PLACE (at any exporter) or EXPORTER/PLACE. */
      readonly place?: string
      /** Empty: every type. */
      readonly types: readonly AuditEventType[]
      /** 0: the hub's default; the hub caps it. */
      readonly limit: number
    }
  | { readonly type: 'place-states'; readonly places: readonly string[] }

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

/** The kinds of audit log records (the hub's reservation engine events). */
export const AUDIT_EVENT_TYPES = [
  'lease-started',
  'lease-renewed',
  'lease-ended',
  'queued',
  'dequeued',
  'refused',
  'grant-added',
  'grant-removed',
  'maintenance',
] as const
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number]

/** One audit log record as the hub shows it. */
export interface AuditRecordInfo {
  readonly seq: number
  readonly atMs: number
  /** An AuditEventType, or a newer hub's type this client does not know. */
  readonly type: string
  /** Who and what it concerns; '' when none. */
  readonly user: string
  readonly place: string
  /** One line for people, written by the hub. */
  readonly summary: string
  /** The event as a JSON object (string fields shortened past MAX_AUDIT_EVENT_JSON). */
  readonly eventJson: string
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
  /** `more`: further records match after the last one. */
  | { readonly type: 'audit'; readonly records: readonly AuditRecordInfo[]; readonly more: boolean }
  | { readonly type: 'place-states'; readonly states: readonly PlaceStateInfo[] }
  | { readonly type: 'failure'; readonly code: string; readonly message: string }

export const PLACE_STATES = ['free', 'leased', 'maintenance', 'restricted', 'offline'] as const

/** A place's reservation state, as `tether places` shows it. */
export interface PlaceStateInfo {
  /** EXPORTER/PLACE. */
  readonly place: string
  readonly state: (typeof PLACE_STATES)[number]
  /** Shown only to those who may use the place (admins: always). */
  readonly holder?: string
  readonly untilMs?: number
  readonly waiting: number
  readonly note?: string
}

/** Places one place-states request may name. */
export const MAX_PLACE_STATES = 1000

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
/** A user name as the hub knows it (OIDC claims): no control characters. */
export const MAX_USER = 256
/** Audit records in one answer, a summary line, and an event's JSON. */
export const MAX_AUDIT_RECORDS = 1000
export const MAX_AUDIT_SUMMARY = 512
export const MAX_AUDIT_EVENT_JSON = 4096
