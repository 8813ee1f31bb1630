// Calls started together (Promise.all) each checked the budget in the same tick, before any of them
// was counted as sent: with one unit known to be left, all of them were sent, and all but one met a
// certain 429. The check and the count must happen with no await in between, queue or no queue.
import { createClient, type FetchFunction, RateLimitError } from 'ratekeeper/client'
import { describe, expect, it } from 'vitest'
import { virtualTime } from '../client/helpers.js'
import { PEERS, startPeer } from '../client/peers.js'

describe('ten concurrent calls when one unit is known to be left', () => {
  it('sends one, and refuses the others without sending them (maxWaitMs 0)', async () => {
    let sent = 0
    const fetchImpl: FetchFunction = async () => {
      sent++
      return new Response('ok', {
        headers: { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': String(Math.max(0, 2 - sent)), 'x-ratelimit-reset': '60' },
      })
    }
    const time = virtualTime(1_700_000_000_000)
    const api = createClient({ baseUrl: 'http://api.test', fetch: fetchImpl, now: time.now, sleep: time.sleep, maxWaitMs: 0 })
    await api('/') // remaining 1, reset in 60 s
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => api('/')))
    expect(sent).toBe(2)
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ source: 'client', reason: 'max-wait' })
    }
  })
})

describe('against real servers: a limit of 5, one call, then ten together', () => {
  it.each(PEERS)('%s: no 429', async (name) => {
    const peer = await startPeer(name, 5, 60_000)
    try {
      const time = virtualTime(Date.now())
      const api = createClient({ baseUrl: peer.url, now: time.now, sleep: time.sleep, maxWaitMs: 0 })
      const statuses: number[] = []
      api.on('response', (e) => statuses.push(e.status))
      await (await api('/')).text()
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, async () => {
          await (await api('/')).text()
        }),
      )
      expect(statuses.filter((s) => s === 429)).toEqual([])
      expect(statuses).toHaveLength(5)
      for (const r of results) {
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(RateLimitError)
      }
    } finally {
      await peer.close()
    }
  })
})
