// `maxWaitMs` bounds every wait of a call: behind a pacing probe that never answers, in the
// concurrency queue behind a request that never answers, and in the rate queue.
import { createClient, type FetchFunction, RateLimitError } from 'ratekeeper/client'
import { describe, expect, it } from 'vitest'
import { virtualTime } from '../client/helpers.js'

const T0 = 1_700_000_000_000

/** A fetch whose answers the test scripts: `hang` requests never answer until aborted. */
function scriptedFetch(answers: Array<Response | 'hang'>) {
  let n = 0
  const started: Array<() => void> = []
  const fetchImpl: FetchFunction = (_input, init) => {
    const answer = answers[Math.min(n++, answers.length - 1)]
    for (const s of started.splice(0)) s()
    if (answer !== 'hang') return Promise.resolve(answer)
    return new Promise<Response>((_resolve, reject) => {
      init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true })
    })
  }
  return {
    fetchImpl,
    calls: () => n,
    /** Resolves when the next request starts. */
    nextStart: () => new Promise<void>((r) => started.push(r)),
  }
}

const spent = () => new Response('ok', { headers: { 'X-RateLimit-Remaining': '0', 'X-RateLimit-Limit': '5', 'X-RateLimit-Reset': '1' } })

describe('every wait is bounded by the call’s own maxWaitMs', () => {
  it('behind a pacing probe that never answers', async () => {
    const time = virtualTime(T0)
    const f = scriptedFetch([spent(), 'hang'])
    const client = createClient({ baseUrl: 'http://api.test', fetch: f.fetchImpl, now: time.now, sleep: time.sleep, maxWaitMs: 60_000 })
    await client('/')
    const probe = new AbortController()
    const probing = f.nextStart()
    const first = client('/', { signal: probe.signal }).catch((e: unknown) => e)
    await probing
    const start = time.now()
    const error = (await client('/', { rateLimit: { maxWaitMs: 1000 } }).catch((e: unknown) => e)) as RateLimitError
    expect(error).toBeInstanceOf(RateLimitError)
    expect(error).toMatchObject({ source: 'client', reason: 'max-wait', attempts: 0 })
    expect(time.now() - start).toBe(1000)
    expect(f.calls()).toBe(2)
    probe.abort()
    await first
    expect(time.pending()).toBe(0)
  })

  it('in the concurrency queue, behind a request that never answers', async () => {
    const time = virtualTime(T0)
    const f = scriptedFetch(['hang'])
    const client = createClient({
      baseUrl: 'http://api.test',
      fetch: f.fetchImpl,
      now: time.now,
      sleep: time.sleep,
      queue: { concurrency: 1 },
    })
    const holder = new AbortController()
    const started = f.nextStart()
    const first = client('/', { signal: holder.signal }).catch((e: unknown) => e)
    await started
    const start = time.now()
    const error = (await client('/', { rateLimit: { maxWaitMs: 1000 } }).catch((e: unknown) => e)) as RateLimitError
    expect(error).toMatchObject({ source: 'client', reason: 'max-wait', attempts: 0 })
    expect(time.now() - start).toBe(1000)
    holder.abort()
    await first
    expect(time.pending()).toBe(0)
  })

  it('in the rate queue: a call that would wait 5 s with maxWaitMs 300 is refused without waiting', async () => {
    const time = virtualTime(T0)
    const f = scriptedFetch([new Response('ok')])
    const client = createClient({
      baseUrl: 'http://api.test',
      fetch: f.fetchImpl,
      now: time.now,
      sleep: time.sleep,
      queue: { rate: { limit: 1, window: '5s' } },
    })
    await client('/')
    const start = time.now()
    const slow = client('/', { rateLimit: { maxWaitMs: 10_000 } })
    const error = (await client('/', { rateLimit: { maxWaitMs: 300 } }).catch((e: unknown) => e)) as RateLimitError
    expect(error).toMatchObject({ source: 'client', reason: 'max-wait', attempts: 0 })
    expect(time.now() - start).toBeLessThanOrEqual(300)
    expect(error.waitedMs).toBeLessThanOrEqual(300)
    expect((await slow).status).toBe(200)
    expect(time.now() - start).toBe(5000)
  })
})
