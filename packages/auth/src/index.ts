/**
 * @tether/auth — who may do what: capability tokens the hub signs and exporters verify offline,
 * the hub's signing keys and JWKS, and the hub.toml policy that maps identity claims to rights.
 */
export * from './capability/index.js'
export * from './errors.js'
export * from './keys/index.js'
export * from './oidc/id-token.js'
export * from './policy/index.js'
