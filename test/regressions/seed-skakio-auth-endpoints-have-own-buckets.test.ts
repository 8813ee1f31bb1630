/**
 * skakio's auth table lists each endpoint with its own "10 req/s, burst 20": POST /auth/token,
 * /auth/validate and /auth/refresh are three buckets, not one (a client that spent its 20 tokens
 * on /auth/token still validates and refreshes).
 */
import { afterEach, expect, it } from 'vitest'
import { createApp } from '../../examples/seeds/skakio.js'
import { serve } from '../examples/serve.js'
import { clock } from '../helpers/clock.js'

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn()
})

it.each([
  ['a public key', { authorization: 'Bearer pk_live_own_buckets' }],
  ['an unauthenticated client (per IP)', {}],
])('%s: /auth/token, /auth/validate and /auth/refresh each admit a burst of 20', async (_who, headers: Record<string, string>) => {
  const c = clock(Date.UTC(2026, 1, 9, 12, 0, 0))
  const built = createApp({ now: c.now, isKey: (key) => /^[ps]k_live_/.test(key) })
  const server = await serve(built.app)
  cleanup.push(server.close, built.close)
  for (const path of ['/auth/token', '/auth/validate', '/auth/refresh']) {
    const statuses: number[] = []
    for (let i = 0; i < 21; i++) statuses.push((await server.send('POST', path, headers)).status)
    expect(statuses.slice(0, 20), path).toEqual(Array(20).fill(200))
    expect(statuses[20], path).toBe(429)
  }
})

it('other spellings of the path (case, trailing slash, escapes) share the endpoint’s bucket', async () => {
  const c = clock(Date.UTC(2026, 1, 9, 12, 0, 0))
  const built = createApp({ now: c.now, isKey: (key) => /^[ps]k_live_/.test(key) })
  const server = await serve(built.app)
  cleanup.push(server.close, built.close)
  const headers = { authorization: 'Bearer sk_live_spellings' }
  const spellings = ['/auth/token', '/AUTH/Token', '/auth/token/', '/auth/%74oken']
  const statuses: number[] = []
  for (let i = 0; i < 21; i++) statuses.push((await server.send('POST', spellings[i % 4], headers)).status)
  // (Express answers the escaped spelling 404; it is still counted where the router's decoding would put it.)
  expect(statuses.slice(0, 20).filter((s) => s === 429)).toEqual([])
  expect(statuses[20]).toBe(429)
})
