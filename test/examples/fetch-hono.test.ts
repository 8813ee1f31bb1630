import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createHandler, createHonoApp, serveFetch } from '../../examples/fetch-hono.js'
import { clock } from '../helpers/clock.js'

const T0 = Date.UTC(2026, 0, 1)
const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn()
})

/** The env @hono/node-server (and serveFetch) hands to Hono: the Node request with its socket. */
const from = (remoteAddress: string) => ({ incoming: { socket: { remoteAddress } } })

describe('examples/fetch-hono.ts', () => {
  it('Hono: per-IP limit app-wide, and a per-route limit on /api/search', async () => {
    const c = clock(T0)
    const { app, close } = createHonoApp({ now: c.now })
    cleanup.push(close)
    const hello = await app.request('/api/hello', {}, from('203.0.113.1'))
    expect(hello.status).toBe(200)
    expect(hello.headers.get('x-ratelimit-remaining')).toBe('59')
    for (let i = 0; i < 10; i++) expect((await app.request('/api/search?q=x', {}, from('203.0.113.1'))).status).toBe(200)
    const denied = await app.request('/api/search?q=x', {}, from('203.0.113.1'))
    expect(denied.status).toBe(429)
    expect(denied.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect((await denied.json()) as unknown).toMatchObject({ 'violated-policies': ['search'] })
    // Another address is unaffected; IPv6 clients of one /56 share a bucket.
    expect((await app.request('/api/search', {}, from('203.0.113.2'))).status).toBe(200)
    expect((await app.request('/api/hello', {}, from('2001:db8:0:1::1'))).headers.get('x-ratelimit-remaining')).toBe('59')
    expect((await app.request('/api/hello', {}, from('2001:db8:0:2::1'))).headers.get('x-ratelimit-remaining')).toBe('58')
  })

  it('withRateLimit: a plain fetch handler limited per API key, headers on every response', async () => {
    const c = clock(T0)
    const handler = createHandler({ now: c.now })
    const call = (key: string) =>
      handler(new Request('http://x/api/items', { headers: { authorization: `Bearer ${key}` } }), { ip: '198.51.100.4' })
    for (let i = 0; i < 10; i++) {
      const ok = await call('k1')
      expect(ok.status).toBe(200)
      expect(ok.headers.get('x-ratelimit-remaining')).toBe(String(9 - i))
    }
    const denied = await call('k1')
    expect(denied.status).toBe(429)
    expect(denied.headers.get('retry-after')).toBe('1')
    c.advance(200)
    expect((await call('k1')).status).toBe(200)
    // Without a key: counted by the address passed in.
    const anonymous = await handler(new Request('http://x/api/items'), { ip: '198.51.100.4' })
    expect(anonymous.headers.get('x-ratelimit-remaining')).toBe('9')
  })

  it('serveFetch: a real server hands Hono the socket address', async () => {
    const { app, close } = createHonoApp()
    const server = serveFetch((request, env) => app.fetch(request, env), 0)
    cleanup.push(close, () => new Promise<void>((resolve) => server.close(() => resolve())))
    await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())))
    const { port } = server.address() as AddressInfo
    const res = await fetch(`http://127.0.0.1:${port}/api/hello`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ hello: 'world' })
    expect(res.headers.get('x-ratelimit-remaining')).toBe('59')
  })
})
