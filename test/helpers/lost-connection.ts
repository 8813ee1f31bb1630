import { Redis } from 'ioredis'
import { expect } from 'vitest'
import type { Limiter } from '../../src/index.js'

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
