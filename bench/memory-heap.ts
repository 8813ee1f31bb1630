// Child process of bench/memory.ts: heap bytes per key after KEYS distinct keys, for one contender.
// Run as `node --expose-gc --import tsx bench/memory-heap.ts <contender>`; prints one JSON line.
//
// The baseline is taken before the store exists, so whatever the store allocates up front
// (lru-cache sizes its index arrays by `max`) is counted against its keys, as a user pays it.

import { pathToFileURL } from 'node:url'
import { MemoryStore as ErlMemoryStore } from 'express-rate-limit'
import { RateLimiterMemory } from 'rate-limiter-flexible'
import { createLimiter, fixedWindow, MemoryStore, type Policy, slidingWindow, tokenBucket } from 'ratekeeper'

export const KEYS = 1_000_000
/** Never reached during a measurement: every decision admits. */
export const HUGE = 1_000_000_000

type Decide = (key: string) => unknown
type Setup = () => { decide: Decide; close: () => void }

const ratekeeper =
  (policy: () => Policy): Setup =>
  () => {
    const limiter = createLimiter({ store: new MemoryStore({ maxKeys: 1_100_000 }), policies: [policy()] })
    return { decide: (key) => limiter.decide(key), close: () => void limiter.close() }
  }

export const heapContenders: Record<string, Setup> = {
  'ratekeeper tokenBucket': ratekeeper(() => tokenBucket({ limit: HUGE, window: '1h' })),
  'ratekeeper fixedWindow': ratekeeper(() => fixedWindow({ limit: HUGE, window: '1h' })),
  'ratekeeper slidingWindow': ratekeeper(() => slidingWindow({ limit: HUGE, window: '1h' })),
  'express-rate-limit MemoryStore': () => {
    const store = new ErlMemoryStore()
    store.init({ windowMs: 3_600_000 } as Parameters<ErlMemoryStore['init']>[0])
    return { decide: (key) => store.increment(key), close: () => store.shutdown() }
  },
  'rate-limiter-flexible RateLimiterMemory': () => {
    const limiter = new RateLimiterMemory({ points: HUGE, duration: 3600 })
    return { decide: (key) => limiter.consume(key).catch(() => undefined), close: () => {} }
  },
}

async function measure(name: string): Promise<void> {
  const setup = heapContenders[name]
  const gc = globalThis.gc
  if (setup === undefined) throw new Error(`unknown contender ${name}; known: ${Object.keys(heapContenders).join(', ')}`)
  if (gc === undefined) throw new Error('run with --expose-gc')
  const settle = async () => {
    await new Promise((resolve) => setImmediate(resolve))
    gc()
    gc()
  }
  await settle()
  const before = process.memoryUsage()
  const { decide, close } = setup()
  for (let i = 0; i < KEYS; i++) {
    const pending = decide(`client-${i}`)
    if (pending instanceof Promise) await pending
  }
  await settle()
  const after = process.memoryUsage()
  console.log(
    JSON.stringify({
      name,
      keys: KEYS,
      heapBytesPerKey: (after.heapUsed - before.heapUsed) / KEYS,
      arrayBufferBytesPerKey: (after.arrayBuffers - before.arrayBuffers) / KEYS,
    }),
  )
  close()
}

// Measures only when run as the child process (bench/memory.ts imports the list of contenders).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [name] = process.argv.slice(2)
  await measure(name ?? '')
}
