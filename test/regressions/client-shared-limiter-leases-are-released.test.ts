// A shared `limiter` with a concurrency() policy (at most n requests in flight, across processes) took
// a lease for every attempt and never gave it back: after n calls, each next call waited for a lease
// to expire (leaseMs, a minute by default), though nothing was in flight.
import { concurrency, createLimiter } from 'ratekeeper'
import { createClient, type FetchFunction } from 'ratekeeper/client'
import { describe, expect, it } from 'vitest'
import { virtualTime } from '../client/helpers.js'

function setup(answers: (n: number) => Response) {
  const time = virtualTime(1_700_000_000_000)
  let inFlight = 0
  let most = 0
  let sent = 0
  const fetchImpl: FetchFunction = async () => {
    const n = sent++
    inFlight++
    most = Math.max(most, inFlight)
    await new Promise((resolve) => setImmediate(resolve))
    inFlight--
    return answers(n)
  }
  const limiter = createLimiter({ policies: [concurrency({ name: 'in-flight', limit: 2 })], now: time.now })
  const api = createClient({ baseUrl: 'http://api.test', fetch: fetchImpl, now: time.now, sleep: time.sleep, limiter, random: () => 0 })
  return { time, api, sent: () => sent, most: () => most }
}

describe('a shared limiter with a concurrency policy', () => {
  it('gives each lease back when the answer is in: five calls in a row wait for nothing', async () => {
    const { time, api, sent } = setup(() => new Response('ok'))
    const t0 = time.now()
    for (let i = 0; i < 5; i++) expect((await api('/')).status).toBe(200)
    expect(sent()).toBe(5)
    expect(time.now() - t0).toBe(0)
  })

  it('gives back the lease of an attempt that is retried', async () => {
    const { time, api, sent } = setup((n) =>
      n < 2 ? new Response(null, { status: 429, headers: { 'retry-after': '1' } }) : new Response('ok'),
    )
    const t0 = time.now()
    expect((await api('/')).status).toBe(200)
    expect((await api('/')).status).toBe(200)
    expect(sent()).toBe(4)
    expect(time.now() - t0).toBe(2000) // the two Retry-After waits, no lease expiry
  })

  it('still holds at most two in flight, and serves twenty concurrent calls without waiting for expiry', async () => {
    const { time, api, most } = setup(() => new Response('ok'))
    const t0 = time.now()
    const statuses = await Promise.all(Array.from({ length: 20 }, async () => (await api('/')).status))
    expect(statuses.every((s) => s === 200)).toBe(true)
    expect(most()).toBe(2)
    expect(time.now() - t0).toBeLessThan(60_000)
  })
})
