import { StoreError } from '../../limiter/errors.js'
import { LATE_SQLSTATE } from './sql.js'

/**
 * The store's failures, as the limiter sees them: each a `StoreError` (the limiter applies
 * `onStoreError`) whose message never carries PostgreSQL's own text (that stays in `cause`).
 */

export function noAnswerWithin(timeoutMs: number): StoreError {
  return new StoreError('ERR_RK_STORE_TIMEOUT', `PostgresStore: no answer within ${timeoutMs} ms`)
}

export function schemaNotCreatedWithin(timeoutMs: number, cause?: unknown): StoreError {
  const message = `PostgresStore: createSchema() was not done within ${timeoutMs} ms (PostgreSQL frozen or unreachable, or a lock held elsewhere)`
  return cause === undefined ? new StoreError('ERR_RK_STORE_TIMEOUT', message) : new StoreError('ERR_RK_STORE_TIMEOUT', message, { cause })
}

export function closed(): StoreError {
  return new StoreError('ERR_RK_CLOSED', 'PostgresStore: used after close()')
}

export function unexpectedReply(): StoreError {
  return new StoreError('ERR_RK_STORE', 'PostgresStore: unexpected reply from the decide function')
}

export function gaveUp(attempts: number): StoreError {
  return new StoreError('ERR_RK_STORE', `PostgresStore: the states kept changing under ${attempts} attempts in a row`)
}

/** A rejected query, by its SQLSTATE. */
export function callFailed(error: unknown, table: string): StoreError {
  const code = (error as { code?: unknown } | null)?.code
  // lock_not_available (lock_timeout), query_canceled (statement_timeout), written too late
  if (code === '55P03' || code === '57014' || code === LATE_SQLSTATE) {
    return new StoreError('ERR_RK_STORE_TIMEOUT', 'PostgresStore: a lock held by another transaction outlasted the deadline', {
      cause: error,
    })
  }
  // undefined_table, undefined_function, invalid_schema_name
  if (code === '42P01' || code === '42883' || code === '3F000') {
    return new StoreError(
      'ERR_RK_STORE',
      `PostgresStore: the table "${table}" or its functions do not exist: run store.createSchema() once (or the SQL of docs/stores.md)`,
      { cause: error },
    )
  }
  return new StoreError('ERR_RK_STORE', 'PostgresStore: the PostgreSQL call failed', { cause: error })
}

/** A call PostgreSQL refused as a whole, writing nothing, because a concurrent one won (serialization_failure, deadlock_detected). */
export function isSerializationFailure(error: unknown): boolean {
  const code = ((error as { cause?: unknown } | null)?.cause as { code?: unknown } | null | undefined)?.code
  return code === '40001' || code === '40P01'
}
