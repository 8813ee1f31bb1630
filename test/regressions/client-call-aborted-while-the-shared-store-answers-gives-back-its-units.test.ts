// A call aborted while the shared limiter's store was deciding on it (a Redis round trip) left the
// queue at once, and the units (and the concurrency lease) the store then granted it were never
// given back: every such abort spent a unit of the shared budget, or held a slot until it expired.
import { concurrency, createLimiter, tokenBucket } from 'ratekeeper'
import { createClient, type FetchFunction } from 'ratekeeper/client'
import { describe, expect, it } from 'vitest'
import { slowFirstAnswer, virtualTime } from '../client/helpers.js'

describe('a call aborted while the shared store decides on it', () => {
  it('gives back the units and the lease the store granted', async () => {
    const time = virtualTime(1_700_000_000_000)
    const limiter = createLimiter({
      policies: [tokenBucket({ name: 'rate', limit: 3, window: '1h' }), concurrency({ name: 'in-flight', limit: 1 })],
      now: time.now,
    })
    const { slow, asked, answer } = slowFirstAnswer(limiter)
    let sent = 0
    const fetchImpl: FetchFunction = async () => {
      sent++
      return new Response('ok')
    }
    const api = createClient({ baseUrl: 'http://api.test', fetch: fetchImpl, now: time.now, sleep: time.sleep, limiter: slow })

    const controller = new AbortController()
    const aborted = api('/', { signal: controller.signal })
    await asked()
    controller.abort(new Error('caller gave up'))
    await expect(aborted).rejects.toThrow('caller gave up')
    answer() // the store now grants the aborted call a unit and the lease
    await new Promise((resolve) => setImmediate(resolve))

    // All three units, and the one slot, are still there: three calls in a row, none waits.
    const t0 = time.now()
    const statuses: Array<number | string> = []
    for (let i = 0; i < 3; i++)
      statuses.push(
        await api('/').then(
          (r) => r.status,
          (e: Error) => e.name,
        ),
      )
    expect(statuses).toEqual([200, 200, 200])
    expect(sent).toBe(3)
    expect(time.now() - t0).toBe(0)
  })
})
