// loginGuard on a real Redis and on a Redis Cluster (3 masters): the three counters of an attempt
// are decided in one script call (one hash tag, so one slot), so parallel attempts never pass more
// than the limits, and a fleet of servers shares the counts.
import type { Store } from 'ratekeeper'
import { loginGuard } from 'ratekeeper/provider'
import { expect, it } from 'vitest'
import { clock } from '../helpers/clock.js'
import { describeRedisStores } from '../helpers/redis-store-suite.js'

const T0 = Date.UTC(2026, 0, 1)

function suite(newStore: () => Store): void {
  const guardOn = () => {
    const c = clock(T0)
    const store = newStore()
    const options = {
      now: c.now,
      perPair: { limit: 5, window: '15m' },
      perIp: { limit: 20, window: '1d' },
      perUsername: { limit: 10, window: '1d' },
    } as const
    // Two servers sharing one store: one fleet.
    return [loginGuard({ ...options, store }), loginGuard({ ...options, store })]
  }

  it('100 parallel attempts across two servers: exactly perPair pass', async () => {
    const [a, b] = guardOn()
    const attempts = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a : b).attempt({ username: 'Alice', ip: '203.0.113.1' })),
    )
    expect(attempts.filter((x) => x.allowed)).toHaveLength(5)
    expect(attempts.find((x) => !x.allowed)?.headers['retry-after']).toMatch(/^\d+$/)
  })

  it('spraying from one address and stuffing from many: exactly perIp and perUsername pass', async () => {
    const [a, b] = guardOn()
    const spray = await Promise.all(Array.from({ length: 40 }, (_, i) => a.attempt({ username: `user${i}`, ip: '203.0.113.2' })))
    expect(spray.filter((x) => x.allowed)).toHaveLength(20)
    const stuff = await Promise.all(Array.from({ length: 40 }, (_, i) => b.attempt({ username: 'bob', ip: `192.0.2.${i + 1}` })))
    expect(stuff.filter((x) => x.allowed)).toHaveLength(10)
  })

  it('a success resets the pair on the other server too', async () => {
    const [a, b] = guardOn()
    for (let i = 0; i < 4; i++) await (await a.attempt({ username: 'carol', ip: '203.0.113.3' })).failed()
    await (await b.attempt({ username: 'carol', ip: '203.0.113.3' })).succeeded()
    const next = await Promise.all(Array.from({ length: 8 }, () => a.attempt({ username: 'carol', ip: '203.0.113.3' })))
    expect(next.filter((x) => x.allowed)).toHaveLength(5)
  })
}

describeRedisStores('loginGuard', 'login', { clock: 'caller', timeoutMs: 5000 }, (newStore) => suite(() => newStore()))
