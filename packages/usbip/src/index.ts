/**
 * @tether/usbip — the USB/IP protocol: a sans-I/O codec and session engine, the interface device
 * backends implement, a plain TCP server and a userspace client.
 */

export * from './backend.js'
export * from './capture/pcapng.js'
export * from './capture/urb-capture.js'
export * from './capture/usbmon.js'
export * from './client/usbip-client.js'
export * from './codec/index.js'
export * from './constants.js'
export * from './descriptor-parser.js'
export * from './errors.js'
export * from './logger.js'
export * from './messages.js'
export * from './server/catalog.js'
export * from './server/connection.js'
export * from './server/usbip-server.js'
export * from './session/client-session.js'
export * from './session/endpoint-table.js'
export * from './session/server-session.js'
