// Allow and deny lists on every framework: a deny-listed client gets a 403 problem body (or the
// configured answer) with no rate-limit headers and is charged nothing; an allow-listed one passes
// with no headers, uncharged; every framework answers byte for byte alike.
import { expect } from 'vitest'
import { apiKey } from '../../src/http/keys.js'
import { tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'
import { describeOnEveryFramework, type LimitOptions, type Res, type Scenario, withoutRequestId } from './harness.js'

const T0 = 1_700_000_000_000

function perMinute(limit: number, extra: Partial<LimitOptions> = {}): LimitOptions {
  return { policies: [tokenBucket({ name: 'per-minute', limit, window: '1m' })], now: clock(T0).now, ...extra }
}

const statuses = (res: Res[]) => res.map((r) => r.status)
const remaining = (res: Res[]) => res.map((r) => r.headers['x-ratelimit-remaining'])
const FORBIDDEN = {
  type: 'about:blank',
  title: 'Forbidden',
  status: 403,
  detail: 'This client may not use this service.',
}

const scenarios: Scenario[] = [
  {
    name: 'deny by address and CIDR range (IPv4, IPv4-mapped, IPv6): 403 problem, no headers, nothing charged',
    spec: () => ({ global: perMinute(1, { deny: ['203.0.113.0/24', '2001:db8::/32'] }) }),
    requests: [
      { url: '/hello', ip: '203.0.113.5' },
      { url: '/hello', ip: '::ffff:203.0.113.6' },
      { url: '/hello', ip: '2001:db8::1' },
      { url: '/hello', ip: '203.0.113.5' },
      { url: '/hello' },
      { url: '/hello' },
    ],
    check: (res) => {
      expect(statuses(res)).toEqual([403, 403, 403, 403, 200, 429])
      for (const r of res.slice(0, 4)) {
        expect(r.headers).toEqual({ 'content-type': 'application/problem+json' })
        expect(JSON.parse(withoutRequestId(r.body))).toEqual(FORBIDDEN)
      }
      expect(remaining(res).slice(4)).toEqual(['0', '0'])
    },
  },
  {
    name: 'deny by key, with a configured status and body',
    spec: () => ({
      global: perMinute(1, {
        key: apiKey(),
        deny: { keys: ['key:sk_revoked'] },
        denied: { status: 401, body: (_req, c) => ({ error: 'revoked', listed: c.listed }) },
      }),
    }),
    requests: [
      { url: '/hello', headers: { 'x-api-key': 'sk_revoked' } },
      { url: '/hello', headers: { 'x-api-key': 'sk_revoked' } },
      { url: '/hello', headers: { 'x-api-key': 'sk_ok' } },
      { url: '/hello', headers: { 'x-api-key': 'sk_ok' } },
    ],
    check: (res) => {
      expect(statuses(res)).toEqual([401, 401, 200, 429])
      expect(res[0].headers).toEqual({})
      expect(JSON.parse(res[0].body)).toEqual({ error: 'revoked', listed: 'key' })
    },
  },
  {
    name: 'deny by an async match function',
    spec: () => ({ global: perMinute(5, { deny: { match: async (subject, kind) => kind === 'ip' && subject === '192.0.2.66' } }) }),
    requests: [{ url: '/hello', ip: '192.0.2.66' }, { url: '/hello', ip: '::ffff:192.0.2.66' }, { url: '/hello' }],
    check: (res) => {
      expect(statuses(res)).toEqual([403, 403, 200])
      expect(remaining(res)[2]).toBe('4')
    },
  },
  {
    name: 'allow by address and by key: no headers, nothing charged; others limited',
    spec: () => ({ global: perMinute(1, { key: apiKey(), allow: { ips: ['10.0.0.0/8'], keys: ['key:sk_vip'] } }) }),
    requests: [
      { url: '/hello', headers: { 'x-api-key': 'sk_vip' } },
      { url: '/hello', headers: { 'x-api-key': 'sk_vip' } },
      { url: '/hello', ip: '10.1.2.3' },
      { url: '/hello', ip: '::ffff:10.1.2.3' },
      { url: '/hello' },
      { url: '/hello' },
    ],
    check: (res) => {
      expect(statuses(res)).toEqual([200, 200, 200, 200, 200, 429])
      expect(remaining(res)).toEqual([undefined, undefined, undefined, undefined, '0', '0'])
    },
  },
  {
    name: 'deny wins over allow',
    spec: () => ({ global: perMinute(5, { allow: ['10.0.0.0/8'], deny: ['10.9.0.0/16'] }) }),
    requests: [
      { url: '/hello', ip: '10.9.0.1' },
      { url: '/hello', ip: '10.1.0.1' },
    ],
    check: (res) => {
      expect(statuses(res)).toEqual([403, 200])
      expect(remaining(res)).toEqual([undefined, undefined])
    },
  },
]

describeOnEveryFramework(scenarios, 'every framework answers allow and deny lists identically')
