/** Hub defaults. */

/** Relay reservations held at once (circuit-relay-v2's own default is 15). */
export const DEFAULT_MAX_RESERVATIONS = 256
/** Lifetime of a relay reservation; clients refresh it 5 min before it ends. */
export const DEFAULT_RESERVATION_TTL_MS = 10 * 60_000
/**
 * How long a reservation request waits for its peer's directory registration to arrive: the
 * relay client reserves as soon as identify finishes on the hub connection, which races with the
 * exporter's Register request on that same connection.
 */
export const DEFAULT_RESERVATION_GRACE_MS = 5_000

/** New connections per second the hub accepts from one host (a NAT'd lab or CI farm). */
export const DEFAULT_INBOUND_CONNECTIONS_PER_HOST_PER_SECOND = 100
