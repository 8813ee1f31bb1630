// The shared adapter suite: every scenario runs on Express 4 and 5, Koa 2 and 3, Fastify 4 and 5,
// plain fetch and Hono, asserts its expectations there, and at the end every framework's
// responses (status, rate-limit headers, body) must equal Express 5's.
import { expect } from 'vitest'
import { allowList } from '../../src/http/allow-list.js'
import { apiKey, ipKey } from '../../src/http/keys.js'
import { createLimiter, fixedWindow, MemoryStore, type Store, StoreError, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'
import { describeOnEveryFramework, type LimitOptions, type Res, type Scenario } from './harness.js'

const T0 = 1_700_000_000_000

/** A fresh clock and a one-policy limit of `limit` requests per minute. */
function perMinute(limit: number, extra: Partial<LimitOptions> = {}): LimitOptions {
  return { policies: [tokenBucket({ name: 'per-minute', limit, window: '1m' })], now: clock(T0).now, ...extra }
}

/** A store that always fails, as a dead Redis would. */
function failingStore(): Store {
  const fail = () => {
    throw new StoreError('ERR_RK_STORE', 'connection refused (secret-host:6379)')
  }
  return { consume: fail, peek: fail, refund: fail, reset: fail, close: () => {} }
}

const statuses = (res: Res[]) => res.map((r) => r.status)
const remaining = (res: Res[]) => res.map((r) => r.headers['x-ratelimit-remaining'])
const MB = 'a'.repeat(1_000_000)

const scenarios: Scenario[] = [
  {
    name: 'headers on every response; 429 with Retry-After and a problem body',
    spec: () => ({ global: perMinute(2) }),
    requests: [{ url: '/hello' }, { url: '/hello' }, { url: '/hello' }],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 200, 429])
      expect(remaining(res)).toEqual(['1', '0', '0'])
      expect(res[0].body).toBe('hello')
      expect(res[0].headers['ratelimit-policy']).toBe('"per-minute";q=2;w=60')
      expect(res[2].headers['retry-after']).toBe('30')
      expect(res[2].headers['content-type']).toBe('application/problem+json')
      const body = JSON.parse(res[2].body)
      expect(body).toMatchObject({ status: 429, 'violated-policies': ['per-minute'], 'retry-after': 30 })
    },
  },
  {
    name: 'body preset with the request id from a header; unsafe ids left out',
    spec: () => ({ global: perMinute(1, { body: 'managed-dev', requestId: 'x-request-id' }) }),
    requests: [
      { url: '/hello', headers: { 'x-request-id': 'req_1' } },
      { url: '/hello', headers: { 'x-request-id': 'req_2' } },
      { url: '/hello', headers: { 'x-request-id': 'x'.repeat(300) } },
    ],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 429, 429])
      expect(res[1].headers['content-type']).toBe('application/json')
      expect(JSON.parse(res[1].body)).toMatchObject({ error: { code: 'rate_limit.exceeded' }, request_id: 'req_2' })
      expect(JSON.parse(res[2].body).request_id).toBeUndefined()
    },
  },
  {
    name: 'per-route limit keyed by the template: case, trailing slash and encoding share the bucket',
    spec: () => ({ route: perMinute(3) }),
    requests: [
      { url: '/users/1' },
      { url: '/users/2' },
      { url: '/USERS/3' },
      { url: '/users/4/' },
      { url: '/users/%35' },
      { url: '/hello' },
    ],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 200, 200, 429, 429, 200])
      expect(remaining(res)).toEqual(['2', '1', '0', '0', '0', undefined])
    },
  },
  {
    name: "stacked limiters (app-wide and route): each response carries the deciding limiter's headers",
    spec: () => ({
      global: perMinute(100),
      route: { policies: [fixedWindow({ name: '5-per-15m', limit: 5, window: '15m' })], now: clock(T0).now },
    }),
    requests: Array.from({ length: 6 }, () => ({ url: '/users/1' })),
    check: (res) => {
      expect(statuses(res)).toEqual([200, 200, 200, 200, 200, 429])
      expect(res.map((r) => r.headers['x-ratelimit-limit'])).toEqual(['5', '5', '5', '5', '5', '5'])
      expect(remaining(res)).toEqual(['4', '3', '2', '1', '0', '0'])
      expect(res[5].headers['ratelimit-policy']).toBe('"5-per-15m";q=5;w=900')
      expect(JSON.parse(res[5].body)['violated-policies']).toEqual(['5-per-15m'])
    },
  },
  {
    name: 'stacked limiters with different header dialects: no header of the other limiter',
    spec: () => ({
      global: perMinute(100, { headers: { standard: false } }),
      route: perMinute(3, { headers: { legacy: false } }),
    }),
    // (Only the route: on Fastify a route's limits replace the plugin's, so /hello's figures differ.)
    requests: [{ url: '/users/1' }, { url: '/users/1' }],
    check: (res) => {
      expect(res.map((r) => Object.keys(r.headers).sort())).toEqual([
        ['ratelimit', 'ratelimit-policy'],
        ['ratelimit', 'ratelimit-policy'],
      ])
    },
  },
  {
    name: 'unknown routes (404) count under the global limiter',
    spec: () => ({ global: perMinute(2) }),
    requests: [{ url: '/nope' }, { url: '/hello' }, { url: '/nope' }],
    check: (res) => {
      expect(statuses(res)).toEqual([404, 200, 429])
      expect(remaining(res)).toEqual(['1', '0', '0'])
      expect(res[0].body).toBe('not found')
    },
  },
  {
    name: 'HEAD is counted once and shares the GET bucket (global)',
    spec: () => ({ global: perMinute(3) }),
    requests: [{ method: 'HEAD', url: '/hello' }, { url: '/hello' }, { method: 'HEAD', url: '/hello' }, { url: '/hello' }],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 200, 200, 429])
      expect(remaining(res)).toEqual(['2', '1', '0', '0'])
    },
  },
  {
    name: 'HEAD is counted once and shares the GET bucket (per route)',
    spec: () => ({ route: perMinute(2) }),
    requests: [{ method: 'HEAD', url: '/users/1' }, { url: '/users/1' }, { method: 'HEAD', url: '/users/1' }],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 200, 429])
      expect(remaining(res)).toEqual(['1', '0', '0'])
    },
  },
  {
    name: 'a request passing two mounts of the same limiter is counted once',
    spec: () => {
      const limiter = createLimiter(perMinute(3) as { policies: never[] })
      return { global: { limiter }, globalMounts: 2 }
    },
    requests: [{ url: '/hello' }, { url: '/hello' }, { url: '/hello' }, { url: '/hello' }],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 200, 200, 429])
      expect(remaining(res)).toEqual(['2', '1', '0', '0'])
    },
  },
  {
    name: 'skip: an allow-list and a function; skipped requests get no headers and cost nothing',
    spec: () => ({
      global: perMinute(1, {
        skip: (req, info) => allowList(['10.0.0.0/8', '2001:db8::/32'])(req, info) || info.headers.get('x-internal') === 'yes',
      }),
    }),
    requests: [
      { url: '/hello', ip: '10.1.2.3' },
      { url: '/hello', ip: '::ffff:10.9.9.9' },
      { url: '/hello', ip: '2001:db8::1' },
      { url: '/hello', headers: { 'x-internal': 'yes' } },
      { url: '/hello' },
      { url: '/hello' },
    ],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 200, 200, 200, 200, 429])
      expect(remaining(res)).toEqual([undefined, undefined, undefined, undefined, '0', '0'])
    },
  },
  {
    name: 'custom key (API key helper) and cost function',
    spec: () => ({ global: perMinute(5, { key: apiKey(), cost: (_req, info) => Number(info.headers.get('x-cost') ?? '1') }) }),
    requests: [
      { url: '/hello', headers: { 'x-api-key': 'sk_A', 'x-cost': '3' } },
      { url: '/hello', headers: { 'x-api-key': 'sk_A', 'x-cost': '3' } },
      { url: '/hello', headers: { 'x-api-key': 'sk_B', 'x-cost': '3' } },
      { url: '/hello' },
      { url: '/hello', headers: { 'x-api-key': 'sk_A', 'x-cost': '9' } },
    ],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 429, 200, 200, 429])
      expect(remaining(res)).toEqual(['2', '2', '2', '4', '2'])
      expect(res[1].headers['retry-after']).toBe('12')
      // Cost above the burst can never succeed: no Retry-After, a body that says so.
      expect(res[4].headers['retry-after']).toBeUndefined()
      expect(JSON.parse(res[4].body).detail).toMatch(/more than policy "per-minute" can ever admit/)
    },
  },
  {
    name: 'a key function that throws goes to the error handler (500), never hangs',
    spec: () => ({
      global: perMinute(5, {
        key: () => {
          throw new Error('boom')
        },
      }),
    }),
    requests: [{ url: '/hello' }],
    check: (res) => {
      expect(res[0]).toEqual({ status: 500, headers: {}, body: 'error' })
    },
  },
  {
    name: 'a key function that rejects goes to the error handler (500)',
    spec: () => ({ global: perMinute(5, { key: async () => Promise.reject(new Error('boom')) }) }),
    requests: [{ url: '/hello' }],
    check: (res) => {
      expect(res[0]).toEqual({ status: 500, headers: {}, body: 'error' })
    },
  },
  {
    name: 'a cost function that throws, or returns an invalid cost, goes to the error handler (500)',
    spec: () => ({
      global: perMinute(5, {
        cost: (_req, info) => {
          if (info.headers.get('x-bad') === 'throw') throw new Error('boom')
          return -1
        },
      }),
    }),
    requests: [{ url: '/hello', headers: { 'x-bad': 'throw' } }, { url: '/hello' }],
    check: (res) => {
      expect(statuses(res)).toEqual([500, 500])
    },
  },
  {
    name: 'a key function returning a non-string goes to the error handler (500)',
    spec: () => ({ global: perMinute(5, { key: () => 42 as unknown as string }) }),
    requests: [{ url: '/hello' }],
    check: (res) => {
      expect(statuses(res)).toEqual([500])
    },
  },
  {
    name: "store failure with onStoreError 'allow': admitted, no rate-limit figures",
    spec: () => ({ global: perMinute(1, { store: failingStore() }) }),
    requests: [{ url: '/hello' }, { url: '/hello' }],
    check: (res) => {
      expect(res).toEqual([
        { status: 200, headers: {}, body: 'hello' },
        { status: 200, headers: {}, body: 'hello' },
      ])
    },
  },
  {
    name: "store failure with onStoreError 'deny': 503, Retry-After 1, no store text in the body",
    spec: () => ({ global: perMinute(1, { store: failingStore(), onStoreError: 'deny' }) }),
    requests: [{ url: '/hello' }],
    check: (res) => {
      expect(res[0].status).toBe(503)
      expect(res[0].headers['retry-after']).toBe('1')
      expect(res[0].headers['content-type']).toBe('application/problem+json')
      expect(res[0].body).not.toMatch(/secret-host|refused/)
    },
  },
  {
    name: "store failure with onStoreError 'fallback': decided on the local store",
    spec: () => ({ global: perMinute(1, { store: failingStore(), onStoreError: 'fallback', fallback: new MemoryStore() }) }),
    requests: [{ url: '/hello' }, { url: '/hello' }],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 429])
      expect(remaining(res)).toEqual(['0', '0'])
    },
  },
  {
    name: 'custom statusCode and storeErrorStatus',
    spec: () => ({ global: perMinute(1, { statusCode: 503, headers: { legacy: false, standard: 'draft-7' } }) }),
    requests: [{ url: '/hello' }, { url: '/hello' }],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 503])
      expect(res[0].headers).toEqual({ ratelimit: 'limit=1, remaining=0, reset=60', 'ratelimit-policy': '1;w=60' })
      expect(res[1].headers['retry-after']).toBe('60')
    },
  },
  {
    name: 'spoofed X-Forwarded-For with trust proxy off: one bucket for the connection',
    spec: () => ({ global: perMinute(2) }),
    requests: [
      { url: '/hello', headers: { 'x-forwarded-for': '1.1.1.1' } },
      { url: '/hello', headers: { 'x-forwarded-for': '2.2.2.2' } },
      { url: '/hello', headers: { 'x-forwarded-for': '3.3.3.3, 4.4.4.4' } },
    ],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 200, 429])
    },
  },
  {
    name: 'IPv6 rotation inside one /56 shares a bucket; another /56 does not',
    spec: () => ({ global: perMinute(2) }),
    requests: [
      { url: '/hello', ip: '2001:db8:aa:bb01::1' },
      { url: '/hello', ip: '2001:db8:aa:bbff:ffff:ffff:ffff:ffff' },
      { url: '/hello', ip: '2001:0db8:00aa:bb42::3' },
      { url: '/hello', ip: '2001:db8:aa:cc00::1' },
    ],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 200, 429, 200])
    },
  },
  {
    name: 'ipv4-mapped-ipv6-shares-bucket (and IPv4 clients are never grouped as IPv6)',
    spec: () => ({ global: perMinute(2) }),
    requests: [
      { url: '/hello', ip: '203.0.113.7' },
      { url: '/hello', ip: '::ffff:203.0.113.7' },
      { url: '/hello', ip: '::ffff:203.0.113.7' },
      { url: '/hello', ip: '::ffff:203.0.113.8' },
      { url: '/hello', ip: '198.51.100.9' },
    ],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 200, 429, 200, 200])
      expect(remaining(res)).toEqual(['1', '0', '0', '1', '1'])
    },
  },
  {
    name: 'megabyte API keys get buckets of their own (hashed) and are never echoed',
    spec: () => ({ global: perMinute(1, { key: apiKey() }) }),
    requests: [
      { url: '/hello', headers: { 'x-api-key': MB } },
      { url: '/hello', headers: { 'x-api-key': MB } },
      { url: '/hello', headers: { 'x-api-key': `${MB}b` } },
    ],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 429, 200])
      for (const r of res) expect(JSON.stringify(r)).not.toContain('aaaaaaaa')
    },
  },
  {
    name: 'keys with CR/LF are never echoed into headers or bodies',
    spec: () => ({ global: perMinute(1, { key: (_req, info) => `user:${decodeURIComponent(info.path)}` }) }),
    requests: [{ url: '/users/a%0D%0ASet-Cookie:%20x=1' }, { url: '/users/a%0D%0ASet-Cookie:%20x=1' }],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 429])
      for (const r of res) expect(JSON.stringify(r)).not.toMatch(/Set-Cookie|x=1/i)
    },
  },
  {
    name: "a plan with countMode 'failure': only responses >= 400 stay charged",
    spec: () => ({
      global: perMinute(2, { plan: (info) => ({ key: ipKey(info.ip), countMode: 'failure' }) }),
    }),
    requests: [
      { url: '/hello' },
      { url: '/hello' },
      { url: '/hello' },
      { url: '/nope' },
      { url: '/hello' },
      { url: '/nope' },
      { url: '/hello' },
    ],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 200, 200, 404, 200, 404, 429])
      expect(remaining(res)).toEqual(['1', '1', '1', '1', '0', '0', '0'])
    },
  },
]

describeOnEveryFramework(scenarios, 'every framework answers identically')
