/**
 * @tether/control — the hub's control protocol (proto/tether/v1/hub.proto): validated codecs of
 * every request and response, and `callHub`, the client the CLI, agent and exporter use.
 */
export * from './client.js'
export * from './constants.js'
export * from './requests.js'
export * from './responses.js'
export * from './types.js'
