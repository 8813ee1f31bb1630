// Safe rollout over HTTP, on every framework: a shadow policy never denies and never shows in
// headers or 429 bodies; the optional reason header names the binding policy; the 429 problem
// body carries the draft's problem type and `violated-policies`.
import { expect } from 'vitest'
import { QUOTA_EXCEEDED_TYPE } from '../../src/http/index.js'
import { fixedWindow, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'
import { describeOnEveryFramework, type Res, type Scenario } from './harness.js'

const T0 = 1_700_000_000_000

const statuses = (res: Res[]) => res.map((r) => r.status)
/** Every header and body byte a client sees, to search for a name. */
const seen = (res: Res[]) => res.map((r) => JSON.stringify(r.headers) + r.body).join('\n')

const scenarios: Scenario[] = [
  {
    name: 'a shadow policy never denies and never appears in headers or bodies',
    spec: () => ({
      global: {
        policies: [
          tokenBucket({ name: 'per-minute', limit: 3, window: '1m' }),
          fixedWindow({ name: 'new-hourly', limit: 1, window: '1h', shadow: true }),
        ],
        now: clock(T0).now,
      },
    }),
    requests: [{ url: '/hello' }, { url: '/hello' }, { url: '/hello' }, { url: '/hello' }],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 200, 200, 429])
      expect(res.map((r) => r.headers['x-ratelimit-remaining'])).toEqual(['2', '1', '0', '0'])
      expect(res[1].headers['x-ratelimit-limit']).toBe('3')
      expect(res[1].headers['ratelimit-policy']).toBe('"per-minute";q=3;w=60')
      expect(res[1].headers.ratelimit).toMatch(/^"per-minute";r=1;t=\d+$/)
      expect(JSON.parse(res[3].body)['violated-policies']).toEqual(['per-minute'])
      expect(seen(res)).not.toContain('new-hourly')
    },
  },
  {
    name: 'a limit of shadow policies alone admits everything and sends no rate-limit headers',
    spec: () => ({
      global: { policies: [fixedWindow({ name: 'new-hourly', limit: 1, window: '1h', shadow: true })], now: clock(T0).now },
    }),
    requests: [{ url: '/hello' }, { url: '/hello' }, { url: '/hello' }],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 200, 200])
      for (const r of res) expect(r.headers).toEqual({})
    },
  },
  {
    name: 'the reason header names the binding policy, never a shadow one',
    spec: () => ({
      global: {
        policies: [
          tokenBucket({ name: 'per-second', limit: 2, window: '1s' }),
          fixedWindow({ name: 'per-hour', limit: 100, window: '1h' }),
          fixedWindow({ name: 'new-minute', limit: 1, window: '1m', shadow: true }),
        ],
        now: clock(T0).now,
        headers: { reason: true },
      },
    }),
    requests: [{ url: '/hello' }, { url: '/hello' }, { url: '/hello' }],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 200, 429])
      expect(res.map((r) => r.headers['ratelimit-reason'])).toEqual(['"per-second"', '"per-second"', '"per-second"'])
      expect(seen(res)).not.toContain('new-minute')
    },
  },
  {
    name: 'the 429 problem body carries the quota-exceeded type and the violated policies',
    spec: () => ({
      global: {
        policies: [fixedWindow({ name: 'per-minute', limit: 1, window: '1m' }), fixedWindow({ name: 'per-day', limit: 1, window: '1d' })],
        now: clock(T0).now,
      },
    }),
    requests: [{ url: '/hello' }, { url: '/hello' }],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 429])
      expect(res[1].headers['content-type']).toBe('application/problem+json')
      const body = JSON.parse(res[1].body)
      expect(body).toMatchObject({
        type: QUOTA_EXCEEDED_TYPE,
        title: expect.any(String),
        status: 429,
        'violated-policies': ['per-minute', 'per-day'],
      })
      expect(QUOTA_EXCEEDED_TYPE).toBe('https://iana.org/assignments/http-problem-types#quota-exceeded')
      expect(body['retry-after']).toBe(Number(res[1].headers['retry-after']))
    },
  },
]

describeOnEveryFramework(scenarios, 'every framework answers shadow rollouts identically')
