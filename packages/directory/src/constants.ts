/** Protocol id, defaults and bounds of the hub directory. */

/** libp2p protocol of a directory stream: one DirectoryRequest, one DirectoryResponse. */
export const DIRECTORY_PROTOCOL = '/tether/directory/1.0.0'

/** How long a registration lives without a refresh (the hub grants it in its reply). */
export const DEFAULT_TTL_MS = 30_000
/** Exporters refresh at min(refreshMs, ttl / 3). */
export const DEFAULT_REFRESH_MS = 10_000
/** Never refresh more often than this, whatever the hub grants. */
export const MIN_REFRESH_MS = 250

/** Re-registration backoff after a failure: exponential from MIN to MAX, jittered. */
export const RETRY_MIN_MS = 500
export const RETRY_MAX_MS = 10_000

/** One request/response exchange with the hub. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000
/** Best-effort Unregister on stop(). */
export const UNREGISTER_TIMEOUT_MS = 2_000

/** How often the hub drops expired registrations. */
export const DEFAULT_EXPIRE_INTERVAL_MS = 5_000
/** Registrations the hub holds at most (distinct exporters). */
export const DEFAULT_MAX_ENTRIES = 4096
/** Concurrent directory streams per connection on the hub. */
export const DEFAULT_MAX_INBOUND_STREAMS = 8

/** Largest request frame (a registration) and response frame (a query result). */
export const MAX_REQUEST_BYTES = 1024 * 1024
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024

// Bounds of a registration and a query.
export const MAX_PLACES = 256
export const MAX_PARTS_PER_PLACE = 64
export const MAX_INTERFACES_PER_PART = 32
export const MAX_ADDRESSES = 32
export const MAX_TAGS = 32
export const MAX_COMPATIBLE = 32
export const MAX_NAME_LENGTH = 63
export const MAX_ADDRESS_LENGTH = 1024
export const MAX_DESCRIPTION_LENGTH = 256
export const MAX_QUERY_TEXT_LENGTH = 128
