/**
 * skakio: "Authentication endpoints have stricter limits". Stricter means on top of the key's
 * tier limits, never instead of them: a pk_ key gets at most its tier's 150 + 100 requests in a
 * minute on /auth/token too (it used to get 620: the auth bucket replaced the tier's).
 */
import { afterEach, expect, it } from 'vitest'
import { createApp } from '../../examples/seeds/skakio.js'
import { serve } from '../examples/serve.js'
import { clock } from '../helpers/clock.js'

const T0 = Date.UTC(2026, 1, 9, 12, 0, 0)
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn()
})

async function start() {
  const c = clock(T0)
  const built = createApp({ now: c.now, isKey: (key) => /^[ps]k_live_/.test(key) })
  const server = await serve(built.app)
  cleanup.push(server.close, built.close)
  const send = (method: string, path: string, key: string) => server.send(method, path, { authorization: `Bearer ${key}` })
  return { c, send }
}

it('a pk_ key hammering /auth/token at 10 req/s for a minute gets at most its tier budget (150 + 100)', async () => {
  const { c, send } = await start()
  let admitted = 0
  for (let t = 0; t <= 60_000; t += 100) {
    c.set(T0 + t)
    if ((await send('POST', '/auth/token', 'pk_live_hammer')).status === 200) admitted++
  }
  expect(admitted).toBeLessThanOrEqual(250)
  expect(admitted).toBeGreaterThanOrEqual(240)
})

it('a key whose tier budget is spent is refused on the auth endpoints too', async () => {
  const { send } = await start()
  for (let i = 0; i < 150; i++) expect((await send('GET', '/api/listing/1', 'pk_live_spent')).status).toBe(200)
  for (const path of ['/auth/token', '/auth/validate', '/auth/refresh']) {
    const denied = await send('POST', path, 'pk_live_spent')
    expect(denied.status, path).toBe(429)
    expect(denied.headers['x-ratelimit-limit'], path).toBe('100')
  }
})

it('auth requests draw on the tier budget: 20 token requests leave 130 of the burst of 150', async () => {
  const { send } = await start()
  for (let i = 0; i < 20; i++) expect((await send('POST', '/auth/token', 'pk_live_share')).status).toBe(200)
  expect((await send('GET', '/api/listing/1', 'pk_live_share')).headers['x-ratelimit-remaining']).toBe('129')
})
