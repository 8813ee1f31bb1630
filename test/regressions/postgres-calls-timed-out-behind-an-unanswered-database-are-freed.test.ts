// While PostgreSQL doesn't answer (frozen, or the network dropped), every database call the store
// may make at once is taken, and new calls wait in its queue until their deadline. A call that
// timed out there stayed in the queue, with its request, until a database call came back: the
// queue grew by every request of the outage (about 2.4 kB each; 470 MB after 200,000 requests),
// a process exit waiting to happen under a long outage.

import { expect, it } from 'vitest'
import { tokenBucket } from '../../src/index.js'
import type { StoreRequest } from '../../src/limiter/store.js'
import { PostgresStore } from '../../src/stores/postgres/index.js'

const gc = (globalThis as { gc?: () => void }).gc

it.skipIf(gc === undefined)('frees the calls that timed out while the database leaves every call unanswered', async () => {
  // A pool whose queries never settle: a frozen server, or a connection whose network is gone.
  const pool = { options: { max: 2 }, query: () => new Promise<{ rows: unknown[] }>(() => {}) }
  const store = new PostgresStore({ pool, timeoutMs: 1 })
  const policy = tokenBucket({ name: 'frozen', limit: 5, window: '1m' })
  const live = new Set<WeakRef<StoreRequest>>()
  const calls: Promise<unknown>[] = []
  for (let i = 0; i < 4000; i++) {
    const request: StoreRequest = { keys: [`k${i}`], policies: [policy], cost: 1, now: Date.now(), tag: 't' }
    live.add(new WeakRef(request))
    calls.push(
      store.consume(request).then(
        () => 'answered',
        (error: { code?: string }) => error.code,
      ),
    )
    // Requests keep coming while the earlier ones time out.
    if (i % 500 === 499) await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const outcomes = await Promise.all(calls)
  expect(new Set(outcomes)).toEqual(new Set(['ERR_RK_STORE_TIMEOUT']))
  calls.length = 0
  await new Promise((resolve) => setImmediate(resolve))
  gc?.()
  await new Promise((resolve) => setImmediate(resolve))
  const retained = [...live].filter((ref) => ref.deref() !== undefined).length
  // The two calls stuck in the database hold their own; the queue keeps no more than it must.
  expect(retained).toBeLessThan(2000)
  store.close()
})
