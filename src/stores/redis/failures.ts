import { StoreError } from '../../limiter/errors.js'

/**
 * The store's failures, as the limiter sees them: each a `StoreError` (the limiter applies
 * `onStoreError`) whose message never carries Redis's own text (that stays in `cause`).
 */

/** The status a node-redis client reports before its owner ever connected it (see node-redis.ts). */
export const NEVER_CONNECTED = 'never connected'

export function notConnected(status: string): StoreError {
  if (status === NEVER_CONNECTED) {
    return new StoreError(
      'ERR_RK_STORE',
      'RedisStore: the Redis client was never connected: call `await client.connect()` (node-redis) before serving requests',
    )
  }
  return new StoreError('ERR_RK_STORE', `RedisStore: Redis is not connected (client status "${status}")`)
}

export function notAnswering(): StoreError {
  return new StoreError('ERR_RK_STORE', 'RedisStore: Redis left a call unanswered past its deadline; calls fail fast until it answers')
}

export function noAnswerWithin(timeoutMs: number): StoreError {
  return new StoreError('ERR_RK_STORE_TIMEOUT', `RedisStore: no answer within ${timeoutMs} ms`)
}

export function connectionLost(): StoreError {
  return new StoreError('ERR_RK_STORE', 'RedisStore: the connection to Redis closed with the call in flight (Redis may have run it)')
}

export function unexpectedReply(): StoreError {
  return new StoreError('ERR_RK_STORE', 'RedisStore: unexpected reply from the script')
}

/** One request failed inside the script (`WRONGTYPE`, say): `text` is Redis's error. */
export function requestFailed(text: unknown): StoreError {
  return new StoreError('ERR_RK_STORE', 'RedisStore: the Redis call failed', { cause: new Error(String(text)) })
}

/** The script call failed: a client timeout, or anything else. */
export function callFailed(error: unknown): StoreError {
  const message = error instanceof Error ? error.message : ''
  return /timed out/i.test(message)
    ? new StoreError('ERR_RK_STORE_TIMEOUT', 'RedisStore: the Redis client timed out', { cause: error })
    : new StoreError('ERR_RK_STORE', 'RedisStore: the Redis call failed', { cause: error })
}

export function notReplicated(replicas: number): StoreError {
  return new StoreError('ERR_RK_STORE', `RedisStore: the writes did not reach ${replicas} replica(s) within the deadline`)
}

export function closed(): StoreError {
  return new StoreError('ERR_RK_CLOSED', 'RedisStore: used after close()')
}
