/**
 * `ratekeeper/postgres`: the PostgreSQL store (on a `pg` pool the application passes in; this
 * entry never loads `pg` itself).
 * @packageDocumentation
 */
export type { PostgresClock, PostgresPool, PostgresStoreOptions } from './options.js'
export { PostgresStore } from './store.js'
