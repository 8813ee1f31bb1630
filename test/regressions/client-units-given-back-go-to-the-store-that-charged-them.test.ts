// A call the client did not send after all (aborted while the shared limiter decided on it) gave
// its units back by cost, `refund(key, { cost })`, which goes to the limiter's main store. When
// the main store had failed and the fallback store had charged the call, the main store was
// credited units it never charged: a client whose main bucket was empty got a free request there
// once the store recovered. Now the client gives back the decision itself,
// `refund(key, { decision })`, which the limiter sends to the store that charged it.
import { createLimiter, MemoryStore, type Store, tokenBucket } from 'ratekeeper'
import { createClient, type FetchFunction } from 'ratekeeper/client'
import { expect, it } from 'vitest'
import { slowFirstAnswer, virtualTime } from '../client/helpers.js'

it('a call not sent after all gives its units back to the fallback that charged them, not to the main store', async () => {
  const time = virtualTime(1_700_000_000_000)
  const mem = new MemoryStore()
  const state = { down: false }
  const main: Store = {
    consume: (r) => (state.down ? Promise.reject(new Error('main store down')) : mem.consume(r)),
    peek: (r) => mem.peek(r),
    refund: (r) => mem.refund(r),
    reset: (r) => mem.reset(r),
    close() {},
  }
  const policies = [tokenBucket({ name: 'rate', limit: 2, window: '1h' })]
  const limiter = createLimiter({
    store: main,
    onStoreError: 'fallback',
    fallback: new MemoryStore(),
    policies,
    now: time.now,
    logger: { warn() {} },
  })
  limiter.on('store-error', () => {})
  // The main bucket is spent.
  for (let i = 0; i < 2; i++) expect((await limiter.consume('api.test')).allowed).toBe(true)

  // The shared limiter answers the client's first call only when the test says so (a round trip in flight).
  const { slow, asked, answer } = slowFirstAnswer(limiter)
  const fetchImpl: FetchFunction = async () => new Response('ok')
  const api = createClient({
    baseUrl: 'http://api.test',
    fetch: fetchImpl,
    now: time.now,
    sleep: time.sleep,
    limiter: slow,
    key: () => 'api.test',
  })

  const controller = new AbortController()
  const aborted = api('/', { signal: controller.signal })
  await asked()
  controller.abort(new Error('caller gave up'))
  await expect(aborted).rejects.toThrow('caller gave up')
  // The main store fails this decision: the fallback charges it; the call is not sent, its unit goes back.
  state.down = true
  answer()
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
  state.down = false

  // The main bucket is still spent: the give-back did not land there.
  const next = await limiter.consume('api.test')
  expect(next.allowed).toBe(false)
})
