// A policy's spec is what the Lua twin reads: kind code first, then its numbers in the order
// the script parses them. These encodings are the script's calling convention, so they are
// pinned here (a change needs a change of the script, and of its pinned SHA1).

import { describe, expect, it } from 'vitest'
import { concurrency, fixedWindow, slidingWindow, tokenBucket } from '../../../src/index.js'
import { DECIDE_SCRIPT } from '../../../src/stores/redis/script.js'
import { SCRIPT_KIND, specOf } from '../../../src/stores/redis/spec.js'

describe('policy specs for the script', () => {
  it('encode each kind as the script parses it', () => {
    expect(specOf(tokenBucket({ limit: 100, window: '1m', burst: 150 }).params)).toBe('1:100:150:1:600')
    expect(specOf(tokenBucket({ limit: 0, window: '1s' }).params)).toBe('1:0:0:1:1')
    expect(specOf(tokenBucket({ limit: 1_000_000, window: '1s' }).params)).toBe('1:1000000:1000000:1000:1')
    expect(specOf(tokenBucket({ limit: 3_000_000, window: '1s' }).params)).toBe('1:3000000:3000000:1024:1')
    expect(specOf(fixedWindow({ limit: 10, window: '1h' }).params)).toBe('2:10:3600000')
    expect(specOf(fixedWindow({ limit: 5000, window: 'month' }).params)).toBe('3:5000:0')
    expect(specOf(slidingWindow({ limit: 60, window: '1m' }).params)).toBe('4:60:6000:10')
    expect(specOf(slidingWindow({ limit: 7, window: 1000, precision: 3 }).params)).toBe('4:7:334:3')
    expect(specOf(concurrency({ limit: 10 }).params)).toBe('5:10:60000:1000')
    expect(specOf(concurrency({ limit: 0, leaseMs: '500ms', retryAfter: 250 }).params)).toBe('5:0:500:250')
  })

  it('use the kind codes the script documents', () => {
    const header = DECIDE_SCRIPT.slice(0, DECIDE_SCRIPT.indexOf('\nlocal '))
    expect(header).toContain(`${SCRIPT_KIND.tokenBucket} token bucket`)
    expect(header).toContain(`${SCRIPT_KIND.fixedWindow} fixed window`)
    expect(header).toContain(`${SCRIPT_KIND.calendarMonth} calendar month`)
    expect(header).toContain(`${SCRIPT_KIND.slidingWindow} sliding window`)
    expect(header).toContain(`${SCRIPT_KIND.concurrency} concurrency`)
  })
})
