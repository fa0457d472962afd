/** Reservations: spec matching, the sans-I/O engine and its persisting host. */
export * from './engine.js'
export * from './errors.js'
export { GrantTable, type Holder, isActive, isSubject } from './grants.js'
export { hopcroftKarp, matchPlace, partSatisfies, specKey } from './matching.js'
export { PlaceIndex, placeId, placesOf } from './places.js'
export { compareQueued, targetKey } from './queue.js'
export * from './service.js'
export type * from './types.js'
