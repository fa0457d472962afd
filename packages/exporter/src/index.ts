/**
 * @tether/exporter — `tether export`: places described in places.toml, their devices served as
 * USB/IP over libp2p tunnels (one stream per device), registration with the hub's directory and
 * a relay reservation on the hub for importers that cannot reach the exporter directly.
 */
export * from './config/index.js'
export * from './constants.js'
export * from './devices.js'
export * from './errors.js'
export * from './exporter.js'
export * from './hub-address.js'
export * from './identity-path.js'
export * from './registration.js'
export * from './tunnels.js'
