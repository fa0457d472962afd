/**
 * @tether/net — tether's networking layer: libp2p nodes (TCP/WebSockets, noise, yamux),
 * persistent node identities, length-prefixed protobuf framing and a stream-to-Duplex adapter.
 */

export * from './connection-path.js'
export * from './constants.js'
export * from './dialback.js'
export * from './drain.js'
export * from './duplex.js'
export * from './errors.js'
export * from './framing.js'
export * from './identity.js'
export * from './listen.js'
export * from './logger.js'
export * from './messages.js'
export * from './node.js'
export * from './round-trip.js'
export * from './schema.js'
export * from './stream-messages.js'
export * from './tunnel.js'
