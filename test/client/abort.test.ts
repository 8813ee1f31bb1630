import { createClient } from 'ratekeeper/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scriptedServer, virtualTime, watchTimers } from './helpers.js'

const T0 = 1_700_000_000_000
let server: Awaited<ReturnType<typeof scriptedServer>>
beforeAll(async () => {
  server = await scriptedServer()
  server.plan('/ok', [{ status: 200, body: 'ok' }])
  server.plan('/limited-long', [{ status: 429, headers: { 'Retry-After': '3600' } }])
  server.plan('/spent', [{ status: 200, headers: { 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '3600' } }])
})
afterAll(() => server.close())

const isAbort = (e: unknown): boolean => e instanceof Error && e.name === 'AbortError'

/**
 * A fetch answering from memory. The timer counts below use it so that they count only the
 * client's timers: undici's own (keep-alive, header timeouts) come and go with its sockets.
 */
const answer =
  (status: number, headers: Record<string, string> = {}) =>
  async (): Promise<Response> =>
    new Response(null, { status, headers })

describe('AbortSignal', () => {
  it('rejects at once, sending nothing, when already aborted', async () => {
    const before = server.hits('/ok').length
    const client = createClient({ baseUrl: server.url })
    const reason = new Error('changed my mind')
    await expect(client('/ok', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    expect(server.hits('/ok')).toHaveLength(before)
  })

  it('cancels a retry wait on real timers and leaves no timer behind', async () => {
    const client = createClient({ baseUrl: server.url, maxWaitMs: 10_000_000, fetch: answer(429, { 'Retry-After': '3600' }) })
    const timers = watchTimers(1_000_000)
    const controller = new AbortController()
    client.on('retry', () => setImmediate(() => controller.abort()))
    const error = await client('/limited-long', { signal: controller.signal }).catch((e: unknown) => e)
    expect(isAbort(error)).toBe(true)
    // Destroy hooks run asynchronously: give them a few turns (a leaked one-hour timer never goes).
    for (let i = 0; i < 20 && timers.pending() > 0; i++) await new Promise((r) => setImmediate(r))
    timers.stop()
    expect(timers.created()).toBeGreaterThan(0)
    expect(timers.pending()).toBe(0)
  })

  it('cancels a pacing wait on real timers and leaves no timer behind', async () => {
    const client = createClient({
      baseUrl: server.url,
      maxWaitMs: 10_000_000,
      fetch: answer(200, { 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '3600' }),
    })
    await client('/spent')
    const timers = watchTimers(1_000_000)
    const controller = new AbortController()
    client.on('wait', () => setImmediate(() => controller.abort()))
    const error = await client('/spent', { signal: controller.signal }).catch((e: unknown) => e)
    expect(isAbort(error)).toBe(true)
    // Destroy hooks run asynchronously: give them a few turns (a leaked one-hour timer never goes).
    for (let i = 0; i < 20 && timers.pending() > 0; i++) await new Promise((r) => setImmediate(r))
    timers.stop()
    expect(timers.created()).toBeGreaterThan(0)
    expect(timers.pending()).toBe(0)
    expect(client.budget(server.url)).toMatchObject({ inFlight: 0 })
  })

  it('cancels a queued call and a call waiting inside limiter.wait, on real timers', async () => {
    const client = createClient({
      baseUrl: server.url,
      queue: { rate: { limit: 1, window: '1h' } },
      maxWaitMs: 10_000_000,
      fetch: answer(200),
    })
    await client('/ok')
    const timers = watchTimers(1_000_000)
    const head = new AbortController()
    const queued = new AbortController()
    const first = client('/ok', { signal: head.signal }).catch((e: unknown) => e)
    const second = client('/ok', { signal: queued.signal }).catch((e: unknown) => e)
    await new Promise((r) => setImmediate(r))
    queued.abort()
    head.abort()
    expect(isAbort(await first)).toBe(true)
    expect(isAbort(await second)).toBe(true)
    // Destroy hooks run asynchronously: give them a few turns (a leaked one-hour timer never goes).
    for (let i = 0; i < 20 && timers.pending() > 0; i++) await new Promise((r) => setImmediate(r))
    timers.stop()
    expect(timers.created()).toBeGreaterThan(0)
    expect(timers.pending()).toBe(0)
  })

  it('cancels a wait for a concurrency slot and passes the slot on', async () => {
    const time = virtualTime(T0)
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    let calls = 0
    const client = createClient({
      baseUrl: server.url,
      now: time.now,
      sleep: time.sleep,
      queue: { concurrency: 1 },
      // The clock stands still while a request is in flight (else the queued call's deadline timer
      // would see the virtual clock run to it while the first request is held).
      fetch: (input, init) =>
        time.during(
          (async () => {
            calls++
            if (calls === 1) await gate
            return fetch(input, init)
          })(),
        ),
    })
    const controller = new AbortController()
    const first = client('/ok')
    const aborted = client('/ok', { signal: controller.signal }).catch((e: unknown) => e)
    const third = client('/ok')
    controller.abort()
    expect(isAbort(await aborted)).toBe(true)
    release()
    expect((await first).status).toBe(200)
    expect((await third).status).toBe(200)
    expect(calls).toBe(2)
  })

  it('cancels a retry wait against a real server', async () => {
    const client = createClient({ baseUrl: server.url, maxWaitMs: 10_000_000 })
    const controller = new AbortController()
    client.on('retry', () => setImmediate(() => controller.abort()))
    const error = await client('/limited-long', { signal: controller.signal }).catch((e: unknown) => e)
    expect(isAbort(error)).toBe(true)
    expect(server.hits('/limited-long').length).toBeGreaterThan(0)
  })

  it('cancels an injected sleep that ignores the signal', async () => {
    const client = createClient({ baseUrl: server.url, sleep: () => new Promise<void>(() => {}), maxWaitMs: 10_000_000 })
    const controller = new AbortController()
    client.on('retry', () => setImmediate(() => controller.abort()))
    const error = await client('/limited-long', { signal: controller.signal }).catch((e: unknown) => e)
    expect(isAbort(error)).toBe(true)
  })

  it("reads the signal of a Request object, and leaves the virtual clock's timers empty", async () => {
    const time = virtualTime(T0)
    const client = createClient({ now: time.now, sleep: time.sleep, maxWaitMs: 10_000_000 })
    const controller = new AbortController()
    client.on('retry', () => setImmediate(() => controller.abort()))
    const error = await client(new Request(`${server.url}/limited-long`, { signal: controller.signal })).catch((e: unknown) => e)
    expect(isAbort(error)).toBe(true)
    expect(time.pending()).toBe(0)
  })
})
