// A concurrency limit is there to bound the work a client has running (its docs: "slow queries,
// long streams"). The adapters release a lease as soon as the client hangs up, while the handler
// is still running: a client that opens a request to a slow endpoint and hangs up at once can
// repeat it without end and have any number of handlers running at the same time, `limit` or not.
//
// Fixed: a hang-up before the handler started its response releases once the handler is done
// (Koa: the middleware chain settles; Express: the handler ends the response; Fastify: it
// answers; Fetch and Hono: the handler returns), with `leaseMs` the bound for one that never ends.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { concurrency, createLimiter } from '../../src/index.js'
import { Gates, IN_FLIGHT_FRAMEWORKS, type InFlightApp, inFlightApp, type Options } from '../adapters/in-flight-apps.js'

let app: InFlightApp | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

describe.each(IN_FLIGHT_FRAMEWORKS)('%s: concurrency after client hang-ups', (framework) => {
  it('no more than `limit` handlers run at once, however often the client hangs up', async () => {
    const limiter = createLimiter({ policies: [concurrency({ name: 'in-flight', limit: 2 })] })
    const gates = new Gates()
    app = inFlightApp(framework, { limiter, key: () => 'k' } as Options, gates)
    for (let round = 0; round < 3; round++) {
      const pending = [app.open('/slow'), app.open('/slow')]
      // Wait until both are running at the gate (or, if the limit holds, refused: the wait times out).
      const before = gates.count
      await vi.waitFor(() => expect(gates.count).toBe(before + 2), { timeout: 200, interval: 5 }).catch(() => undefined)
      for (const p of pending) p.abort()
      await Promise.all(pending.map((p) => p.done))
      // The attacker waits for the server to notice the hang-ups (the leases are released then).
      await vi
        .waitFor(async () => expect((await limiter.peek('k', { cost: 0 })).remaining).toBe(2), { timeout: 200, interval: 5 })
        .catch(() => undefined)
    }
    const running = gates.count
    gates.open()
    expect(running).toBeLessThanOrEqual(2)
  })
})
