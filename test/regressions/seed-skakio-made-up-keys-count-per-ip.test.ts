/**
 * skakio: "Limits are applied per API key (or per IP for unauthenticated requests)." A request
 * whose key the API does not know is not authenticated: it is counted by its IP and answered
 * 401. The example used to give every bearer string a budget of its own, so one client could
 * send without limit by making up a new `pk_` key per request, and any made-up `sk_` key got the
 * secret tier's ten times larger limits.
 */
import { afterEach, expect, it } from 'vitest'
import { createApp } from '../../examples/seeds/skakio.js'
import { listen } from '../examples/seed-http.js'
import { clock } from '../helpers/clock.js'

const T0 = Date.UTC(2026, 1, 9, 12, 0, 0)
const KNOWN = new Set(['pk_live_real', 'sk_live_real'])
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function start() {
  const c = clock(T0)
  const built = createApp({ now: c.now, isKey: (key) => KNOWN.has(key) })
  const server = await listen(built.app)
  cleanup.push(built.close, server.close)
  const get = (path: string, authorization?: string) =>
    server.send('GET', path, { headers: authorization === undefined ? {} : { authorization } })
  const post = (path: string, authorization: string) => server.send('POST', path, { headers: { authorization } })
  return { get, post }
}

it('made-up pk_ keys, one per request, share their IP’s burst of 150 and get 401', async () => {
  const { get } = await start()
  const statuses: number[] = []
  for (let i = 0; i < 151; i++) statuses.push((await get('/api/listing/1', `Bearer pk_live_madeup${i}`)).status)
  expect(statuses).toEqual([...Array(150).fill(401), 429])
  // They spent the address's budget: an unauthenticated request from it is refused too…
  expect((await get('/api/listing/1')).status).toBe(429)
  // …while a key of the API keeps its own.
  const real = await get('/api/listing/1', 'Bearer pk_live_real')
  expect(real.status).toBe(200)
  expect(real.headers['x-ratelimit-remaining']).toBe('149')
})

it('a made-up sk_ key gets no secret tier', async () => {
  const { get } = await start()
  const fake = await get('/api/listing/1', 'Bearer sk_live_madeup')
  expect(fake.status).toBe(401)
  expect(fake.headers).toMatchObject({ 'x-ratelimit-tier': 'public_key', 'x-ratelimit-limit': '100' })
  expect(fake.json()).toEqual({
    code: 401,
    status: 'error',
    error: { code: 'INVALID_API_KEY', message: 'Unknown API key: send a pk_ or sk_ key of this API, or no key at all.' },
  })
  const real = await get('/api/listing/1', 'Bearer sk_live_real')
  expect(real.headers).toMatchObject({ 'x-ratelimit-tier': 'secret_key', 'x-ratelimit-limit': '1000' })
})

it('an Authorization header that is not a bearer key is not a way around the IP’s budget', async () => {
  const { get } = await start()
  for (let i = 0; i < 150; i++) await get('/api/listing/1', `Basic ${i}`)
  expect((await get('/api/listing/1', 'Token x')).status).toBe(429)
})

it('"Authentication endpoints have stricter limits to prevent brute-force attacks": made-up keys share the IP’s 20', async () => {
  const { post } = await start()
  const statuses: number[] = []
  for (let i = 0; i < 21; i++) statuses.push((await post('/auth/token', `Bearer sk_live_guess${i}`)).status)
  expect(statuses).toEqual([...Array(20).fill(401), 429])
})
