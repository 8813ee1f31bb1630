/**
 * The seeds' limits, tried as a client that wants more than it is given: requests raced in
 * parallel, other spellings of a path and other methods, and requests timed at the edge of a
 * day or a month. Over real HTTP, on the memory store and on Redis. Each test quotes the line
 * whose limit it tries to exceed.
 */
import { afterEach, expect, it } from 'vitest'
import { type Account, createApp as createApisIo, nodeListener, TOOL_CALLS } from '../../examples/seeds/apis-io-quotas.js'
import { createApp as createManagedDev, TEAM_CEILING } from '../../examples/seeds/managed-dev.js'
import { createApp as createSkakio, SKAKIO_TIERS } from '../../examples/seeds/skakio.js'
import { clock } from '../helpers/clock.js'
import { httpClient, listen } from './seed-http.js'
import { describeEachStore } from './seed-stores.js'

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})
const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length

describeEachStore('seeds under attack', (kind) => {
  // --- skakio ---
  const SKAKIO_T0 = Date.UTC(2026, 1, 9, 23, 59, 0)
  async function skakio() {
    const c = clock(SKAKIO_T0)
    const built = createSkakio({ now: c.now, store: kind.store(), isKey: (key) => /^[ps]k_live_\w+$/.test(key) })
    const server = await listen(built.app)
    cleanup.push(built.close, server.close)
    const send = (method: string, path: string, key: string) => server.send(method, path, { headers: { authorization: `Bearer ${key}` } })
    return { c, send, limiter: built.limiter }
  }

  it('"| Public Key (pk_) | 100 | 10,000 | 150 |": 300 requests raced at once get exactly the burst of 150', async () => {
    const { send } = await skakio()
    const statuses = (await Promise.all(Array.from({ length: 300 }, () => send('GET', '/api/listing/1', 'pk_live_race')))).map(
      (r) => r.status,
    )
    expect(count(statuses, 200)).toBe(150)
    expect(count(statuses, 429)).toBe(150)
  })

  it('"POST /auth/token | 10 req/s | 20 |": 60 raced over four spellings of the path get exactly 20', async () => {
    const { send } = await skakio()
    const spellings = ['/auth/token', '/AUTH/TOKEN', '/auth/token/', '/auth//token']
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => send('POST', spellings[i % 4], 'sk_live_race')))
    expect(
      count(
        answers.map((r) => r.status),
        429,
      ),
    ).toBe(40)
  })

  it('"| Public Key (pk_) | 100 | 10,000 |": a day spent stays spent to its last millisecond, and only then comes back', async () => {
    const { c, send, limiter } = await skakio()
    await limiter.consume('key:pk_live_day', { cost: 10_000, policies: [SKAKIO_TIERS.public_key.policies[1]] })
    c.set(Date.UTC(2026, 1, 9, 23, 59, 59, 999))
    const late = await send('GET', '/api/listing/1', 'pk_live_day')
    expect(late.status).toBe(429)
    expect(late.headers['retry-after']).toBe('1')
    c.set(Date.UTC(2026, 1, 10))
    const next = await send('GET', '/api/listing/1', 'pk_live_day')
    expect(next.status).toBe(200)
    expect(next.headers['x-ratelimit-remaining']).toBe('149')
  })

  it('"Limits are applied per API key": HEAD and OPTIONS are requests too, on the same budget', async () => {
    const { send } = await skakio()
    const methods = ['GET', 'HEAD', 'OPTIONS']
    const statuses: number[] = []
    for (let i = 0; i < 151; i++) statuses.push((await send(methods[i % 3], '/api/listing/1', 'pk_live_methods')).status)
    expect(statuses.slice(0, 150).every((s) => s !== 429)).toBe(true)
    expect(statuses[150]).toBe(429)
  })

  // --- managed.dev ---
  const MD_T0 = 1782192000 * 1000 - 60_000
  async function managedDev() {
    const c = clock(MD_T0)
    const { app, limiter } = await createManagedDev({
      now: c.now,
      store: kind.store(),
      teamOf: async (key) => (key.startsWith('mfk_live_') ? 'acme' : undefined),
    })
    const base = await app.listen({ port: 0, host: '127.0.0.1' })
    const server = httpClient(base, async () => {
      await app.close()
      await limiter.close()
    })
    cleanup.push(server.close)
    const send = (method: string, path: string, key: string) => server.send(method, path, { headers: { authorization: `Bearer ${key}` } })
    return { send, limiter }
  }

  it('"Per-key — create (job-spawning POST) 5 / min": 30 raced over spellings of /v1/jobs get exactly 5', async () => {
    const { send } = await managedDev()
    const spellings = ['/v1/jobs', '/V1/JOBS', '/v1/jobs/', '/v1//jobs', '/v1/%6Aobs', '/v1/jobs?x=1']
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => send('POST', spellings[i % spellings.length], 'mfk_live_race')))
    expect(
      count(
        answers.map((r) => r.status),
        429,
      ),
    ).toBe(25)
    // None of them was counted as a write.
    expect((await send('POST', '/v1/runs', 'mfk_live_race')).headers['x-ratelimit-remaining']).toBe('99')
  })

  it('"Per-team ceiling 5000 / min aggregate all keys on a team": 40 reads raced from four keys get exactly the 10 left', async () => {
    const { send, limiter } = await managedDev()
    await limiter.consume('team:acme', { cost: 4_990, policies: TEAM_CEILING })
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => send('GET', '/v1/runs', `mfk_live_k${i % 4}`)))
    expect(
      count(
        answers.map((r) => r.status),
        200,
      ),
    ).toBe(10)
  })

  it('"Per-key — read (GET) 1000 / min": HEAD and OPTIONS draw on the read bucket too', async () => {
    const { send } = await managedDev()
    const remaining: string[] = []
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'GET']) {
      const res = await send(method, '/v1/runs', 'mfk_live_head')
      expect(res.headers['x-ratelimit-limit']).toBe('1000')
      remaining.push(res.headers['x-ratelimit-remaining'])
    }
    expect(remaining).toEqual(['999', '998', '997', '996'])
  })

  // --- APIs.io profile ---
  const APRIL_END = Date.UTC(2026, 3, 30, 18, 0, 0)
  const MAY = Date.UTC(2026, 4, 1)
  const ACCOUNTS: Record<string, Account> = { sk_free: { id: 'acct_free', plan: 'free', environment: 'env_a' } }
  async function apisIo() {
    const c = clock(APRIL_END)
    const built = createApisIo({ accounts: ACCOUNTS, now: c.now, store: kind.store() })
    const server = await listen(nodeListener(built.app))
    cleanup.push(built.close, server.close)
    const send = (method: string, path: string) => server.send(method, path, { headers: { authorization: 'Bearer sk_free' } })
    return { c, send, limiter: built.limiter }
  }

  it('"5,000/month (Free, hard stop)": 20 tool calls raced with 5 left get exactly 5', async () => {
    const { send, limiter } = await apisIo()
    await limiter.consume('account:acct_free', { cost: 4_995, policies: TOOL_CALLS.free })
    const answers = await Promise.all(Array.from({ length: 20 }, () => send('POST', '/api/v1/execute_tool')))
    expect(
      count(
        answers.map((r) => r.status),
        200,
      ),
    ).toBe(5)
  })

  it('"5,000/month (Free, hard stop)": stopped to the month’s last millisecond, then a new allowance at 00:00 UTC on the 1st', async () => {
    const { c, send, limiter } = await apisIo()
    await limiter.consume('account:acct_free', { cost: 5_000, policies: TOOL_CALLS.free })
    c.set(MAY - 1)
    const last = await send('POST', '/api/v1/execute_tool')
    expect(last.status).toBe(429)
    expect(last.headers['retry-after']).toBe('1')
    c.set(MAY)
    const first = await send('POST', '/api/v1/execute_tool')
    expect(first.status).toBe(200)
    expect(first.headers['x-ratelimit-remaining']).toBe('4999')
  })
})
