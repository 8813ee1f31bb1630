// The client's own clock went back (an NTP step, a VM resumed): a budget blocked by
// `Retry-After: 5` kept its end in the old clock's terms, so the next call saw a wait of an hour
// and 5 s, and was refused at once (max-wait) for an hour, without a request. A wait the server
// asked for is measured from when it was asked: it now moves back with the clock. The queue's own
// rate (`queue.rate`) stalled the same way: its token bucket, filled before the step, refused
// every call for the hour; it now runs on a clock that carries on from where it was.
import { createClient, type FetchFunction } from 'ratekeeper/client'
import { describe, expect, it } from 'vitest'
import { virtualTime } from '../client/helpers.js'

const T0 = Date.UTC(2026, 0, 1)
const HOUR = 3_600_000

function setup(first: { status: number; headers: Record<string, string> }) {
  const time = virtualTime(T0)
  let offset = 0
  let n = 0
  const fetchImpl: FetchFunction = async () => (n++ === 0 ? new Response('no', first) : new Response('ok'))
  const client = createClient({
    baseUrl: 'http://api.test',
    fetch: fetchImpl,
    now: () => time.now() + offset,
    sleep: time.sleep,
    retry: { retries: 0 },
  })
  return {
    time,
    client,
    sent: () => n,
    jump: (ms: number) => {
      offset += ms
    },
  }
}

describe('the client clock going back', () => {
  it.each([
    ['Retry-After: 5', { status: 429, headers: { 'Retry-After': '5' } }],
    [
      'remaining 0, reset in 5 s',
      { status: 200, headers: { 'RateLimit-Limit': '10', 'RateLimit-Remaining': '0', 'RateLimit-Reset': '5' } },
    ],
  ])('%s: the next call waits about 5 s, not an hour more', async (_label, first) => {
    const s = setup(first)
    await s.client('/').catch(() => undefined)
    expect(s.sent()).toBe(1)
    s.jump(-HOUR)
    const start = s.time.now()
    const res = await s.client('/')
    expect(res.status).toBe(200)
    expect(s.sent()).toBe(2)
    expect(s.time.now() - start).toBeLessThanOrEqual(5_000)
    expect(s.time.now() - start).toBeGreaterThan(0)
  })

  it('queue.rate: the next call waits for its unit, not an hour more', async () => {
    const time = virtualTime(T0)
    let offset = 0
    let n = 0
    const client = createClient({
      baseUrl: 'http://api.test',
      fetch: async () => {
        n++
        return new Response('ok')
      },
      now: () => time.now() + offset,
      sleep: time.sleep,
      queue: { rate: { limit: 1, window: '10s' } },
    })
    await client('/')
    offset = -HOUR
    const start = time.now()
    expect((await client('/')).status).toBe(200)
    expect((await client('/')).status).toBe(200)
    expect(n).toBe(3)
    expect(time.now() - start).toBeLessThanOrEqual(20_000)
  })

  it('a clock going forward does not stretch the wait either', async () => {
    const s = setup({ status: 429, headers: { 'Retry-After': '5' } })
    await s.client('/').catch(() => undefined)
    s.jump(HOUR)
    expect((await s.client('/')).status).toBe(200)
  })
})
