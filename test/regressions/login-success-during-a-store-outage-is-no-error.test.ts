// loginGuard during a store outage: with onStoreError 'allow' (the default) or 'fallback', the
// attempt is let through as the docs say, but `attempt.succeeded()` then reset the pair counter in
// the failing store and rejected with its StoreError. The recipe awaits it after a right password,
// so every correct login failed (a 500) while Redis was down: the limiter was why logins went
// down. The outage is heard already (the store-error event and the outage warning); a success now
// resolves, and under 'fallback' the pair counter the fallback kept is reset.
import { describe, expect, it } from 'vitest'
import { MemoryStore, type Store } from '../../src/index.js'
import { loginGuard } from '../../src/provider/index.js'

/** A store whose every call fails, as a RedisStore does while Redis is down. */
function downStore(): Store {
  const down = () => Promise.reject(new Error('connection refused'))
  return { consume: down, peek: down, refund: down, reset: down, charge: down, close: () => {} }
}

describe('a successful login while the store is down', () => {
  it("onStoreError 'allow': the attempt is let through and succeeded() resolves; the outage is heard", async () => {
    const guard = loginGuard({ store: downStore(), onStoreError: 'allow' })
    const errors: unknown[] = []
    guard.limiter.on('store-error', (e) => errors.push(e))
    guard.limiter.on('warn', () => {})
    const attempt = await guard.attempt({ username: 'alice', ip: '203.0.113.7' })
    expect(attempt.allowed).toBe(true)
    await expect(attempt.succeeded()).resolves.toBeUndefined()
    expect(errors.length).toBeGreaterThan(0)
  })

  it("onStoreError 'fallback': succeeded() resolves and resets the pair counter the fallback kept", async () => {
    let now = Date.UTC(2026, 0, 1)
    const guard = loginGuard({
      store: downStore(),
      onStoreError: 'fallback',
      fallback: new MemoryStore(),
      now: () => now,
      perPair: { limit: 3, window: '15m' },
    })
    guard.limiter.on('store-error', () => {})
    guard.limiter.on('warn', () => {})
    const ip = '203.0.113.7'
    // Two wrong passwords, then the right one: the pair counter starts again from zero.
    for (let i = 0; i < 2; i++) await (await guard.attempt({ username: 'alice', ip })).failed()
    const right = await guard.attempt({ username: 'alice', ip })
    expect(right.allowed).toBe(true)
    await expect(right.succeeded()).resolves.toBeUndefined()
    now += 1000
    let allowed = 0
    for (let i = 0; i < 5; i++) {
      const a = await guard.attempt({ username: 'alice', ip })
      if (a.allowed) allowed++
      await a.failed()
    }
    expect(allowed).toBe(3)
  })
})
