import { afterEach, describe, expect, it } from 'vitest'
import { createApp, parseQuery, queryCost } from '../../examples/graphql-cost.js'
import { clock } from '../helpers/clock.js'
import { serve } from './serve.js'

const T0 = Date.UTC(2026, 0, 1)
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn()
})

const QUERY = '{ users(first: 10) { name posts(first: 5) { title } } }'

describe('examples/graphql-cost.ts', () => {
  it('computes the worst case: one point per field, times the first: of the lists around it', () => {
    // users: 1; per user (10): name 1, posts 1; per post (10 × 5): title 1.
    expect(queryCost(parseQuery(QUERY))).toBe(1 + 10 * 2 + 50)
    expect(queryCost(parseQuery('query Q { users(first: 2) { name } }'))).toBe(3)
    expect(() => parseQuery('{ users(first: 2) { name }')).toThrow()
  })

  it('charges the worst case on arrival and settles at the fields resolved', async () => {
    const c = clock(T0)
    const built = createApp({ now: c.now })
    const server = await serve(built.app)
    cleanup.push(server.close, built.close)
    const ask = (query: string) =>
      server.send('POST', '/graphql', { 'x-api-key': 'k1', 'content-type': 'application/json' }, JSON.stringify({ query }))
    const first = await ask(QUERY)
    expect(first.status).toBe(200)
    // Charged 71 when it arrived: the headers say so.
    expect(first.headers['x-ratelimit-remaining']).toBe(String(1000 - 71))
    const { data, extensions } = first.json<{ data: { users: unknown[] }; extensions: { cost: { actual: number } } }>()
    expect(data.users).toHaveLength(3)
    // users 1 + 3 × (name, posts) + 3 posts' titles = 10 fields resolved.
    expect(extensions.cost.actual).toBe(10)
    // The next response shows the settled balance: 1000 − 10, minus its own 71.
    const second = await ask(QUERY)
    expect(second.headers['x-ratelimit-remaining']).toBe(String(1000 - 10 - 71))
  })

  it('denies a query whose worst case does not fit, however little it would resolve', async () => {
    const built = createApp({ now: clock(T0).now })
    const server = await serve(built.app)
    cleanup.push(server.close, built.close)
    const ask = (query: string) =>
      server.send('POST', '/graphql', { 'x-api-key': 'k2', 'content-type': 'application/json' }, JSON.stringify({ query }))
    // 1 + 100 × 2 + 100 × 100 = 10201 points: never admitted (over the bucket's 1000).
    const huge = await ask('{ users(first: 100) { name posts(first: 100) { title } } }')
    expect(huge.status).toBe(429)
    expect(huge.headers['retry-after']).toBeUndefined()
    const bad = await ask('{ users(')
    expect(bad.status).toBe(400)
  })
})
