// A `fetch` option that resolves to something other than a Response (a hand-written test double
// returning `{ ok: true, status: 200 }`) made the call fail inside the header parser, with an error
// about parseRateLimitHeaders' "headers" argument, and the request it had counted as in flight was
// never landed: when it was the probe after a reset, every later call of the origin waited for it
// until maxWaitMs and was refused.
import { createClient, type FetchFunction } from 'ratekeeper/client'
import { describe, expect, it } from 'vitest'
import { virtualTime } from '../client/helpers.js'

describe('a fetch that resolves to no Response', () => {
  it('is refused naming the fetch option, and the budget is not left waiting on it', async () => {
    const time = virtualTime(1_700_000_000_000)
    let n = 0
    const fetchImpl = (async () => {
      n++
      if (n === 2) return { ok: true, status: 200 } // the careless double, on the probe
      return new Response('ok', { headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' } })
    }) as unknown as FetchFunction
    const api = createClient({ baseUrl: 'http://api.test', fetch: fetchImpl, now: time.now, sleep: time.sleep })

    expect((await api('/')).status).toBe(200) // nothing left, more in 1 s
    time.advance(1000) // the reset has passed: the next call probes
    await expect(api('/')).rejects.toMatchObject({ code: 'ERR_RK_INVALID_OPTION', option: 'fetch' })
    expect(api.budget('http://api.test')?.inFlight).toBe(0)

    const t0 = time.now()
    expect((await api('/')).status).toBe(200)
    expect(time.now() - t0).toBe(0)
  })
})
