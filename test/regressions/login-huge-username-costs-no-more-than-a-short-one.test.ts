// loginGuard normalised and hashed the whole username on every attempt, before counting it: a 1 MB
// username cost about 20 ms of the event loop (NFKC twice, lowercase, SHA-256), even from an
// address already in the penalty box, ten times what parsing the 1 MB body cost. A username longer
// than 1,024 characters is now counted by its first 1,024: no real username is that long, and
// usernames sharing those characters share counters (the strict side).
import { describe, expect, it } from 'vitest'
import { loginGuard } from '../../src/provider/index.js'

describe('a huge username', () => {
  it('is keyed by its first 1,024 characters', () => {
    const guard = loginGuard()
    const head = 'ａ'.repeat(1024)
    const a = guard.keysOf({ username: `${head}${'b'.repeat(1_000_000)}`, ip: '203.0.113.7' })
    const b = guard.keysOf({ username: `${head}c`, ip: '203.0.113.7' })
    expect(a).toEqual(b)
    expect(a.username).not.toBe(guard.keysOf({ username: head.slice(1), ip: '203.0.113.7' }).username)
  })

  it('costs an attempt about what a short one costs (not tens of ms)', async () => {
    const guard = loginGuard({ perIp: { limit: 1_000_000, window: '1d' } })
    const huge = `${'ａ'.repeat(500_000)}${'\u0301'.repeat(500_000)}`
    let best = Number.POSITIVE_INFINITY
    for (let i = 0; i < 5; i++) {
      const start = performance.now()
      await guard.attempt({ username: huge, ip: '203.0.113.7' })
      best = Math.min(best, performance.now() - start)
    }
    // The whole username took 13-23 ms here; its first 1,024 characters take about 0.05 ms.
    expect(best).toBeLessThan(5)
  })
})
