// A concurrency policy must bound the requests in flight whatever their cost estimate. Today a
// consume of cost 0 "only looks" and takes no slot, so an HTTP limiter whose `cost` is 0 — the
// natural reserve-then-settle set-up when the cost is unknown up front (`cost: 0, actualCost:
// 'x-usage-tokens'`), or a cost function a client can drive to 0 — admits any number of requests
// in flight past `concurrency({ limit })`, silently.
//
// NOT FIXED: marked `it.fails` so the suite stays green; remove `.fails` with the fix. Suggested
// fix: a consume takes a lease of every concurrency policy whatever its cost (the step knows a
// consume by the lease it is given; a peek asks without recording), or, at the least, warn at
// construction when a constant `cost: 0` meets a concurrency policy and once when a cost
// function yields 0 on such a list.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { concurrency, createLimiter, tokenBucket } from '../../src/index.js'
import { Gates, type InFlightApp, inFlightApp, type Options } from '../adapters/in-flight-apps.js'

let app: InFlightApp | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

describe('concurrency with a zero cost estimate', () => {
  it.fails('a second request in flight is refused with limit 1, though the estimate is 0', async () => {
    const limiter = createLimiter({
      policies: [concurrency({ name: 'in-flight', limit: 1 }), tokenBucket({ name: 'tokens', limit: 1000, window: '1m' })],
    })
    const gates = new Gates()
    app = inFlightApp('express5', { limiter, key: () => 'k', cost: 0, actualCost: 'x-usage-tokens' } as Options, gates)
    const first = app.open('/slow')
    await vi.waitFor(() => expect(gates.count).toBe(1), { timeout: 5000, interval: 5 })
    const second = await app.send('/fast')
    gates.open()
    await first.done
    expect(second.status).toBe(429)
  })
})
