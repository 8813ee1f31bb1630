// A response's `remaining` was produced before the requests sent after it reached the server: the
// client must count those, or concurrent workers spend 429s every window.
import fc from 'fast-check'
import { createClient, type FetchFunction, RateLimitError } from 'ratekeeper/client'
import { describe, expect, it } from 'vitest'
import { virtualTime } from '../client/helpers.js'
import { PEERS, startPeer } from '../client/peers.js'

/** `workers` loops that call until the client refuses (maxWaitMs 0: it never waits for a reset). */
async function runWorkers(client: ReturnType<typeof createClient>, workers: number): Promise<void> {
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (;;) {
        try {
          await (await client('/')).text()
        } catch (error) {
          if (error instanceof RateLimitError) return
          throw error
        }
      }
    }),
  )
}

describe('3 workers against a limit of 5: no avoidable 429, same throughput', () => {
  it.each(PEERS)('%s', async (name) => {
    const peer = await startPeer(name, 5, 60_000)
    try {
      const time = virtualTime(Date.now())
      const client = createClient({ baseUrl: peer.url, now: time.now, sleep: time.sleep, maxWaitMs: 0 })
      const statuses: number[] = []
      client.on('response', (e) => statuses.push(e.status))
      await runWorkers(client, 3)
      expect(statuses.filter((s) => s === 200)).toHaveLength(5)
      expect(statuses.filter((s) => s === 429)).toEqual([])
      expect(client.budget(peer.url)).toMatchObject({ remaining: 0, inFlight: 0 })
    } finally {
      await peer.close()
    }
  })
})

describe('pace.probeFirst: 12 calls at once on a limit of 3, on a budget not known yet', () => {
  it.each(PEERS)('%s: the first goes alone, and no call meets a 429', async (name) => {
    const peer = await startPeer(name, 3, 60_000)
    try {
      // Real time: the others wait for the first answer (a few ms), then the window's reset (a
      // minute) is past maxWaitMs, so the client refuses them without sending.
      const client = createClient({ baseUrl: peer.url, maxWaitMs: 5000, pace: { probeFirst: true } })
      const statuses: number[] = []
      client.on('response', (e) => statuses.push(e.status))
      const results = await Promise.allSettled(Array.from({ length: 12 }, async () => (await client('/')).text()))
      expect(statuses).toEqual([200, 200, 200])
      const refused = results.filter((r) => r.status === 'rejected' && (r.reason as RateLimitError).source === 'client')
      expect(refused).toHaveLength(9)
    } finally {
      await peer.close()
    }
  })
})

describe('property: whatever order the server handles concurrent requests in', () => {
  it('never spends a 429 once a response is known, and spends the whole quota', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
        async (limit, workers, picks) => {
          // A fixed-window server that counts requests in the order it picks them from its backlog, and
          // answers each as soon as it handled it (responses come back in the order they were produced).
          let used = 0
          let draws = 0
          const backlog: Array<() => void> = []
          const handle = (): void => {
            if (backlog.length === 0) return
            const i = picks[draws++ % picks.length] % backlog.length
            const [next] = backlog.splice(i, 1)
            next()
          }
          const fetchImpl: FetchFunction = () =>
            new Promise<Response>((resolve) => {
              backlog.push(() => {
                const allowed = used < limit
                if (allowed) used++
                const headers = {
                  'X-RateLimit-Limit': String(limit),
                  'X-RateLimit-Remaining': String(limit - used),
                  'X-RateLimit-Reset': '3600',
                }
                resolve(
                  new Response(null, { status: allowed ? 200 : 429, headers: allowed ? headers : { ...headers, 'Retry-After': '3600' } }),
                )
              })
              setImmediate(handle)
            })
          const time = virtualTime(1_700_000_000_000)
          const client = createClient({ baseUrl: 'http://api.test', fetch: fetchImpl, now: time.now, sleep: time.sleep, maxWaitMs: 0 })
          const statuses: number[] = []
          client.on('response', (e) => statuses.push(e.status))
          await runWorkers(client, workers)
          // The first wave is sent blind (nothing is known yet): only it may overshoot.
          const blind = Math.max(0, workers - limit)
          expect(statuses.filter((s) => s === 429).length).toBeLessThanOrEqual(blind)
          expect(statuses.filter((s) => s === 200)).toHaveLength(limit)
        },
      ),
      { numRuns: 150 },
    )
  })
})
