import { createLimiter, tokenBucket } from 'ratekeeper'
import { topLimited } from 'ratekeeper/metrics'
import { describe, expect, it } from 'vitest'
import { clock } from '../helpers/clock.js'
import { failingStore } from './helpers.js'

const T0 = Date.UTC(2026, 0, 1)

describe('topLimited', () => {
  it('names the most limited subjects, in a bounded number of counters, whatever the number of clients', async () => {
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1h' })], now: clock(T0).now })
    const top = topLimited(limiter, { size: 3 })
    // 200 clients limited twice each, and two abusers limited 60 and 40 times.
    for (let i = 0; i < 200; i++) for (let j = 0; j < 3; j++) await limiter.consume(`client-${i}`)
    for (let j = 0; j < 61; j++) await limiter.consume('abuser-1')
    for (let j = 0; j < 41; j++) await limiter.consume('abuser-2')
    expect(top.total).toBe(200 * 2 + 60 + 40)
    const [first, second] = top.top(2)
    expect(first.key).toBe('abuser-1')
    expect(second.key).toBe('abuser-2')
    expect(first.count - first.error).toBeLessThanOrEqual(60)
    expect(first.count).toBeGreaterThanOrEqual(60)
    expect(top.top()).toHaveLength(3)
    top.reset()
    expect(top.top()).toEqual([])
    top.close()
    await limiter.consume('abuser-1')
    expect(top.total).toBe(0)
  })

  it('counts dry-run denials, not store errors, and maps keys with `subject`', async () => {
    const dry = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1h' })], now: clock(T0).now, dryRun: true })
    const broken = createLimiter({
      policies: [tokenBucket({ limit: 1, window: '1h' })],
      store: failingStore(),
      onStoreError: 'deny',
      logger: { warn: () => {} },
    })
    const a = topLimited(dry, { subject: (d) => `account:${d.key.length}` })
    const b = topLimited(broken)
    for (let i = 0; i < 3; i++) await dry.consume('sk_live_123')
    await broken.consume('k')
    expect(a.top()).toEqual([{ key: 'account:11', count: 2, error: 0 }])
    expect(b.total).toBe(0)
  })

  it('rejects a size outside 1-10000 with a ConfigurationError naming it', () => {
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1h' })] })
    for (const size of [0, 1.5, 10_001, '20']) {
      expect(() => topLimited(limiter, { size: size as number })).toThrow(
        expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'size' }),
      )
    }
  })
})
