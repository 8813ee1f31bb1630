// One server of the leases section's real run: a limiter on a shared Redis (one global key),
// 64 decisions in flight for `ms` milliseconds from `start` (epoch ms), then its counts as JSON.
// argv: url prefix leased(0|1) start ms

import { Redis } from 'ioredis'
import { createLimiter, tokenBucket } from 'ratekeeper'
import { RedisStore } from 'ratekeeper/redis'

const [url, prefix, leased, start, ms] = process.argv.slice(2)
const client = new Redis(url, { enableAutoPipelining: true })
const policy = tokenBucket({
  name: 'global',
  limit: 1_000_000,
  window: '1s',
  ...(leased === '1' ? { lease: { size: 500, ttlMs: '1s' } } : {}),
})
const limiter = createLimiter({ store: new RedisStore({ client, prefix, timeoutMs: 1_000 }), policies: [policy] })
let decisions = 0
let admitted = 0
await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(start) - Date.now())))
const end = Number(start) + Number(ms)
await Promise.all(
  Array.from({ length: 64 }, async () => {
    while (Date.now() < end) {
      const d = await limiter.consume('all')
      decisions++
      if (d.allowed) admitted++
    }
  }),
)
await limiter.close()
client.disconnect()
process.stdout.write(`${JSON.stringify({ decisions, admitted })}\n`)
