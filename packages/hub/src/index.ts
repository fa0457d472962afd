/**
 * @tether/hub — the rendezvous node: the directory service plus a circuit-relay-v2 relay that
 * serves only registered exporters. Open mode only for now (no authorization).
 */

export * from './authority.js'
export * from './constants.js'
export * from './control/service.js'
export * from './enrollment/enrollment.js'
export * from './errors.js'
export { createHubGater, type HubGater } from './gater.js'
export { type Hub, type HubInit, startHub } from './hub.js'
export * from './reservations/index.js'
export * from './store/index.js'
