// loginGuard: an attacker who filled the per-username counter of `alice` from addresses of their
// own got alice's network put in the penalty box as soon as she retried a few times: each attempt
// the locked username refused was an offence for her address's box, and a boxed address refuses
// every username, so bob, on the same office network and never attacked, was locked out too —
// for 15 minutes, then an hour, then a day. A username locked elsewhere now refuses the attempt
// without an offence (nor any charge); the box still fills from what the address does itself.
import { expect, it } from 'vitest'
import { loginGuard } from '../../src/provider/index.js'

const options = {
  perPair: { limit: 5, window: '15m' },
  perIp: { limit: 20, window: '1d' },
  perUsername: { limit: 10, window: '1d' },
  penalty: { after: 3, within: '15m', blocks: ['15m', '1h', '1d'], forgiveAfter: '1d' },
} as const

it("alice retrying on a username locked from elsewhere never boxes her office's address", async () => {
  const now = Date.UTC(2026, 0, 1)
  const guard = loginGuard({ ...options, now: () => now })
  for (let i = 0; i < 10; i++) await guard.attempt({ username: 'alice', ip: `198.51.100.${i}` })
  for (let i = 0; i < 10; i++) {
    const retry = await guard.attempt({ username: 'alice', ip: '203.0.113.5' })
    expect(retry).toMatchObject({ allowed: false, status: 429 })
    expect(retry.decision.violated).toEqual(['login-username'])
    expect(Number(retry.headers['retry-after'])).toBeGreaterThan(0)
  }
  const bob = await guard.attempt({ username: 'bob', ip: '203.0.113.5' })
  expect(bob.allowed).toBe(true)
  // Her device cookie still lets her in.
  expect((await guard.attempt({ username: 'alice', ip: '203.0.113.5', trusted: true })).allowed).toBe(true)
})

it('an address that keeps failing on its own is still boxed', async () => {
  const now = Date.UTC(2026, 0, 1)
  const guard = loginGuard({ ...options, now: () => now })
  let boxed = false
  for (let i = 0; i < 9 && !boxed; i++)
    boxed = (await guard.attempt({ username: 'carol', ip: '192.0.2.9' })).decision.violated.includes('login-box')
  expect(boxed).toBe(true)
  expect((await guard.attempt({ username: 'dave', ip: '192.0.2.9' })).allowed).toBe(false)
})
