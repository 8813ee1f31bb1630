// client.reset(key) promises that the calls waiting on a budget check again at once. A call that had
// its 429 and was sleeping before its retry (for the server's Retry-After, up to maxBlockMs) was not
// woken: after a broken `Retry-After: 999999999`, the operator's reset left it asleep for an hour.
import { createClient, type FetchFunction, type Sleep } from 'ratekeeper/client'
import { describe, expect, it } from 'vitest'

const HOUR = 3_600_000

describe('client.reset() and a call waiting for its retry', () => {
  it.each([
    ['the key', 'http://a.test' as string | undefined],
    ['no key', undefined],
  ])('reset(%s) wakes it: it retries at once', async (_, key) => {
    // A sleep that ends only when aborted: only reset() can release the waiting call.
    const slept: number[] = []
    const sleep: Sleep = (ms, signal) =>
      new Promise<void>((_resolve, reject) => {
        slept.push(ms)
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true })
      })
    let n = 0
    const fetchImpl: FetchFunction = async () =>
      n++ === 0 ? new Response('no', { status: 429, headers: { 'Retry-After': '999999999' } }) : new Response('ok')
    const client = createClient({ fetch: fetchImpl, sleep, maxWaitMs: 2 * HOUR })
    const retried = new Promise<void>((resolve) => client.on('retry', () => queueMicrotask(resolve)))
    const call = client('http://a.test/')
    await retried
    expect(slept).toEqual([HOUR]) // asleep before its retry, for maxBlockMs
    client.reset(key)
    expect((await call).status).toBe(200)
    expect(n).toBe(2)
  })

  it('an abort still rejects it with the reason', async () => {
    const sleep: Sleep = (_ms, signal) =>
      new Promise<void>((_resolve, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }))
    const fetchImpl: FetchFunction = async () => new Response('no', { status: 429, headers: { 'Retry-After': '60' } })
    const client = createClient({ fetch: fetchImpl, sleep, maxWaitMs: HOUR })
    const retried = new Promise<void>((resolve) => client.on('retry', () => queueMicrotask(resolve)))
    const controller = new AbortController()
    const call = client('http://a.test/', { signal: controller.signal })
    await retried
    controller.abort(new Error('gave up'))
    await expect(call).rejects.toThrow('gave up')
  })
})
