/**
 * managed.dev: "Per-key buckets give each credential predictable headroom; the per-team ceiling
 * keeps one noisy team — or a team that mints many keys — from starving everyone else." Every
 * key of the API is on a team; a key that is on none is not a key of the API. The example used
 * to serve such keys with full per-key buckets and no ceiling at all, so one client making up a
 * new key per request was never limited. Now a key the API does not know is counted by the
 * caller's IP, like a request with no key, and answered 401.
 */
import { afterEach, expect, it } from 'vitest'
import { createApp, DOC_URL } from '../../examples/seeds/managed-dev.js'
import { httpClient, type SeedServer } from '../examples/seed-http.js'
import { clock } from '../helpers/clock.js'

const T0 = 1782192000 * 1000 - 60_000
let server: SeedServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

async function start() {
  const c = clock(T0)
  const { app, limiter } = await createApp({ now: c.now, teamOf: async (key) => (key === 'mfk_live_real' ? 'acme' : undefined) })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  server = httpClient(base, async () => {
    await app.close()
    await limiter.close()
  })
  const s = server
  return (method: string, path: string, authorization?: string) =>
    s.send(method, path, { headers: authorization === undefined ? {} : { authorization } })
}

it('made-up keys, one per request, share their IP’s read bucket and get 401', async () => {
  const send = await start()
  const statuses: number[] = []
  for (let i = 0; i < 1001; i++) statuses.push((await send('GET', '/v1/runs', `Bearer mfk_live_madeup${i}`)).status)
  expect(statuses).toEqual([...Array(1000).fill(401), 429])
  // A key of the API keeps its own buckets.
  const real = await send('GET', '/v1/runs', 'Bearer mfk_live_real')
  expect(real.status).toBe(200)
  expect(real.headers['x-ratelimit-remaining']).toBe('999')
})

it('the 401 carries the rate-limit headers and the error envelope; creates are limited per IP too', async () => {
  const send = await start()
  const refused = await send('POST', '/v1/jobs', 'Bearer mfk_live_fake')
  expect(refused.status).toBe(401)
  expect(refused.headers).toMatchObject({ 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': '4' })
  // "Retry-After Seconds to wait — present only on a 429."
  expect(refused.headers['retry-after']).toBeUndefined()
  expect(refused.json()).toEqual({
    error: {
      type: 'authentication',
      code: 'authentication.invalid_key',
      message: 'unknown API key',
      doc_url: DOC_URL.replace(/#.*/, '#authentication.invalid_key'),
    },
    request_id: expect.stringMatching(/^req_/),
  })
  for (let i = 0; i < 4; i++) await send('POST', '/v1/jobs', `Bearer mfk_live_fake${i}`)
  expect((await send('POST', '/v1/jobs', 'Bearer mfk_live_fake_again')).status).toBe(429)
  // …and its introspection endpoint neither reports nor spends a made-up key's buckets.
  expect((await send('GET', '/v1/rate-limits', 'Bearer mfk_live_fake')).status).toBe(401)
})

it('no key at all is refused the same way, on the same per-IP buckets', async () => {
  const send = await start()
  for (let i = 0; i < 5; i++) expect((await send('POST', '/v1/jobs')).status).toBe(401)
  expect((await send('POST', '/v1/jobs', 'Bearer mfk_live_other')).status).toBe(429)
})
