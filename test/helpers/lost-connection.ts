import { Redis } from 'ioredis'
import { expect } from 'vitest'
import type { Limiter } from '../../src/index.js'
import { isReplyError } from '../../src/stores/redis/client.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Sends `requests` consumes of `key` while the master at `port` runs them and then, in the same
 * turn of its event loop, closes every other client connection to it (DEBUG SLEEP holds the
 * batch and the kills until then), so the batch's reply is never written. Then checks that each
 * request was charged at most once, every admitted one at least once, and that a loss was heard
 * (`warnings` gets the limiter's warning codes). The limiter's policy is one fixed window of `limit`,
 * charged once for `key` before this is called; the master must allow DEBUG.
 */
export async function chargedAtMostOnceWhenTheReplyIsLost(
  port: number,
  limiter: Limiter,
  key: string,
  warnings: readonly string[],
  requests: number,
  limit: number,
): Promise<void> {
  const sleeper = new Redis(port, '127.0.0.1')
  const killer = new Redis(port, '127.0.0.1')
  try {
    const own = new Set([String(await sleeper.client('ID')), String(await killer.client('ID'))])
    const list = String(await killer.call('CLIENT', 'LIST', 'TYPE', 'normal'))
    const theirs = [...list.matchAll(/\bid=(\d+)/g)].map((m) => m[1]).filter((id) => !own.has(id))
    expect(theirs.length).toBeGreaterThan(0)

    // The master sleeps; the batch and then the kills wait in their sockets and run in one turn of its loop.
    const slept = sleeper.call('DEBUG', 'SLEEP', '0.3')
    await sleep(50)
    const decisions = Promise.all(Array.from({ length: requests }, () => limiter.consume(key)))
    await sleep(50)
    const killed = Promise.all(theirs.map((id) => killer.client('KILL', 'ID', id)))
    await slept
    await killed
    const admitted = (await decisions).filter((d) => d.allowed).length
    // Long enough for any copy to have run.
    await sleep(500)
    // Read once the client serves the key again (node-redis reconnects first).
    let peek = await limiter.peek(key)
    for (let i = 0; peek.reason === 'store-error' && i < 200; i++) {
      await sleep(50)
      peek = await limiter.peek(key)
    }
    expect(peek.reason).not.toBe('store-error')
    const counted = limit - peek.remaining - 1
    expect(counted).toBeLessThanOrEqual(requests)
    expect(counted).toBeGreaterThanOrEqual(admitted)
    if (admitted < requests) expect(warnings).toContain('RK_REDIS_CONNECTION')
  } finally {
    sleeper.disconnect()
    killer.disconnect()
  }
}

/** Redis's own error text: led by its code in capitals (`MOVED …`, `READONLY …`, `ERR …`). */
const REDIS_ERROR_TEXT = /^[A-Z][A-Z_-]+( |$)/

/**
 * A decision's store error leaves its charge uncertain: Redis may have run the call although the
 * store failed it. docs/redis.md ("In-flight uncertainty") says which: a call that timed out
 * (`ERR_RK_STORE_TIMEOUT`: Redis may have run it just before the deadline, which it judges by its
 * own clock, and answered just after), and a call whose connection closed under it (the store's
 * own "Redis may have run it", or the client's failure of the whole call, such as ioredis's
 * "Connection is closed."); with `replicas`, a call that ran but that no replica acknowledged in
 * time; and a reply the store could not read. Every other failure was refused before Redis ran
 * anything: failed fast by the store (never sent), or answered by Redis with an error (`MOVED`,
 * `CLUSTERDOWN`, `READONLY`…). So Redis holds at most the admitted charges plus those of the
 * decisions this returns true for.
 */
export function mayHaveRun(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const { code } = error as { code?: unknown }
  if (code === 'ERR_RK_STORE_TIMEOUT') return true
  if (code !== 'ERR_RK_STORE') return false
  const message = error.message
  if (/may have run it|did not reach \d+ replica|unexpected reply/.test(message)) return true
  if (!message.startsWith('RedisStore: the Redis call failed')) return false
  // The whole call failed (its cause the client's error) or one request inside the script (Redis's text).
  const cause = error.cause
  return cause instanceof Error && !isReplyError(cause) && !REDIS_ERROR_TEXT.test(cause.message)
}
