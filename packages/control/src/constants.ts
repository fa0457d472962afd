/** The hub's control protocol id. */
export const HUB_PROTOCOL = '/tether/hub/1.0.0'
/**
 * The longest a capability token lives (exporters refuse more than 24 h); the agent asks again
 * before it runs out, and a renewed lease extends open tunnels through the exporter's watch.
 */
export const CAPABILITY_LIFETIME_MS = 12 * 60 * 60_000
/** Lease length when neither the request nor the policy names one. */
export const DEFAULT_LEASE_MS = 60 * 60_000
/** How long a join token stays usable when the admin names no time. */
export const DEFAULT_JOIN_TOKEN_MS = 24 * 60 * 60_000

/** `iss` of the capability tokens a hub signs: its PeerId, which exporters know from its address. */
export function capabilityIssuer(hubPeerId: string): string {
  return `tether:hub:${hubPeerId}`
}
