/**
 * managed.dev: "Every response carries the headers you need to pace yourself" — GET
 * /v1/rate-limits included. It used to be exempted from limiting, so it carried no X-RateLimit-*
 * headers at all (and was an unlimited way to hammer the store). It must carry them, charge
 * nothing to the caller's read/write/create buckets or team ceiling, and have a cheap limit of
 * its own.
 */
import { afterEach, expect, it } from 'vitest'
import { createApp, INTROSPECTION_LIMIT } from '../../examples/seeds/managed-dev.js'
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
  const { app, limiter } = await createApp({ now: c.now, teamOf: async (key) => (key.startsWith('mfk_live_') ? 'acme' : undefined) })
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  server = httpClient(base, async () => {
    await app.close()
    await limiter.close()
  })
  const s = server
  return (method: string, path: string, key: string) => s.send(method, path, { headers: { authorization: `Bearer ${key}` } })
}

it('GET /v1/rate-limits carries X-RateLimit-Limit/-Remaining/-Reset of a bucket of its own', async () => {
  const send = await start()
  const res = await send('GET', '/v1/rate-limits', 'mfk_live_1')
  expect(res.status).toBe(200)
  expect(res.headers['x-ratelimit-limit']).toBe(String(INTROSPECTION_LIMIT))
  expect(res.headers['x-ratelimit-remaining']).toBe(String(INTROSPECTION_LIMIT - 1))
  expect(res.headers['x-ratelimit-reset']).toMatch(/^\d+$/)
})

it('asking charges nothing to the read bucket or the team ceiling', async () => {
  const send = await start()
  for (let i = 0; i < 5; i++) expect((await send('GET', '/v1/rate-limits', 'mfk_live_1')).status).toBe(200)
  const body = (await send('GET', '/v1/rate-limits', 'mfk_live_1')).json<{
    data: { buckets: Array<{ class: string; remaining: number }>; team_ceiling: { remaining: number } }
  }>()
  expect(body.data.buckets.find((b) => b.class === 'read')?.remaining).toBe(1000)
  expect(body.data.team_ceiling.remaining).toBe(5000)
  expect((await send('GET', '/v1/runs', 'mfk_live_1')).headers['x-ratelimit-remaining']).toBe('999')
})

it('hammering it is limited: a 429 with Retry-After and the error envelope', async () => {
  const send = await start()
  for (let i = 0; i < INTROSPECTION_LIMIT; i++) expect((await send('GET', '/v1/rate-limits', 'mfk_live_2')).status).toBe(200)
  const denied = await send('GET', '/v1/rate-limits', 'mfk_live_2')
  expect(denied.status).toBe(429)
  expect(denied.headers['retry-after']).toBe('1')
  expect(denied.json<{ error: { code: string } }>().error.code).toBe('rate_limit.exceeded')
  // The API itself is untouched.
  expect((await send('GET', '/v1/runs', 'mfk_live_2')).status).toBe(200)
})
