import { afterEach, describe, expect, it } from 'vitest'
import { createApp } from '../../examples/express.js'
import { clock } from '../helpers/clock.js'
import { serve } from './serve.js'

const T0 = Date.UTC(2026, 0, 1)
// Real sockets (light-my-request + Express POSTs upset later sockets in the same process).
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn()
})

describe('examples/express.ts', () => {
  it('limits per API key: a burst of 150, then 429 with Retry-After and a problem body', async () => {
    const c = clock(T0)
    const built = createApp({ now: c.now })
    const server = await serve(built.app)
    cleanup.push(server.close, built.close)
    const get = (key: string) => server.send('GET', '/hello', { 'x-api-key': key })
    const first = await get('k1')
    expect(first.status).toBe(200)
    expect(first.headers['x-ratelimit-limit']).toBe('100')
    expect(first.headers['x-ratelimit-remaining']).toBe('149')
    expect(first.headers['ratelimit-policy']).toBe('"per-minute";q=100;w=60')
    for (let i = 0; i < 149; i++) expect((await get('k1')).status).toBe(200)
    const denied = await get('k1')
    expect(denied.status).toBe(429)
    expect(denied.headers['retry-after']).toBe('1')
    expect(denied.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(denied.json()).toMatchObject({ status: 429, 'violated-policies': ['per-minute'] })
    // Another key has its own bucket.
    expect((await get('k2')).status).toBe(200)
    // One token every 600 ms.
    c.advance(600)
    expect((await get('k1')).status).toBe(200)
  })

  it('locks a login out after 5 failures; successful logins do not count', async () => {
    const c = clock(T0)
    const built = createApp({ now: c.now })
    const server = await serve(built.app)
    cleanup.push(server.close, built.close)
    const login = (password: string) => server.send('POST', '/login', { 'content-type': 'application/json' }, JSON.stringify({ password }))
    for (let i = 0; i < 10; i++) expect((await login('open sesame')).status).toBe(200)
    for (let i = 0; i < 5; i++) expect((await login('guess')).status).toBe(401)
    const locked = await login('open sesame')
    expect(locked.status).toBe(429)
    expect(locked.json()['violated-policies']).toEqual(['failed-logins'])
    // The failures age out after the window plus at most one sub-window (15 min + 90 s).
    c.advance(16 * 60_000)
    expect((await login('open sesame')).status).toBe(429)
    c.advance(30_000)
    expect((await login('open sesame')).status).toBe(200)
  })
})
