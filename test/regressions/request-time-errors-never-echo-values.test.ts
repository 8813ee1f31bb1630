// Errors thrown while serving a request end up in logs and, with some frameworks' defaults, in the
// 500 body (Fastify sends the message). Their values come from requests and plans: API keys, tenant
// ids. So no error raised at request time quotes a value it received; start-up configuration
// errors still do (they hold only what the developer wrote).

import fc from 'fast-check'
import fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import fastifyRateLimit from '../../adapters/fastify.js'
import { withRateLimit } from '../../adapters/fetch.js'
import { apiKey, userKey } from '../../src/http/keys.js'
import { createLimiter, fixedWindow, type Policy, tokenBucket } from '../../src/index.js'
import { encodeSubject } from '../../src/limiter/subject.js'
import { providerPlan } from '../../src/provider/index.js'

/** A value a request might carry, tagged so it can be searched for in any text. */
const secretString = fc.stringMatching(/^[A-Za-z0-9]{6,20}$/).map((s) => `sk_live_SECRET_${s}`)
// Digits no message holds by chance (limits such as 1000000000 would match a round number).
const secretNumber = fc.integer({ min: 0, max: 999_999 }).map((n) => 731_000_000 + n + 0.5)
const secret = fc.oneof(
  secretString,
  secretNumber,
  secretNumber.map((n) => -n),
  secretNumber.map((n) => BigInt(Math.floor(n))),
)

/** Every text of an error a log line or response body could show. */
function textOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const own: Record<string, unknown> = {}
  for (const name of Object.keys(error)) own[name] = (error as unknown as Record<string, unknown>)[name]
  const json = JSON.stringify(own, (_k, v) => (typeof v === 'bigint' ? `${v}` : v))
  return `${error.message}\n${String(error)}\n${json}\n${error.cause === undefined ? '' : textOf(error.cause)}`
}

function expectNoEcho(error: unknown, value: unknown): void {
  expect(error).toBeInstanceOf(Error)
  const text = textOf(error)
  const needle = typeof value === 'number' ? String(Math.abs(value)) : String(value).slice(0, 24)
  expect(text, `the error quotes ${String(value)}`).not.toContain(needle)
}

async function thrown(call: () => unknown): Promise<unknown> {
  try {
    await call()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

const policies = [tokenBucket({ name: 'per-minute', limit: 10, window: '1m' })]
/** A valid policy name carrying the value. */
const nameOf = (v: unknown) => `n${String(v).replace(/[^A-Za-z0-9_]/g, '')}`.slice(0, 60)

describe('limiter calls', () => {
  // A clock of its own: `wait` on a spent key sleeps virtual time, not the test's.
  let t = 0
  const limiter = createLimiter({
    policies,
    now: () => t,
    sleep: async (ms) => {
      t += ms
    },
  })
  const cases: ((v: unknown) => unknown)[] = [
    (v) => limiter.consume(v as string),
    (v) => limiter.decide(v as string),
    (v) => limiter.peek('k', { cost: v as number }),
    (v) => limiter.consume('k', { cost: v as number }),
    (v) => limiter.consume('k', { policies: v as Policy[] }),
    (v) => limiter.consume('k', { policies: [v as Policy] }),
    (v) => limiter.consume('k', { tier: v as string }),
    (v) => limiter.consume('k', { tag: v as string }),
    (v) => limiter.consume('k', { layers: v as never }),
    (v) => limiter.consume('k', { layers: [v as never] }),
    (v) => limiter.consume('k', { layers: [{ name: v as string, key: 'team', policies }] }),
    (v) => limiter.consume('k', { layers: [{ name: 'team', key: v as string, policies }] }),
    (v) => limiter.consume('k', { [String(v)]: 1 } as never),
    (v) => limiter.consume('k', v as never),
    (v) => limiter.refund('k', { at: v as number }),
    (v) => limiter.wait('k', { maxWaitMs: v as number }),
    (v) => limiter.reset(v as string),
    (v) => encodeSubject('somewhere', v),
    (v) => {
      // Policies are built at start-up; only their use in a call is request time.
      const name = nameOf(v)
      return limiter.consume('k', {
        policies: [tokenBucket({ name, limit: 1, window: '1s' }), tokenBucket({ name, limit: 2, window: '1s' })],
      })
    },
    (v) => {
      const name = nameOf(v)
      const layer = { name: 'team', key: 't', policies: [tokenBucket({ name, limit: 1, window: '1s' })] }
      return limiter.consume('k', { policies: [tokenBucket({ name, limit: 1, window: '1s' })], layers: [layer] })
    },
  ]

  it('no error quotes the value it was given', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: cases.length - 1 }), secret, async (i, value) => {
        let error: unknown
        try {
          await cases[i](value)
          return // a value this call accepts (a secret string key, a tier name…) is no error
        } catch (e) {
          error = e
        }
        expectNoEcho(error, value)
      }),
      { numRuns: 600 },
    )
  })
})

