// `maxWaitMs` bounds every wait of a call: behind a pacing probe that never answers, in the
// concurrency queue behind a request that never answers, and in the rate queue.
import fc from 'fast-check'
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

describe('property: whatever the server answers and however the queue is set up', () => {
  it('no call waits longer than its own maxWaitMs (the time its own request takes aside)', async () => {
    const answer = fc.oneof(
      fc.constant<Answer>({ kind: 'ok' }),
      fc.constant<Answer>({ kind: 'hang' }),
      fc.integer({ min: 0, max: 20 }).map((s): Answer => ({ kind: 'spent', resetSeconds: s })),
      fc.integer({ min: 0, max: 20 }).map((s): Answer => ({ kind: '429', retryAfterSeconds: s })),
    )
    const queue = fc.record(
      {
        concurrency: fc.integer({ min: 1, max: 3 }),
        rate: fc.record({ limit: fc.integer({ min: 1, max: 4 }), window: fc.constantFrom('1s', '5s') }),
      },
      { requiredKeys: [] },
    )
    await fc.assert(
      fc.asyncProperty(
        queue,
        fc.array(fc.record({ maxWaitMs: fc.integer({ min: 0, max: 8000 }), delay: fc.integer({ min: 0, max: 3 }) }), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.array(answer, { minLength: 1, maxLength: 20 }),
        async (q, calls, answers) => {
          const time = virtualTime(T0)
          let n = 0
          let hanging = 0
          const fetchImpl: FetchFunction = (_input, init) => {
            const a = answers[n++ % answers.length]
            if (a.kind === 'hang') {
              hanging++
              return new Promise<Response>((_resolve, reject) => {
                init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true })
              })
            }
            return Promise.resolve(respond(a, time.now()))
          }
          const client = createClient({
            baseUrl: 'http://api.test',
            fetch: fetchImpl,
            now: time.now,
            sleep: time.sleep,
            queue: q,
            random: () => 0.5,
          })
          const aborts = calls.map(() => new AbortController())
          const outcomes: Array<{ waitedMs: number; maxWaitMs: number } | undefined> = calls.map(() => undefined)
          let settled = 0
          const runs = calls.map(async (c, i) => {
            for (let d = 0; d < c.delay; d++) await new Promise((r) => setImmediate(r))
            const start = time.now()
            try {
              await client('/', { signal: aborts[i].signal, rateLimit: { maxWaitMs: c.maxWaitMs } })
            } catch {
              // Refused, aborted or given up: only the time it took matters.
            }
            if (!aborts[i].signal.aborted) outcomes[i] = { waitedMs: time.now() - start, maxWaitMs: c.maxWaitMs }
            settled++
          })
          // Every call ends, or sits in a request that never answers.
          for (let turns = 0; settled + hanging < calls.length; turns++) {
            if (turns > 20_000) throw new Error(`stuck: ${settled} settled, ${hanging} hanging of ${calls.length}`)
            await new Promise((r) => setImmediate(r))
          }
          for (const a of aborts) a.abort()
          await Promise.all(runs)
          for (const o of outcomes) if (o !== undefined) expect(o.waitedMs).toBeLessThanOrEqual(o.maxWaitMs)
          expect(time.pending()).toBe(0)
        },
      ),
      { numRuns: 60 },
    )
  })
})

type Answer = { kind: 'ok' } | { kind: 'hang' } | { kind: 'spent'; resetSeconds: number } | { kind: '429'; retryAfterSeconds: number }

function respond(a: Answer, now: number): Response {
  if (a.kind === 'spent') {
    return new Response('ok', {
      headers: {
        'X-RateLimit-Limit': '3',
        'X-RateLimit-Remaining': '0',
        'X-RateLimit-Reset': String(Math.ceil(now / 1000) + a.resetSeconds),
      },
    })
  }
  if (a.kind === '429') return new Response('no', { status: 429, headers: { 'Retry-After': String(a.retryAfterSeconds) } })
  return new Response('ok')
}
