import { inject } from 'light-my-request'
import { afterEach, describe, expect, it } from 'vitest'
import { createApp, pagesOf } from '../../examples/koa.js'
import { clock } from '../helpers/clock.js'

const T0 = Date.UTC(2026, 0, 1, 9)
let close: (() => Promise<void>) | undefined
afterEach(async () => {
  await close?.()
  close = undefined
})

describe('examples/koa.ts', () => {
  it('charges report requests by pages: 100 pages per hour per user', async () => {
    const c = clock(T0)
    const built = createApp({ now: c.now })
    close = built.close
    const handler = built.app.callback()
    const report = (user: string, pages: number) =>
      inject(handler, { method: 'GET', url: `/v1/reports?pages=${pages}`, headers: { 'x-user': user } })

    const first = await report('ada', 40)
    expect(first.statusCode).toBe(200)
    // The route's own limit (mounted last) writes the headers: 100 - 40 pages.
    expect(first.headers['x-ratelimit-remaining']).toBe('60')
    expect(first.headers['ratelimit-policy']).toBe('"report-pages";q=100;w=3600')
    expect((await report('ada', 40)).statusCode).toBe(200)
    const tooMany = await report('ada', 40) // 120 > 100
    expect(tooMany.statusCode).toBe(429)
    expect(JSON.parse(tooMany.body)['violated-policies']).toEqual(['report-pages'])
    expect(Number(tooMany.headers['retry-after'])).toBe(3600)
    // The denied request charged nothing: 20 pages are still there.
    expect((await report('ada', 20)).statusCode).toBe(200)
    // Another user is unaffected.
    expect((await report('grace', 50)).statusCode).toBe(200)
    // A new hour, a new quota.
    c.advance(3_600_000)
    expect((await report('ada', 50)).statusCode).toBe(200)
  })

  it('counts every request per user, app-wide', async () => {
    const c = clock(T0)
    const built = createApp({ now: c.now })
    close = built.close
    const handler = built.app.callback()
    for (let i = 0; i < 60; i++) expect((await inject(handler, { url: '/v1/things', headers: { 'x-user': 'ada' } })).statusCode).toBe(200)
    const denied = await inject(handler, { url: '/v1/things', headers: { 'x-user': 'ada' } })
    expect(denied.statusCode).toBe(429)
    // All 60 fell in one 6 s sub-window: they age out after the window plus that sub-window.
    expect(denied.headers['ratelimit']).toBe('"per-minute";r=0;t=66')
    // Anonymous requests are counted by IP.
    expect((await inject(handler, { url: '/v1/things' })).headers['x-ratelimit-remaining']).toBe('59')
  })

  it('rejects a malformed page count without charging it', () => {
    expect(pagesOf({ pages: '7' })).toBe(7)
    expect(pagesOf({})).toBe(1)
    expect(pagesOf({ pages: '0' })).toBe(0)
    expect(pagesOf({ pages: '51' })).toBe(0)
    expect(pagesOf({ pages: ['1', '2'] })).toBe(0)
  })
})
