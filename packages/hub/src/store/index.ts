/** Persistence of the reservation engine: the store seam and its SQLite implementation. */
export { type AuditColumns, auditColumns } from './audit-columns.js'
export * from './errors.js'
export { MIGRATIONS, SCHEMA_VERSION } from './schema.js'
export * from './sqlite.js'
export type * from './types.js'