describe('the HTTP layer and the provider plans', () => {
  const run = async (options: Record<string, unknown>): Promise<unknown> => {
    let caught: unknown
    const handler = withRateLimit(async () => new Response('ok'), {
      ip: () => '203.0.113.7',
      onError: (error: unknown) => {
        caught = error
        return new Response('', { status: 500 })
      },
      ...options,
    } as never)
    const response = await handler(new Request('http://localhost/v1/things', { headers: { authorization: 'Bearer sk_live_abc' } }))
    if (caught === undefined) throw new Error(`no error (status ${response.status})`)
    return caught
  }

  const cases: ((v: unknown) => Record<string, unknown>)[] = [
    (v) => ({ policies, key: () => v }),
    (v) => ({ policies, key: userKey(() => v as string) }),
    (v) => ({ policies, cost: () => v }),
    (v) => ({ policies, plan: () => v }),
    (v) => ({ policies, plan: () => ({ key: 'k', countMode: v }) }),
    (v) => ({ policies, plan: () => ({ key: v }) }),
    (v) => ({ policies, plan: () => ({ key: 'k', cost: v }) }),
    (v) => ({ policies, plan: () => ({ key: 'k', tier: v }) }),
    (v) => ({ plan: providerPlan({ key: () => v as string, limits: { policies } }) }),
    (v) => ({
      plan: providerPlan({ key: apiKey({ bearer: true }), tiers: { free: { policies } }, tier: () => v as string }),
    }),
    (v) => ({
      plan: providerPlan({
        key: apiKey({ bearer: true }),
        tiers: { free: { policies, ceiling: [fixedWindow({ name: 'team', limit: 5, window: '1m' })] } },
        tier: 'free',
        team: () => v as string,
      }),
    }),
    (v) => ({ plan: providerPlan({ limits: { policies }, cost: () => v as number }) }),
  ]

  it('no error quotes the value a function returned', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: cases.length - 1 }), secret, async (i, value) => {
        let error: unknown
        try {
          error = await run(cases[i](value))
        } catch {
          return // accepted (e.g. a string key)
        }
        expectNoEcho(error, value)
      }),
      { numRuns: 150 },
    )
  })
})

describe("Fastify's default error body", () => {
  it('does not show the string a plan returned', async () => {
    const app = fastify()
    await app.register(fastifyRateLimit, { policies, plan: () => 'sk_live_TENANT_SECRET_0123456789' as never })
    app.get('/', async () => 'ok')
    const response = await app.inject({ method: 'GET', url: '/' })
    expect(response.statusCode).toBe(500)
    expect(response.body).not.toContain('sk_live_TENANT')
    await app.close()
  })
})

describe('start-up configuration errors', () => {
  it('still say what they received', async () => {
    const error = await thrown(() => tokenBucket({ limit: -7_654_321, window: '1m' }))
    expect(textOf(error)).toContain('-7654321')
  })
})
