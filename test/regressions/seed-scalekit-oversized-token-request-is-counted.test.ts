/**
 * Scalekit: "API responses include rate limit information in the response headers", and the
 * token endpoint has "special limits". The example reads the token request's form before the
 * limiter (to key it by client_id) and answered a form over 8 KiB with 413 right there: never
 * counted and without rate-limit headers, so oversized requests were unlimited. Now the 413 is
 * given after the limiter has counted the request by IP, with the headers.
 */
import { afterEach, expect, it } from 'vitest'
import { createApp } from '../../examples/seeds/scalekit.js'
import { listen } from '../examples/seed-http.js'
import { clock } from '../helpers/clock.js'

const T0 = Date.UTC(2026, 2, 1, 10, 0, 0)
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

it('an oversized token request is counted by IP, answered 413 with the headers, then 429', async () => {
  const c = clock(T0)
  const built = createApp({
    clients: { skc_app: { clientId: 'skc_app', secret: 's1', environment: 'env_prod' } },
    now: c.now,
    callTool: async () => ({ status: 200, headers: new Headers(), json: async () => ({}) }),
  })
  const server = await listen(built.app.callback())
  cleanup.push(built.close, server.close)
  const body = `client_id=skc_app&client_secret=s1&pad=${'x'.repeat(9 * 1024)}`
  const statuses: number[] = []
  for (let i = 0; i < 21; i++) {
    const res = await server.send('POST', '/oauth/token', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body })
    statuses.push(res.status)
    expect(res.headers['x-ratelimit-limit']).toBe('20')
  }
  expect(statuses).toEqual([...Array(20).fill(413), 429])
  // The client's own allowance was not touched: the oversized form named no client.
  const ok = await server.send('POST', '/oauth/token', {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&client_id=skc_app&client_secret=s1',
  })
  expect(ok.status).toBe(200)
  expect(ok.headers['x-ratelimit-remaining']).toBe('19')
})
