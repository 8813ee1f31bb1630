import { createLimiterWith } from './limiter/limiter.js'
import type { Limiter, LimiterOptions } from './limiter/types.js'
import { MemoryStore } from './stores/memory/store.js'

/**
 * Creates a limiter. Its store, and the fallback store of `onStoreError: 'fallback'`, default to
 * a `MemoryStore`: this is the one place where the limiter meets its default store.
 *
 * @example
 * const limiter = createLimiter({
 *   policies: [
 *     tokenBucket({ name: 'per-minute', limit: 100, window: '1m', burst: 150 }),
 *     fixedWindow({ name: 'per-day', limit: 10_000, window: '1d' }),
 *   ],
 * })
 * const d = await limiter.consume('sk_live_123')
 * if (!d.allowed) console.log(`retry in ${d.retryAfterMs} ms`)
 */
export function createLimiter(options: LimiterOptions): Limiter {
  return createLimiterWith(options, () => new MemoryStore())
}
