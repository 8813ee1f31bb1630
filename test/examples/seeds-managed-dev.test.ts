/**
 * The managed.dev page (seeds/managed-dev-rate-limits.txt), line by line, against
 * examples/seeds/managed-dev.ts over real HTTP, on the memory store and on Redis. Each test
 * quotes the line it checks.
 */
import { afterEach, expect, it } from 'vitest'
import { createApp, DOC_URL, INTROSPECTION_LIMIT, TEAM_CEILING, type Tier } from '../../examples/seeds/managed-dev.js'
import { clock } from '../helpers/clock.js'
import { httpClient, PACING, RETRYING, recordingClient } from './seed-http.js'
import { describeEachStore } from './seed-stores.js'

// The page's own example instant: X-RateLimit-Reset 1782192000 is 2026-06-23T05:20:00Z.
const T0 = 1782192000 * 1000 - 60_000
const S0 = T0 / 1000
const TEAMS: Record<string, string> = {
  mfk_live_1: 'acme',
  mfk_live_2: 'acme',
  mfk_live_3: 'acme',
  mfk_live_big: 'bigco',
  mfk_live_solo: 'solo',
}
const TIER_OF: Record<string, Tier> = { mfk_live_big: 'scale' }
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

describeEachStore('seed: managed.dev (examples/seeds/managed-dev.ts)', (kind) => {
  async function start(t0 = T0) {
    const c = clock(t0)
    const lookups: string[] = []
    const { app, limiter } = await createApp({
      now: c.now,
      store: kind.store(),
      teamOf: async (key) => {
        lookups.push(key)
        return TEAMS[key] ?? (key.startsWith('mfk_live_many_') ? 'minter' : undefined)
      },
      tierOf: async (key) => TIER_OF[key],
    })
    const base = await app.listen({ port: 0, host: '127.0.0.1' })
    const server = httpClient(base, async () => {
      await app.close()
      await limiter.close()
    })
    cleanup.push(server.close)
    const send = (method: string, path: string, key: string) => server.send(method, path, { headers: { authorization: `Bearer ${key}` } })
    const statuses = async (n: number, method: string, path: string, key: string) => {
      const out: number[] = []
      for (let i = 0; i < n; i++) out.push((await send(method, path, key)).status)
      return out
    }
    return { c, send, statuses, lookups, limiter, server }
  }
  const times = (n: number, status: number) => Array(n).fill(status)

  it('"The API is rate-limited with token buckets, per key and per team": buckets refill continuously', async () => {
    const { c, send, statuses } = await start()
    expect(await statuses(101, 'POST', '/v1/runs', 'mfk_live_1')).toEqual([...times(100, 201), 429])
    // 100 a minute: one token every 600 ms, not a window that resets all at once.
    c.advance(600)
    expect(await statuses(2, 'POST', '/v1/runs', 'mfk_live_1')).toEqual([201, 429])
    // Per key: another key of the same team has its own write bucket.
    expect((await send('POST', '/v1/runs', 'mfk_live_2')).headers['x-ratelimit-remaining']).toBe('99')
  })

  it('"Every response carries the headers you need to pace yourself": 200, 201, 202, 204, 404, 429 and /v1/rate-limits', async () => {
    const { send, statuses } = await start()
    const answers = [
      await send('GET', '/v1/runs', 'mfk_live_1'),
      await send('POST', '/v1/runs', 'mfk_live_1'),
      await send('POST', '/v1/jobs', 'mfk_live_1'),
      await send('DELETE', '/v1/runs/run_1', 'mfk_live_1'),
      await send('GET', '/v1/nothing-here', 'mfk_live_1'),
      await send('GET', '/v1/rate-limits', 'mfk_live_1'),
    ]
    await statuses(4, 'POST', '/v1/jobs', 'mfk_live_1')
    answers.push(await send('POST', '/v1/jobs', 'mfk_live_1'))
    expect(answers.map((a) => a.status)).toEqual([200, 201, 202, 204, 404, 200, 429])
    for (const a of answers) {
      expect(a.headers['x-ratelimit-limit']).toMatch(/^\d+$/)
      expect(a.headers['x-ratelimit-remaining']).toMatch(/^\d+$/)
      expect(a.headers['x-ratelimit-reset']).toMatch(/^\d+$/)
    }
  })

  it('"and a 429 tells you exactly how long to wait": not a second less, and no more', async () => {
    const { c, send, statuses } = await start()
    await statuses(5, 'POST', '/v1/jobs', 'mfk_live_1')
    const denied = await send('POST', '/v1/jobs', 'mfk_live_1')
    expect(denied.headers['retry-after']).toBe('12')
    c.advance(11_000)
    expect((await send('POST', '/v1/jobs', 'mfk_live_1')).status).toBe(429)
    c.advance(1_000)
    expect((await send('POST', '/v1/jobs', 'mfk_live_1')).status).toBe(202)
  })

  it('"There are two layers, and a request must satisfy both.": all or nothing', async () => {
    const { send, statuses, limiter } = await start()
    // The key's create bucket is spent: the refused request takes nothing from the team.
    await statuses(5, 'POST', '/v1/jobs', 'mfk_live_1')
    await statuses(3, 'POST', '/v1/jobs', 'mfk_live_1')
    const team = await limiter.peek('team:acme', { policies: TEAM_CEILING })
    expect(team.remaining).toBe(4995)
    // The team's ceiling is spent: the refused request takes nothing from the key.
    await limiter.consume('team:acme', { cost: 4995, policies: TEAM_CEILING })
    const denied = await send('GET', '/v1/runs', 'mfk_live_2')
    expect(denied.status).toBe(429)
    expect(denied.headers['x-ratelimit-limit']).toBe('5000')
    const state = (await send('GET', '/v1/rate-limits', 'mfk_live_2')).json<{ data: { buckets: Array<{ remaining: number }> } }>()
    expect(state.data.buckets[0].remaining).toBe(1000)
  })

  it('"the per-team ceiling keeps one noisy team — or a team that mints many keys — from starving everyone else"', async () => {
    const { send, limiter } = await start()
    // A team has spent 4,900 of its minute through its keys, then mints six more that read as
    // fast as they can: 20 each would be 120, but the team gets 100 more in all.
    await limiter.consume('team:minter', { cost: 4_900, policies: TEAM_CEILING })
    let admitted = 0
    for (let k = 0; k < 6; k++) {
      for (let i = 0; i < 20; i++) if ((await send('GET', '/v1/runs', `mfk_live_many_${k}`)).status === 200) admitted++
    }
    expect(admitted).toBe(100)
    // Everyone else is unaffected.
    expect((await send('GET', '/v1/runs', 'mfk_live_1')).status).toBe(200)
  })

  it('"Per-key — read (GET) 1000 / min each API key"', async () => {
    const { c, statuses, send } = await start()
    expect(await statuses(1001, 'GET', '/v1/runs', 'mfk_live_1')).toEqual([...times(1000, 200), 429])
    expect((await send('GET', '/v1/runs', 'mfk_live_2')).status).toBe(200)
    // A minute later the whole bucket is back.
    c.advance(60_000)
    expect((await send('GET', '/v1/runs', 'mfk_live_1')).headers['x-ratelimit-remaining']).toBe('999')
  })

  it('"Per-key — write (POST/PATCH/PUT/DELETE) 100 / min each API key": one bucket for the four methods', async () => {
    const { send } = await start()
    const methods = ['POST', 'PATCH', 'PUT', 'DELETE']
    const path = (m: string) => (m === 'POST' ? '/v1/runs' : '/v1/runs/run_1')
    let last = ''
    for (let i = 0; i < 100; i++) {
      const res = await send(methods[i % 4], path(methods[i % 4]), 'mfk_live_1')
      expect(res.status).toBeLessThan(300)
      expect(res.headers['x-ratelimit-limit']).toBe('100')
      last = res.headers['x-ratelimit-remaining']
    }
    expect(last).toBe('0')
    for (const m of methods) expect((await send(m, path(m), 'mfk_live_1')).status).toBe(429)
  })

  it('"Per-key — create (job-spawning POST) 5 / min each API key"', async () => {
    const { statuses, send } = await start()
    expect(await statuses(6, 'POST', '/v1/jobs', 'mfk_live_1')).toEqual([...times(5, 202), 429])
    // A create is not a write: the write bucket is untouched.
    expect((await send('POST', '/v1/runs', 'mfk_live_1')).headers['x-ratelimit-remaining']).toBe('99')
  })

  it('"Per-team ceiling 5000 / min aggregate all keys on a team"', async () => {
    const { send, limiter, lookups } = await start()
    // The team has spent 4,990 of its minute through other keys.
    expect((await limiter.consume('team:acme', { cost: 4_990, policies: TEAM_CEILING })).allowed).toBe(true)
    for (let i = 0; i < 5; i++) expect((await send('GET', '/v1/runs', 'mfk_live_1')).status).toBe(200)
    for (let i = 0; i < 5; i++) expect((await send('POST', '/v1/runs', 'mfk_live_2')).status).toBe(201)
    const denied = await send('GET', '/v1/runs', 'mfk_live_3')
    expect(denied.status).toBe(429)
    expect(denied.headers['x-ratelimit-limit']).toBe('5000')
    // A key of another team is unaffected.
    expect((await send('GET', '/v1/runs', 'mfk_live_solo')).status).toBe(200)
    // The team lookup ran once per key (cached for a minute).
    expect([...new Set(lookups)].sort()).toEqual(lookups.sort())
  })

  it('"Every response includes the state of the bucket the request drew from, so a well-behaved client never needs to hit a 429"', async () => {
    const { c, server } = await start()
    const { api, seen } = recordingClient(server, c, PACING)
    for (let i = 0; i < 130; i++) {
      const res = await api('/v1/runs', { method: 'POST', headers: { authorization: 'Bearer mfk_live_1' } })
      await res.arrayBuffer()
    }
    expect(seen).toEqual(times(130, 201))
    expect(c.now()).toBeGreaterThan(T0)
  })

  it('"X-RateLimit-Limit The bucket’s ceiling for this request class."', async () => {
    const { send } = await start()
    expect((await send('GET', '/v1/runs', 'mfk_live_1')).headers['x-ratelimit-limit']).toBe('1000')
    expect((await send('POST', '/v1/runs', 'mfk_live_1')).headers['x-ratelimit-limit']).toBe('100')
    expect((await send('DELETE', '/v1/runs/run_1', 'mfk_live_1')).headers['x-ratelimit-limit']).toBe('100')
    expect((await send('POST', '/v1/jobs', 'mfk_live_1')).headers['x-ratelimit-limit']).toBe('5')
  })

  it('"X-RateLimit-Remaining Requests left in the current window.": exactly that many more succeed', async () => {
    const { send, statuses } = await start()
    await statuses(17, 'POST', '/v1/runs', 'mfk_live_1')
    const remaining = Number((await send('PATCH', '/v1/runs/run_1', 'mfk_live_1')).headers['x-ratelimit-remaining'])
    expect(remaining).toBe(82)
    expect(await statuses(remaining + 1, 'POST', '/v1/runs', 'mfk_live_1')).toEqual([...times(remaining, 201), 429])
  })

  it('"X-RateLimit-Reset Unix epoch seconds when the window refills."', async () => {
    const { c, send, statuses } = await start()
    await statuses(4, 'POST', '/v1/jobs', 'mfk_live_1')
    const last = await send('POST', '/v1/jobs', 'mfk_live_1')
    expect(last.headers['x-ratelimit-remaining']).toBe('0')
    expect(last.headers['x-ratelimit-reset']).toBe(String(S0 + 60))
    c.set(Number(last.headers['x-ratelimit-reset']) * 1000)
    expect(await statuses(6, 'POST', '/v1/jobs', 'mfk_live_1')).toEqual([...times(5, 202), 429])
  })

  it('"Retry-After Seconds to wait — present only on a 429."', async () => {
    const { send, statuses } = await start()
    const answers = [await send('GET', '/v1/runs', 'mfk_live_1'), await send('GET', '/v1/rate-limits', 'mfk_live_1')]
    for (const a of answers) expect(a.headers['retry-after']).toBeUndefined()
    await statuses(4, 'POST', '/v1/jobs', 'mfk_live_1')
    expect((await send('POST', '/v1/jobs', 'mfk_live_1')).headers['retry-after']).toBeUndefined()
    expect((await send('POST', '/v1/jobs', 'mfk_live_1')).headers['retry-after']).toBe('12')
  })

  it('"HTTP/1.1 200 OK / X-RateLimit-Limit: 1000 / X-RateLimit-Remaining: 994 / X-RateLimit-Reset: 1782192000"', async () => {
    // Six reads 360 ms before the page's instant: the bucket is full again exactly then.
    const { statuses, send } = await start(1782192000 * 1000 - 360)
    await statuses(5, 'GET', '/v1/runs', 'mfk_live_1')
    const res = await send('GET', '/v1/runs', 'mfk_live_1')
    expect(res.status).toBe(200)
    expect(res.headers).toMatchObject({ 'x-ratelimit-limit': '1000', 'x-ratelimit-remaining': '994', 'x-ratelimit-reset': '1782192000' })
    // Only the page's headers: no IETF fields.
    expect(res.headers.ratelimit).toBeUndefined()
    expect(res.headers['ratelimit-policy']).toBeUndefined()
  })

  it('"HTTP/1.1 429 Too Many Requests / Retry-After: 12 / X-RateLimit-Remaining: 0" and the 429 error body', async () => {
    const { statuses, send } = await start()
    await statuses(5, 'POST', '/v1/jobs', 'mfk_live_1')
    const denied = await send('POST', '/v1/jobs', 'mfk_live_1')
    expect(denied.status).toBe(429)
    // Reset is when the bucket is full again: a minute for 5 per minute.
    expect(denied.headers).toMatchObject({ 'retry-after': '12', 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': '0' })
    expect(denied.headers['x-ratelimit-reset']).toBe(String(S0 + 60))
    expect(denied.headers['content-type']).toMatch(/^application\/json/)
    expect(denied.json()).toEqual({
      error: { type: 'rate_limit', code: 'rate_limit.exceeded', message: 'rate limit exceeded; retry after 12s', doc_url: DOC_URL },
      request_id: expect.stringMatching(/^req_[0-9A-F]{10}$/),
    })
  })

  it('"Back off for the stated seconds — don’t retry tighter.": tighter retries are refused and cost nothing', async () => {
    const { c, send, statuses } = await start()
    await statuses(100, 'POST', '/v1/runs', 'mfk_live_1')
    const denied = await send('POST', '/v1/runs', 'mfk_live_1')
    expect(denied.headers['retry-after']).toBe('1')
    expect(await statuses(20, 'POST', '/v1/runs', 'mfk_live_1')).toEqual(times(20, 429))
    c.advance(1_000)
    // One token per 600 ms: after a second, exactly one (the refused retries spent none).
    expect(await statuses(2, 'POST', '/v1/runs', 'mfk_live_1')).toEqual([201, 429])
  })

  it('"The SDKs honor Retry-After automatically with backoff": so does ratekeeper/client', async () => {
    const { c, server, statuses } = await start()
    await statuses(1000, 'GET', '/v1/runs', 'mfk_live_1')
    const { api, seen } = recordingClient(server, c, RETRYING)
    const res = await api('/v1/runs', { headers: { authorization: 'Bearer mfk_live_1' } })
    expect(res.status).toBe(200)
    expect(seen).toEqual([429, 200])
    expect(c.now() - T0).toBeGreaterThanOrEqual(1000)
  })

  it('"GET /v1/rate-limits returns the live buckets and their current state for the calling key, so a client can self-throttle"', async () => {
    const { send, statuses } = await start()
    await statuses(3, 'POST', '/v1/jobs', 'mfk_live_1')
    type State = { data: { buckets: Array<{ class: string; remaining: number }> } }
    const mine = (await send('GET', '/v1/rate-limits', 'mfk_live_1')).json<State>()
    expect(mine.data.buckets.find((b) => b.class === 'create')?.remaining).toBe(2)
    // Live: the next request shows in it.
    await send('POST', '/v1/jobs', 'mfk_live_1')
    expect((await send('GET', '/v1/rate-limits', 'mfk_live_1')).json<State>().data.buckets[2].remaining).toBe(1)
    // The calling key's: another key of the team has its own buckets.
    expect((await send('GET', '/v1/rate-limits', 'mfk_live_2')).json<State>().data.buckets[2].remaining).toBe(5)
    // Its own cheap limit keeps it from being a free way to hammer the store.
    expect(await statuses(INTROSPECTION_LIMIT - 2, 'GET', '/v1/rate-limits', 'mfk_live_1')).toEqual(times(INTROSPECTION_LIMIT - 2, 200))
    expect((await send('GET', '/v1/rate-limits', 'mfk_live_1')).status).toBe(429)
  })

  it('"curl https://api.managed.dev/v1/rate-limits" reproduces the page’s example response', async () => {
    const { send } = await start()
    // (The clock stands still: token buckets refill continuously, so a moment later a few would be back.)
    // The page's state: 6 reads and 1 create by this key, 20 requests by its team in all.
    for (let i = 0; i < 6; i++) await send('GET', '/v1/runs', 'mfk_live_1')
    await send('POST', '/v1/jobs', 'mfk_live_1')
    for (let i = 0; i < 13; i++) await send('GET', '/v1/runs', 'mfk_live_2')
    const res = await send('GET', '/v1/rate-limits', 'mfk_live_1')
    expect(res.status).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    const body = res.json()
    expect(body).toEqual({
      data: {
        buckets: [
          { class: 'read', limit: 1000, remaining: 994, reset: S0 + 1 },
          { class: 'write', limit: 100, remaining: 100, reset: S0 }, // full: now
          { class: 'create', limit: 5, remaining: 4, reset: S0 + 12 },
        ],
        team_ceiling: { limit: 5000, remaining: 4980, reset: S0 + 1 },
      },
      request_id: expect.stringMatching(/^req_/),
    })
    // Asking changes nothing.
    expect((await send('GET', '/v1/rate-limits', 'mfk_live_1')).json<{ data: unknown }>().data).toEqual((body as { data: unknown }).data)
  })

  it('"Rate limits track your plan tier: higher tiers get larger per-key buckets and a higher team ceiling"', async () => {
    const { send } = await start()
    const standard = await send('GET', '/v1/rate-limits', 'mfk_live_1')
    const scale = await send('GET', '/v1/rate-limits', 'mfk_live_big')
    type State = { data: { buckets: Array<{ limit: number }>; team_ceiling: { limit: number } } }
    const a = standard.json<State>().data
    const b = scale.json<State>().data
    for (let i = 0; i < 3; i++) expect(b.buckets[i].limit).toBeGreaterThan(a.buckets[i].limit)
    expect(b.team_ceiling.limit).toBeGreaterThan(a.team_ceiling.limit)
    expect((await send('POST', '/v1/runs', 'mfk_live_big')).headers['x-ratelimit-limit']).toBe('500')
  })
})
