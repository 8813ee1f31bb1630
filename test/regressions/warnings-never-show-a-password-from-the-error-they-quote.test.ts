// Warnings quote the errors behind them: an onDecision hook's (RK_HOOK_THREW), a store's
// queueRelease rejection (RK_RELEASE_FAILED). A hook that failed to write to a database named
// in its error ("connect to postgres://app:<password>@db failed") had the password printed by
// the limiter's logger. Every warning a limiter gives is now masked on its way out, as option
// errors and the outage line are.
import { createClient } from 'ratekeeper/client'
import { createHttpLimiter, type HttpRequestInfo } from 'ratekeeper/http'
import { expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'

const SECRET = 'hunter2-pw'

it('the warning about a throwing onDecision hook masks the password its error quotes', async () => {
  const logged: string[] = []
  const limiter = createLimiter({
    policies: [tokenBucket({ limit: 5, window: '1m' })],
    now: () => Date.UTC(2026, 0, 1),
    logger: { warn: (m) => logged.push(m) },
  })
  const heard: string[] = []
  limiter.on('warn', (w) => heard.push(w.message))
  const http = createHttpLimiter<object>('rateLimit()', {
    limiter,
    onDecision: () => {
      throw new Error(`audit log: cannot connect to postgres://app:${SECRET}@db.internal/audit`)
    },
  })
  const info: HttpRequestInfo<object> = {
    method: 'GET',
    route: '/',
    path: '/',
    ip: '192.0.2.1',
    headers: { get: () => undefined },
    raw: {},
  }
  await http.handle(info)
  expect(heard).toHaveLength(1)
  expect(heard[0]).toContain('postgres://app:***@db.internal')
  expect([...logged, ...heard].join('\n')).not.toContain(SECRET)
})

it("the client's warning about a throwing listener masks the password its error quotes", async () => {
  const printed: string[] = []
  const onWarning = (w: Error) => printed.push(w.message)
  process.on('warning', onWarning)
  try {
    const client = createClient({ fetch: async () => new Response('ok') })
    client.on('response', () => {
      throw new Error(`metrics push to https://push:${SECRET}@metrics.internal failed`)
    })
    expect((await client('http://api.test/')).status).toBe(200)
    await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('warning', onWarning)
  }
  const threw = printed.filter((m) => m.includes('listener threw'))
  expect(threw).toHaveLength(1)
  expect(threw[0]).toContain('https://push:***@metrics.internal')
  expect(threw[0]).not.toContain(SECRET)
})
