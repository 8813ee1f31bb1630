// After a reset, one call goes first and the others wait for its answer. A probe sent before
// client.reset() that answered later ended whatever probe the budget had by then: the calls waiting
// on the new probe went before its answer, a stampede on a budget just refilled.
import { createClient, type FetchFunction, type Sleep } from 'ratekeeper/client'
import { describe, expect, it } from 'vitest'

describe('a probe that answers after client.reset()', () => {
  it('does not release the calls waiting on the probe that followed it', async () => {
    let t = 1_700_000_000_000
    const time = { now: () => t, advance: (ms: number) => (t += ms) }
    // Nothing in this test waits on a timer: a sleep ends only when aborted.
    const sleep: Sleep = (_ms, signal) =>
      new Promise<void>((_resolve, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }))
    const held = new Map<number, () => void>()
    const sentAt: number[] = []
    let n = 0
    const fetchImpl: FetchFunction = async () => {
      const i = n++
      sentAt.push(i)
      // Requests 1 and 3 are the probes: their answers wait for the test, and say 5 are left.
      if (i === 1 || i === 3) {
        await new Promise<void>((resolve) => held.set(i, resolve))
        return new Response('ok', { headers: { 'x-ratelimit-remaining': '5', 'x-ratelimit-reset': '60' } })
      }
      return new Response('ok', { headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' } })
    }
    const api = createClient({ baseUrl: 'http://api.test', fetch: fetchImpl, now: time.now, sleep })
    const until = async (cond: () => boolean): Promise<void> => {
      while (!cond()) await new Promise((resolve) => setImmediate(resolve))
    }

    await api('/') // request 0: nothing left, more in 1 s
    time.advance(1000)
    const oldProbe = api('/') // request 1 probes
    await until(() => held.has(1))
    api.reset('http://api.test')
    await api('/') // request 2: the budget starts again, nothing left, more in 1 s
    time.advance(1000)
    const newProbe = api('/') // request 3 probes
    await until(() => held.has(3))
    const waiter = api('/') // waits for request 3's answer
    await new Promise((resolve) => setImmediate(resolve))

    held.get(1)?.() // the old probe answers
    await oldProbe
    await new Promise((resolve) => setImmediate(resolve))
    expect(sentAt).toEqual([0, 1, 2, 3]) // the waiter is still waiting for the new probe

    held.get(3)?.()
    await newProbe
    await waiter
    expect(sentAt).toEqual([0, 1, 2, 3, 4])
  })
})
