// A listener written as an async function (`client.on('response', async (e) => { await log(e) })`)
// that rejected left its promise unhandled: the emitter caught only what a listener threw, so a
// failing log call became an unhandledRejection, which ends a Node process by default. Its
// rejection is now reported as a listener that threw is (RK_LISTENER_THREW), on the client's and
// on the limiter's emitter.
import { createLimiter, tokenBucket } from 'ratekeeper'
import { createClient } from 'ratekeeper/client'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

let unhandled: unknown[] = []
let warnings: Error[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)
const onWarning = (w: Error) => warnings.push(w)

beforeEach(() => {
  unhandled = []
  warnings = []
  process.on('unhandledRejection', onUnhandled)
  process.on('warning', onWarning)
})
afterEach(() => {
  process.off('unhandledRejection', onUnhandled)
  process.off('warning', onWarning)
})

const settle = () => new Promise((resolve) => setTimeout(resolve, 50))

describe('an async listener that rejects', () => {
  it('on the client: the call succeeds, the rejection is a warning', async () => {
    const client = createClient({ fetch: async () => new Response('ok') })
    client.on('response', async () => {
      throw new Error('log sink down')
    })
    expect((await client('http://api.test/')).status).toBe(200)
    await settle()
    expect(unhandled).toEqual([])
    expect(warnings.some((w) => (w as Error & { code?: string }).code === 'RK_LISTENER_THREW' && /log sink down/.test(w.message))).toBe(
      true,
    )
  })

  it('on the limiter: the decision stands, the rejection is a warning', async () => {
    const limiter = createLimiter({ policies: [tokenBucket({ limit: 1, window: '1m' })] })
    limiter.on('decision', async () => {
      throw new Error('metrics down')
    })
    expect((await limiter.consume('k')).allowed).toBe(true)
    await settle()
    expect(unhandled).toEqual([])
    expect(warnings.some((w) => /metrics down/.test(w.message))).toBe(true)
  })
})
