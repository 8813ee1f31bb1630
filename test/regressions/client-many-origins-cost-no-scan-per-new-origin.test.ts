// The client keeps what it knows of at most 10,000 budgets. Once full of budgets with a reset
// still to come (a crawler over many APIs, each reporting an hourly window), every new origin
// scanned all 10,000 to drop a single one: each first call to an origin cost a full scan (calls
// 6 to 10 times slower past the ten-thousandth origin). Room is now made in batches.
import { describe, expect, it } from 'vitest'
import { Pacer } from '../../src/client/pacer.js'
import { parseRateLimitHeaders } from '../../src/client/parse-headers.js'

describe('a client that calls many origins', () => {
  it('does a bounded amount of pruning work per new origin, and keeps at most 10,000 budgets', () => {
    const pacer = new Pacer(0)
    const now = 1_700_000_000_000
    const info = parseRateLimitHeaders({ 'x-ratelimit-limit': '100', 'x-ratelimit-remaining': '99', 'x-ratelimit-reset': '3600' }, { now })
    const origins = 30_000
    let kept = 0
    for (let i = 0; i < origins; i++) {
      const key = `https://api-${i}.example`
      const ticket = pacer.sent(key, now)
      pacer.received(key, now, info, false, undefined, ticket)
      if (pacer.state(key) !== undefined) kept++
    }
    expect(kept).toBe(origins) // the newest budget is always kept
    expect(pacer.size).toBeLessThanOrEqual(10_000)
    // A full scan per new origin past the ten-thousandth would be 20,000 × 10,000 steps.
    expect(pacer.pruneSteps / origins).toBeLessThan(50)
    // The most recent budgets are the ones kept.
    expect(pacer.state(`https://api-${origins - 1}.example`)?.remaining).toBe(99)
    expect(pacer.state('https://api-0.example')).toBeUndefined()
  })
})
