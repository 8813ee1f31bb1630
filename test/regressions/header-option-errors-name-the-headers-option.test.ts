// A `headers` option that is not an object or `false` (`true`, express-rate-limit's
// `standardHeaders: 'draft-7'` written as `headers: 'draft-7'`, `null`) is refused naming
// "headers", not "body.options": the message must send the user to the option they wrote.
import { describe, expect, it } from 'vitest'
import { rateLimit as expressRateLimit } from '../../adapters/express.js'
import fastifyRateLimit from '../../adapters/fastify.js'
import { rateLimit as fetchRateLimit } from '../../adapters/fetch.js'
import { rateLimit as koaRateLimit } from '../../adapters/koa.js'
import { tokenBucket } from '../../src/index.js'

const policies = [tokenBucket({ limit: 10, window: '1m' })]

describe.each([
  ['express', (o: object) => expressRateLimit(o as never)],
  ['koa', (o: object) => koaRateLimit(o as never)],
  ['fetch', (o: object) => fetchRateLimit(o as never)],
])('%s', (_name, make) => {
  it.each([true, 'draft-7', null, 1])('headers: %s names the headers option', (headers) => {
    let thrown: unknown
    try {
      make({ policies, headers })
    } catch (error) {
      thrown = error
    }
    expect(thrown).toMatchObject({ code: 'ERR_RK_INVALID_OPTION', option: 'headers' })
    expect((thrown as Error).message).toMatch(/"headers" must be/)
    expect((thrown as Error).message).not.toMatch(/body/)
  })

  it('a bad body is still named body', () => {
    expect(() => make({ policies, body: 42 })).toThrow(/"body/)
  })
})

it('fastify: headers: true fails the app naming the headers option', async () => {
  const { default: Fastify } = await import('fastify')
  const app = Fastify()
  await expect(app.register(fastifyRateLimit, { policies, headers: true } as never)).rejects.toMatchObject({ option: 'headers' })
  await app.close().catch(() => undefined)
})
