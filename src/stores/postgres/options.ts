import { checkInteger, checkNotGivenBare, invalid } from '../../limiter/errors.js'
import { type ResolvedOptions, type ResolvingTable, resolveOptionTable } from '../../limiter/option-table.js'

/**
 * What the store needs of a PostgreSQL client: `query` with a config object, as `pg`'s `Pool`
 * (and `Client`) offer. Structural, so `ratekeeper/postgres` never loads `pg` itself.
 */
export interface PostgresPool {
  query(config: { text: string; values?: unknown[]; query_timeout?: number }): Promise<{ rows: unknown[] }>
}

/** Which clock decides: the database's `clock_timestamp()` (one clock for every app server) or the limiter's `now`. */
export type PostgresClock = 'database' | 'caller'

/** Options of {@link PostgresStore}. */
export interface PostgresStoreOptions {
  /**
   * A `pg` `Pool` (`new pg.Pool({ connectionString })`). Stays yours: `close()` doesn't end it.
   * The store makes as many calls at once as the pool's `max` (10 when it has none); requests
   * that arrive meanwhile go together in the next calls.
   */
  pool: PostgresPool
  /**
   * The table of states, `table` or `schema.table` (letters, digits, `_`; at most 55 characters
   * per part; not in a `pg_…` schema, PostgreSQL's own). Its function is named after it (`<table>_decide`).
   * @default 'ratekeeper_state'
   */
  table?: string
  /**
   * Deadline of every call, ms. A call not answered by then rejects with `ERR_RK_STORE_TIMEOUT`
   * (the limiter then applies `onStoreError`); the database waits for a lock no longer than
   * that, and a call it only gets to after its deadline (a pool that was exhausted) writes nothing.
   * A call left unanswered 5 s past its deadline (a connection whose network is gone) is
   * given up by pg (`query_timeout`), which closes that connection so the pool opens a new one.
   * @default 100
   */
  timeoutMs?: number
  /**
   * `'database'`: decide on the database's `clock_timestamp()`, so app servers whose clocks
   * disagree share one clock. `'caller'`: decide on the limiter's `now` (tests).
   * @default 'database'
   */
  clock?: PostgresClock
  /**
   * Added to every row's expiry, ms. Rows hold their state exactly as long as it matters; with
   * `clock: 'caller'` and a clock that steps back, this keeps a state readable at the earlier
   * time too.
   * @default 0
   */
  extraTtlMs?: number
  /**
   * Heap pages (8 kB, about 60 rows each) the cleanup looks at per 16 writes, in the same
   * statement as a write, deleting the expired rows it finds; `0` turns the cleanup off (then
   * delete rows whose `expires_at` has passed yourself). With 1, the cleanup looks at about 4
   * rows per write: under a flood of new keys the table stays within a few times the rows still live.
   * @default 1
   */
  cleanupPages?: number
}

const WHERE = 'new PostgresStore()'
const TABLE_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,54}(\.[A-Za-z_][A-Za-z0-9_]{0,54})?$/

const OPTIONS = {
  pool: (value: unknown): PostgresPool => {
    const pool = value as PostgresPool | null
    if (typeof pool !== 'object' || pool === null || typeof pool.query !== 'function') {
      invalid(WHERE, 'pool', "must be a pg Pool (new pg.Pool(...)) or an object with pg's query(config)", value)
    }
    return pool
  },
  table: (value: unknown): string => {
    if (value === undefined) return 'ratekeeper_state'
    if (typeof value !== 'string' || !TABLE_PATTERN.test(value)) {
      invalid(WHERE, 'table', 'must be "table" or "schema.table": letters, digits and _, at most 55 characters each', value)
    }
    // PostgreSQL's own schemas (pg_catalog, pg_toast, pg_temp: one per connection, so one state per connection).
    if (value.startsWith('pg_') && value.includes('.')) {
      invalid(
        WHERE,
        'table',
        "must be in a schema of yours: a schema named pg_… is PostgreSQL's own (pg_temp is one per connection)",
        value,
      )
    }
    return value
  },
  timeoutMs: (value: unknown): number => (value === undefined ? 100 : checkInteger(WHERE, 'timeoutMs', value, 1, 60_000)),
  clock: (value: unknown): PostgresClock => {
    if (value !== undefined && value !== 'database' && value !== 'caller') invalid(WHERE, 'clock', "must be 'database' or 'caller'", value)
    return value ?? 'database'
  },
  extraTtlMs: (value: unknown): number => (value === undefined ? 0 : checkInteger(WHERE, 'extraTtlMs', value, 0, 365 * 86_400_000)),
  cleanupPages: (value: unknown): number => (value === undefined ? 1 : checkInteger(WHERE, 'cleanupPages', value, 0, 10_000)),
} satisfies ResolvingTable<PostgresStoreOptions>

/** The store's settings: every option validated, defaults filled in. */
export type PostgresStoreSettings = ResolvedOptions<typeof OPTIONS>

/** Validates the options of `new PostgresStore()` (throws a `ConfigurationError`) and fills in the defaults. */
export function resolveOptions(options: PostgresStoreOptions): PostgresStoreSettings {
  // `new PostgresStore(pool)`: the unknown-option check would name one of the pool's own fields.
  checkNotGivenBare(WHERE, options, (given) => typeof given.query === 'function', 'new PostgresStore({ pool })', 'the pg pool itself')
  return resolveOptionTable(WHERE, options, OPTIONS)
}
