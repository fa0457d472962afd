/** Defaults of the importer, in one place. */

/** How long one attempt at the exporter's own addresses may take before the relay is tried. */
export const DIRECT_DIAL_TIMEOUT_MS = 3_000
/** How long a dial through the hub's relay may take. */
export const RELAY_DIAL_TIMEOUT_MS = 10_000
/** While only a relayed connection exists, how often to try again for a direct one. */
export const UPGRADE_INTERVAL_MS = 30_000
/** Reconnect backoff after a tunnel drops (exporter restarted, network gone). */
export const RECONNECT_MIN_MS = 500
export const RECONNECT_MAX_MS = 10_000
/** How often the agent measures the round-trip time of each tunnel's connection. */
export const RTT_INTERVAL_MS = 5_000
/** The local USB/IP endpoint reads at most this many bytes before it knows the request. */
export const ENDPOINT_REQUEST_TIMEOUT_MS = 10_000
