// rateLimit({ limit: 100, window: '1m' }), createLimiter({ limit, window }) and the peers' names
// (express-rate-limit's windowMs and max, @fastify/rate-limit's timeWindow, rate-limiter-flexible's
// points and duration) were refused with '"limit" is not an option (known: limiter, policies, …
// 25 names)': nothing said that a limit is a policy. The message now says so, with the policy to
// write, before the list of known names.
import { describe, expect, it } from 'vitest'
import { rateLimit } from '../../adapters/express.js'
import fastifyRateLimit from '../../adapters/fastify.js'
import { createLimiter } from '../../src/index.js'
import { FASTIFY } from '../helpers/http-apps.js'

function errorOf(make: () => unknown): { code?: string; option?: string; message: string } {
  try {
    make()
  } catch (error) {
    return error as { code?: string; option?: string; message: string }
  }
  throw new Error('nothing was thrown')
}

const HINT = "a limit is a policy: policies: [tokenBucket({ limit: 100, window: '1m' })]"

describe('limit options given where policies belong', () => {
  it.each(['limit', 'window', 'burst', 'max', 'windowMs', 'timeWindow', 'points', 'duration'])(
    'rateLimit({ %s }) says a limit is a policy',
    (name) => {
      const error = errorOf(() => rateLimit({ [name]: 100 } as never))
      expect(error.code).toBe('ERR_RK_UNKNOWN_OPTION')
      expect(error.option).toBe(name)
      expect(error.message).toContain(HINT)
    },
  )

  it('createLimiter({ limit, window }) says a limit is a policy', () => {
    const error = errorOf(() => createLimiter({ limit: 100, window: '1m' } as never))
    expect(error.code).toBe('ERR_RK_UNKNOWN_OPTION')
    expect(error.message).toContain(HINT)
  })

  it('another unknown name gets no such hint', () => {
    expect(errorOf(() => rateLimit({ policy: [] } as never)).message).not.toContain(HINT)
  })

  it.each(FASTIFY)('%s: register(fastifyRateLimit, { max, timeWindow }) says a limit is a policy', async (_name, fastify) => {
    const app = fastify()
    let error: { message: string } | undefined
    try {
      await app.register(fastifyRateLimit, { max: 100, timeWindow: '1 minute' } as never)
    } catch (e) {
      error = e as { message: string }
    }
    expect(error?.message).toContain(HINT)
    await app.close()
  })
})
