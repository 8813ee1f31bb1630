// After a reset has passed, one call goes first (the probe) and the others wait for its answer, so
// that a budget refilling one unit at a time is not met by a stampede. When the probe ended without
// an answer (aborted, or the network failed), the budget was left as "nothing known", and every
// waiting call went at once: the stampede the probe exists to prevent.
import { createClient, type FetchFunction, type Sleep } from 'ratekeeper/client'
import { describe, expect, it } from 'vitest'

describe('a probe that ends without an answer', () => {
  it.each(['aborted', 'network failure'])('%s: one waiting call probes next, the others keep waiting', async (how) => {
    let t = 1_700_000_000_000
    // Nothing in this test waits on a timer: a sleep ends only when aborted.
    const sleep: Sleep = (_ms, signal) =>
      new Promise<void>((_resolve, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }))
    const pending: Array<{ resolve: (r: Response) => void; reject: (e: unknown) => void }> = []
    let sent = 0
    const fetchImpl: FetchFunction = (_input, init) => {
      sent++
      if (sent === 1) return Promise.resolve(new Response('ok', { headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' } }))
      return new Promise<Response>((resolve, reject) => {
        pending.push({ resolve, reject })
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true })
      })
    }
    const api = createClient({ baseUrl: 'http://api.test', fetch: fetchImpl, now: () => t, sleep })
    const turns = async (n = 10): Promise<void> => {
      for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
    }

    await api('/') // nothing left, more in 1 s
    t += 1000
    const controller = new AbortController()
    const probe = api('/', { signal: controller.signal }).catch((e: unknown) => e)
    await turns()
    const waiting = Array.from({ length: 5 }, () => api('/').then((r) => r.status))
    await turns()
    expect(sent).toBe(2) // the probe alone

    if (how === 'aborted') controller.abort(new Error('caller gave up'))
    else pending[0].reject(new TypeError('fetch failed'))
    await probe
    await turns()
    expect(sent).toBe(3) // one waiting call took over as the probe

    pending[1].resolve(new Response('ok', { headers: { 'x-ratelimit-remaining': '10', 'x-ratelimit-reset': '60' } }))
    await turns()
    for (const p of pending.slice(2))
      p.resolve(new Response('ok', { headers: { 'x-ratelimit-remaining': '9', 'x-ratelimit-reset': '60' } }))
    expect(await Promise.all(waiting)).toEqual([200, 200, 200, 200, 200])
    expect(sent).toBe(7)
  })
})
