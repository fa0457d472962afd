/**
 * @tether/directory — the hub's directory: exporters register their places and addresses,
 * importers search them. A pure DirectoryRegistry (clock injected), the protobuf codecs of
 * /tether/directory/1.0.0, the hub-side serveDirectory(), the exporter's keepRegistered() and
 * the importer's queryDirectory().
 */
export * from './constants.js'
export * from './errors.js'
export { type ExchangeOptions, exchange, hubPeerIdOf, queryDirectory, searchDirectory } from './exchange.js'
export * from './keep-registered.js'
export {
  type DirectoryRequest,
  DirectoryRequestCodec,
  type DirectoryResponse,
  DirectoryResponseCodec,
} from './messages.js'
export { compareEntries, matchEntry, matchPlace } from './query.js'
export * from './registry.js'
export * from './serve.js'
export type * from './types.js'
export {
  BUSID,
  checkQuery,
  checkRegistration,
  EXPORTER_NAME,
  type Fail,
  ITEM_NAME,
  LABEL,
} from './validate.js'
