// The line a limiter logs at the start of a store outage quotes the store's error. A store whose
// error names its URL (Node's fetch: "Request cannot be constructed from a URL that includes
// credentials: https://svc:<password>@…", a driver quoting its connection string) had its
// password printed to the logs by default. Passwords are masked there, as in option errors.
import { expect, it } from 'vitest'
import { createLimiter, type Store, type StoreResult, tokenBucket } from '../../src/index.js'

const SECRET = 's3cRet-pw'

it('the outage line masks a password in the store error it quotes', async () => {
  const fail = (): StoreResult => {
    // What Node's own fetch says of a URL with credentials (a store calling a limits service).
    new Request(`https://svc:${SECRET}@limits.internal/v1/consume`)
    throw new Error('unreachable')
  }
  const store: Store = { consume: fail, peek: fail, refund: fail, reset: () => undefined, close: () => undefined }
  const logged: string[] = []
  const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 5, window: '1m' })], logger: { warn: (m) => logged.push(m) } })
  const heard: string[] = []
  limiter.on('warn', (w) => heard.push(w.message))
  const decision = await limiter.consume('k')
  expect(decision.reason).toBe('store-error')
  expect(logged).toHaveLength(1)
  expect(logged[0]).toContain('https://svc:***@limits.internal')
  expect([...logged, ...heard].join('\n')).not.toContain(SECRET)
})

it('the line reporting a throwing listener masks a password in the error it quotes', async () => {
  const limiter = createLimiter({ policies: [tokenBucket({ limit: 5, window: '1m' })] })
  const heard: string[] = []
  limiter.on('warn', (w) => heard.push(w.message))
  limiter.on('decision', () => {
    throw new Error(`cannot write to postgres://metrics:${SECRET}@db.internal/stats`)
  })
  await limiter.consume('k')
  expect(heard).toHaveLength(1)
  expect(heard[0]).toContain('postgres://metrics:***@db.internal')
  expect(heard[0]).not.toContain(SECRET)
})
