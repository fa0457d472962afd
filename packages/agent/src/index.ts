/**
 * @tether/agent — the importer: reaches exporters (direct first, then the hub's relay, upgraded
 * by dial-back), keeps remote USB devices attached to the local kernel through vhci_hcd, serves
 * local USB/IP endpoints for stock `usbip`, and answers the CLI on a local control socket.
 */
export * from './agent.js'
export * from './backoff.js'
export * from './capabilities.js'
export * from './connector.js'
export * from './constants.js'
export * from './control.js'
export * from './errors.js'
export * from './forward-lease.js'
export * from './remote-attachment.js'
export * from './resolve.js'
export * from './socket-access.js'
export * from './usbip-endpoint.js'
export * from './vhci/index.js'
