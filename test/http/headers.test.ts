import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ceilSeconds, headlineIndex, secondsUntilMoreQuota } from '../../src/http/headers.js'
import { createRateLimitHeaders, type HeaderOptions, rateLimitHeaders, retryAfterSeconds } from '../../src/http/index.js'
import { createPolicyListHeaders } from '../../src/http/policy-list-headers.js'
import { parseDictionary, parseItem, parseList, type SfMember, sfInteger, sfString } from '../../src/http/structured-fields.js'
import { createLimiter, type Decision, fixedWindow, type Policy, type PolicyResult, slidingWindow, tokenBucket } from '../../src/index.js'
import { throwingStore } from '../helpers/stores.js'

// 2026-06-23T05:20:00Z: a whole second, so epoch-second rounding is visible.
const AT = 1_782_192_000_000

function policy(over: Partial<PolicyResult> = {}): PolicyResult {
  return {
    name: 'per-minute',
    kind: 'fixed-window',
    layer: undefined,
    limit: 100,
    burst: 100,
    windowMs: 60_000,
    remaining: 50,
    resetAt: AT + 30_000,
    retryAfterMs: 0,
    violated: false,
    ...over,
  }
}

/** A decision whose headline is the first policy (or `over`), the way the limiter builds it. */
function decision(policies: PolicyResult[], over: Partial<Decision> = {}): Decision {
  const violated = policies.filter((p) => p.violated)
  const allowed = violated.length === 0
  const head = allowed
    ? policies.reduce((a, b) => (b.remaining < a.remaining ? b : a), policies[0])
    : violated.reduce((a, b) => (b.retryAfterMs > a.retryAfterMs ? b : a), violated[0])
  return {
    allowed,
    reason: allowed ? 'ok' : violated.some((p) => p.retryAfterMs === Number.POSITIVE_INFINITY) ? 'exceeds-capacity' : 'limited',
    key: 'sk_live_secret',
    cost: 1,
    limit: head?.limit ?? 0,
    remaining: head?.remaining ?? 0,
    resetAt: head?.resetAt ?? AT,
    retryAfterMs: allowed ? 0 : (head?.retryAfterMs ?? 0),
    policies,
    violated: violated.map((p) => p.name),
    at: AT,
    ...over,
  }
}

// ---------------------------------------------------------------------------------------------
// An independent, deliberately strict reader of the draft-10 fields, written from RFC 9651's ABNF
// rather than with the library's parser: sf-string names, `;key=integer` params, ", " separators.
const SF_STRING = String.raw`"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"`
const PARAM = String.raw`;[a-z*][a-z0-9_.*-]*=-?\d{1,15}`
const MEMBER = `${SF_STRING}(?:${PARAM})*`
const LIST = new RegExp(`^${MEMBER}(?:, ${MEMBER})*$`)

interface StrictMember {
  name: string
  params: Record<string, number>
}
function strictList(field: string): StrictMember[] {
  expect(field, `not a strict sf-list: ${field}`).toMatch(LIST)
  const out: StrictMember[] = []
  const member = new RegExp(`(${SF_STRING})((?:${PARAM})*)`, 'g')
  for (const m of field.matchAll(member)) {
    const name = m[1].slice(1, -1).replace(/\\(["\\])/g, '$1')
    const params: Record<string, number> = {}
    for (const p of m[2].matchAll(/;([a-z*][a-z0-9_.*-]*)=(-?\d+)/g)) {
      expect(Object.hasOwn(params, p[1]), `duplicate parameter ${p[1]}`).toBe(false)
      params[p[1]] = Number(p[2])
    }
    out.push({ name, params })
  }
  return out
}

/** Both readers must agree: the library's RFC 9651 parser and the regex one above. */
function readDraft10(headers: Record<string, string>): { policy: StrictMember[]; state: StrictMember[] } {
  const policy = strictList(headers['RateLimit-Policy'])
  const state = strictList(headers.RateLimit)
  const viaParser = (field: string): StrictMember[] =>
    parseList(field).map((m: SfMember) => {
      if (m.kind !== 'item' || m.value.type !== 'string') throw new Error('member is not an sf-string item')
      const params: Record<string, number> = {}
      for (const [k, v] of m.params) {
        if (v.type !== 'integer') throw new Error(`parameter ${k} is not an integer`)
        params[k] = v.value
      }
      return { name: m.value.value, params }
    })
  expect(viaParser(headers['RateLimit-Policy'])).toEqual(policy)
  expect(viaParser(headers.RateLimit)).toEqual(state)
  return { policy, state }
}

/** A random policy of each kind with small limits (the property tests' policies). */
const randomPolicy = fc.oneof(
  fc
    .record({
      limit: fc.integer({ min: 1, max: 20 }),
      window: fc.integer({ min: 1, max: 120_000 }),
      extra: fc.integer({ min: 0, max: 10 }),
    })
    .map(({ limit, window, extra }) => tokenBucket({ limit, window, burst: limit + extra })),
  fc
    .record({ limit: fc.integer({ min: 1, max: 20 }), window: fc.integer({ min: 1, max: 120_000 }) })
    .map(({ limit, window }) => fixedWindow({ limit, window })),
  fc
    .record({ limit: fc.integer({ min: 1, max: 20 }), window: fc.integer({ min: 10, max: 120_000 }) })
    .map(({ limit, window }) => slidingWindow({ limit, window })),
)

describe('rateLimitHeaders: defaults (X-RateLimit-* + draft-10)', () => {
  it('renders one fixed window', () => {
    const d = decision([policy()], { tier: 'public_key' })
    expect(rateLimitHeaders(d)).toEqual({
      'X-RateLimit-Limit': '100',
      'X-RateLimit-Remaining': '50',
      'X-RateLimit-Reset': '1782192030',
      'X-RateLimit-Tier': 'public_key',
      'RateLimit-Policy': '"per-minute";q=100;w=60',
      RateLimit: '"per-minute";r=50;t=30',
    })
  })

  it('lists every policy in the IETF fields, in decision order, with layers', () => {
    const d = decision([
      policy({ name: 'read', kind: 'token-bucket', limit: 1000, burst: 1000, remaining: 994, resetAt: AT + 360 }),
      policy({ name: 'per-day', limit: 10_000, burst: 10_000, windowMs: 86_400_000, remaining: 9_000, resetAt: AT + 36_000_000 }),
      policy({ name: 'team-ceiling', layer: 'team', kind: 'token-bucket', limit: 5000, burst: 5000, remaining: 4980, resetAt: AT + 240 }),
    ])
    const h = rateLimitHeaders(d)
    expect(h['RateLimit-Policy']).toBe('"read";q=1000;w=60, "per-day";q=10000;w=86400, "team-ceiling";q=5000;w=60')
    expect(h.RateLimit).toBe('"read";r=994;t=1, "per-day";r=9000;t=36000, "team-ceiling";r=4980;t=1')
    const { policy: pol, state } = readDraft10(h)
    expect(pol.map((p) => p.name)).toEqual(['read', 'per-day', 'team-ceiling'])
    expect(state.map((p) => p.params.r)).toEqual([994, 9000, 4980])
    // The headline is the policy with the fewest remaining.
    expect(h['X-RateLimit-Limit']).toBe('1000')
    expect(h['X-RateLimit-Remaining']).toBe('994')
  })

  it('adds Retry-After (seconds, rounded up) on a denial and keeps every header', () => {
    const d = decision([
      policy({ name: 'write', kind: 'token-bucket', remaining: 0, resetAt: AT + 60_000, retryAfterMs: 11_200, violated: true }),
      policy({ name: 'per-day', limit: 10_000, burst: 10_000, windowMs: 86_400_000, remaining: 9_000, resetAt: AT + 36_000_000 }),
    ])
    const h = rateLimitHeaders(d)
    expect(h).toEqual({
      'X-RateLimit-Limit': '100',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': '1782192060',
      'RateLimit-Policy': '"write";q=100;w=60, "per-day";q=10000;w=86400',
      RateLimit: '"write";r=0;t=12, "per-day";r=9000;t=36000',
      'Retry-After': '12',
    })
  })

  it('uses canonical header names and only string values', () => {
    const h = rateLimitHeaders(decision([policy({ remaining: 0, retryAfterMs: 5000, violated: true })]))
    for (const [name, value] of Object.entries(h)) {
      expect(typeof value).toBe('string')
      expect(name).toMatch(/^[A-Za-z-]+$/)
    }
  })
})

describe('rateLimitHeaders: dialects', () => {
  const d = decision([
    policy({ name: 'per-day', limit: 10_000, burst: 10_000, windowMs: 86_400_000, remaining: 9_000, resetAt: AT + 36_000_000 }),
    policy({ name: 'per-minute', remaining: 50, resetAt: AT + 4_500 }),
  ])

  it('draft-7: RateLimit dictionary of the headline + RateLimit-Policy, headline first', () => {
    const h = rateLimitHeaders(d, { standard: 'draft-7' })
    expect(h).toEqual({
      'X-RateLimit-Limit': '100',
      'X-RateLimit-Remaining': '50',
      'X-RateLimit-Reset': '1782192005',
      RateLimit: 'limit=100, remaining=50, reset=5',
      'RateLimit-Policy': '100;w=60, 10000;w=86400',
    })
    const dict = parseDictionary(h.RateLimit)
    expect([...dict.keys()]).toEqual(['limit', 'remaining', 'reset'])
    for (const m of dict.values()) expect(m.kind === 'item' && m.value.type).toBe('integer')
    const list = parseList(h['RateLimit-Policy'])
    expect(list.map((m) => m.kind === 'item' && m.value.value)).toEqual([100, 10000])
  })

  it('draft-6: RateLimit-Limit/-Remaining/-Reset (delta seconds) + RateLimit-Policy', () => {
    expect(rateLimitHeaders(d, { standard: 'draft-6', legacy: false })).toEqual({
      'RateLimit-Limit': '100',
      'RateLimit-Remaining': '50',
      'RateLimit-Reset': '5',
      'RateLimit-Policy': '100;w=60, 10000;w=86400',
    })
  })

  it('each set can be turned off on its own', () => {
    expect(Object.keys(rateLimitHeaders(d, { legacy: false }))).toEqual(['RateLimit-Policy', 'RateLimit'])
    expect(Object.keys(rateLimitHeaders(d, { standard: false }))).toEqual([
      'X-RateLimit-Limit',
      'X-RateLimit-Remaining',
      'X-RateLimit-Reset',
    ])
    expect(rateLimitHeaders(d, { legacy: false, standard: false })).toEqual({})
    // Retry-After is not a dialect: a denial always carries it.
    const denied = decision([policy({ remaining: 0, retryAfterMs: 2500, violated: true })])
    expect(rateLimitHeaders(denied, { legacy: false, standard: false })).toEqual({ 'Retry-After': '3' })
  })

  it('createRateLimitHeaders returns a named renderer equal to the one-call form', () => {
    const render = createRateLimitHeaders({ standard: 'draft-7', tier: false })
    expect(render.name).toBe('renderRateLimitHeaders')
    expect(render(d)).toEqual(rateLimitHeaders(d, { standard: 'draft-7', tier: false }))
  })
})

describe('headlineIndex', () => {
  it('finds the policy behind the headline figures: fewest remaining, or the violated one with the longest wait', () => {
    const a = policy({ name: 'a', remaining: 5 })
    const b = policy({ name: 'b', remaining: 2 })
    expect(headlineIndex(decision([a, b]))).toBe(1)
    const c = policy({ name: 'c', remaining: 0, retryAfterMs: 100, violated: true })
    const e = policy({ name: 'e', remaining: 0, retryAfterMs: 9000, violated: true, resetAt: AT + 9000 })
    expect(headlineIndex(decision([a, c, e]))).toBe(2)
    // Identical figures on an unviolated policy do not win over the violated one.
    const twin = policy({ name: 'twin', remaining: 0, resetAt: AT + 9000 })
    expect(headlineIndex(decision([twin, e]))).toBe(1)
    expect(rateLimitHeaders(decision([twin, e]), { standard: 'draft-7' })['RateLimit-Policy']).toBe('100;w=60, 100;w=60')
  })
})

describe('rounding: seconds always rounded up', () => {
  it.each([
    [1, 1],
    [999, 1],
    [1000, 1],
    [1001, 2],
    [59_001, 60],
    [60_000, 60],
  ])('Retry-After for retryAfterMs %i is %i', (ms, s) => {
    const d = decision([policy({ remaining: 0, retryAfterMs: ms, violated: true })])
    expect(rateLimitHeaders(d)['Retry-After']).toBe(String(s))
    expect(retryAfterSeconds(d)).toBe(s)
  })

  it('ceilSeconds', () => {
    expect([0, -5, 1, 1000, 1001, 2000, 2001].map(ceilSeconds)).toEqual([0, 0, 1, 1, 2, 2, 3])
  })

  it('X-RateLimit-Reset is epoch seconds rounded up; draft resets are delta seconds rounded up', () => {
    const exact = decision([policy({ resetAt: AT + 30_000 })])
    const over = decision([policy({ resetAt: AT + 30_001 })])
    expect(rateLimitHeaders(exact)['X-RateLimit-Reset']).toBe('1782192030')
    expect(rateLimitHeaders(over)['X-RateLimit-Reset']).toBe('1782192031')
    expect(rateLimitHeaders(over, { standard: 'draft-6' })['RateLimit-Reset']).toBe('31')
    expect(rateLimitHeaders(over, { standard: 'draft-7' }).RateLimit).toBe('limit=100, remaining=50, reset=31')
    // A decision made mid-second: the delta is measured from the decision's own time.
    const mid = decision([policy({ resetAt: AT + 1_500 })], { at: AT + 400 })
    expect(rateLimitHeaders(mid, { standard: 'draft-6' })['RateLimit-Reset']).toBe('2')
    expect(rateLimitHeaders(mid)['X-RateLimit-Reset']).toBe('1782192002')
  })

  it('w is the window in seconds rounded up, at least 1', () => {
    const d = decision([
      policy({ name: 'a', windowMs: 1500 }),
      policy({ name: 'b', windowMs: 500 }),
      policy({ name: 'c', windowMs: 30 * 86_400_000 }),
    ])
    expect(rateLimitHeaders(d)['RateLimit-Policy']).toBe('"a";q=100;w=2, "b";q=100;w=1, "c";q=100;w=2592000')
  })
})

describe('remaining is never negative', () => {
  it('clamps a negative remaining in every dialect', () => {
    const d = decision([policy({ remaining: -3, retryAfterMs: 1000, violated: true })])
    expect(rateLimitHeaders(d)['X-RateLimit-Remaining']).toBe('0')
    expect(rateLimitHeaders(d).RateLimit).toBe('"per-minute";r=0;t=1')
    expect(rateLimitHeaders(d, { standard: 'draft-6' })['RateLimit-Remaining']).toBe('0')
    expect(rateLimitHeaders(d, { standard: 'draft-7' }).RateLimit).toBe('limit=100, remaining=0, reset=30')
  })

  it('a token bucket may report remaining above limit (burst > limit)', () => {
    const d = decision([policy({ kind: 'token-bucket', limit: 100, burst: 150, remaining: 149, resetAt: AT + 600 })])
    const h = rateLimitHeaders(d)
    expect(h['X-RateLimit-Limit']).toBe('100')
    expect(h['X-RateLimit-Remaining']).toBe('149')
    expect(h['RateLimit-Policy']).toBe('"per-minute";q=100;w=60')
    expect(h.RateLimit).toBe('"per-minute";r=149;t=1')
  })
})

describe('draft-10 t: seconds until more quota', () => {
  it('is omitted when the policy is at its full allowance', () => {
    expect(secondsUntilMoreQuota(policy({ remaining: 100 }), AT)).toBeUndefined()
    expect(secondsUntilMoreQuota(policy({ kind: 'token-bucket', burst: 150, remaining: 150, resetAt: AT }), AT)).toBeUndefined()
    expect(secondsUntilMoreQuota(policy({ kind: 'sliding-window', remaining: 100, resetAt: AT }), AT)).toBeUndefined()
    // limit 0: there never is any quota to wait for.
    expect(secondsUntilMoreQuota(policy({ kind: 'token-bucket', limit: 0, burst: 0, remaining: 0 }), AT)).toBeUndefined()
    const full = decision([policy({ remaining: 100 })])
    expect(rateLimitHeaders(full).RateLimit).toBe('"per-minute";r=100')
  })

  it('fixed window: seconds to the window end', () => {
    expect(secondsUntilMoreQuota(policy({ remaining: 3, resetAt: AT + 12_345 }), AT)).toBe(13)
  })

  it('sliding window: seconds to resetAt (an upper bound)', () => {
    expect(secondsUntilMoreQuota(policy({ kind: 'sliding-window', remaining: 3, resetAt: AT + 9_000 }), AT)).toBe(9)
  })

  it('token bucket: until the next whole token, not until full', () => {
    // 100/min (one token per 600 ms), burst 150; 10 tokens missing -> full in 6000 ms; next token in 600 ms.
    const p = policy({ kind: 'token-bucket', limit: 100, burst: 150, remaining: 140, resetAt: AT + 6_000 })
    expect(secondsUntilMoreQuota(p, AT)).toBe(1)
    // 1 per 10 s, burst 5, 2 remaining, full in 25 s: next token in 25 - 2 x 10 = 5 s.
    const slow = policy({ kind: 'token-bucket', limit: 1, burst: 5, windowMs: 10_000, remaining: 2, resetAt: AT + 25_000 })
    expect(secondsUntilMoreQuota(slow, AT)).toBe(5)
  })

  it('a violated policy: its own retry time, so Retry-After (the max) is never earlier than any violated t', () => {
    const d = decision([
      policy({
        name: 'per-second',
        kind: 'token-bucket',
        limit: 10,
        burst: 20,
        windowMs: 1000,
        remaining: 0,
        resetAt: AT + 2_000,
        retryAfterMs: 100,
        violated: true,
      }),
      policy({ name: 'per-minute', remaining: 0, resetAt: AT + 42_001, retryAfterMs: 42_001, violated: true }),
    ])
    const h = rateLimitHeaders(d)
    expect(h.RateLimit).toBe('"per-second";r=0;t=1, "per-minute";r=0;t=43')
    expect(h['Retry-After']).toBe('43')
  })

  it('a policy that can never admit this cost still reports when its own quota grows', () => {
    const p = policy({ remaining: 3, resetAt: AT + 7_000, retryAfterMs: Number.POSITIVE_INFINITY, violated: true })
    expect(secondsUntilMoreQuota(p, AT)).toBe(7)
  })
})

describe('special decisions', () => {
  it('exceeds-capacity: headers as usual, but no Retry-After (a client must not retry)', () => {
    const d = decision([policy({ remaining: 20, retryAfterMs: Number.POSITIVE_INFINITY, violated: true })], { cost: 500 })
    expect(d.reason).toBe('exceeds-capacity')
    const h = rateLimitHeaders(d)
    expect(h['Retry-After']).toBeUndefined()
    expect(h['X-RateLimit-Remaining']).toBe('20')
    expect(h.RateLimit).toBe('"per-minute";r=20;t=30')
    expect(retryAfterSeconds(d)).toBeUndefined()
  })

  it('store-error: no rate-limit headers; Retry-After: 1 only when it denied', () => {
    const base = { reason: 'store-error' as const, limit: 0, remaining: 0, resetAt: AT, error: new Error('ECONNREFUSED 10.0.0.7:6379') }
    const allowed = decision([], { ...base, allowed: true, retryAfterMs: 0 })
    const denied = decision([], { ...base, allowed: false, retryAfterMs: 1000 })
    expect(rateLimitHeaders(allowed)).toEqual({})
    expect(rateLimitHeaders(denied)).toEqual({ 'Retry-After': '1' })
    expect(rateLimitHeaders(denied, { standard: 'draft-6' })).toEqual({ 'Retry-After': '1' })
  })

  it('dry-run: the request goes through, so no Retry-After', () => {
    const d = decision([policy({ remaining: 0, retryAfterMs: 3000, violated: true })], { dryRun: true })
    expect(d.allowed).toBe(false)
    expect(rateLimitHeaders(d)['Retry-After']).toBeUndefined()
    expect(rateLimitHeaders(d)['X-RateLimit-Remaining']).toBe('0')
  })
})

describe('X-RateLimit-Tier', () => {
  it('is sent only when the decision has a tier, and can be turned off', () => {
    expect(rateLimitHeaders(decision([policy()]))['X-RateLimit-Tier']).toBeUndefined()
    expect(rateLimitHeaders(decision([policy()], { tier: 'secret_key' }))['X-RateLimit-Tier']).toBe('secret_key')
    expect(rateLimitHeaders(decision([policy()], { tier: 'Free Plan' }))['X-RateLimit-Tier']).toBe('Free Plan')
    expect(rateLimitHeaders(decision([policy()], { tier: 'secret_key' }), { tier: false })['X-RateLimit-Tier']).toBeUndefined()
    // It belongs to the conventional set.
    expect(rateLimitHeaders(decision([policy()], { tier: 'secret_key' }), { legacy: false })['X-RateLimit-Tier']).toBeUndefined()
  })

  it.each([
    ['CRLF injection', 'pro\r\nSet-Cookie: a=b'],
    ['LF', 'pro\nx'],
    ['NUL', 'pro\u0000'],
    ['non-ASCII', 'prö'],
    ['empty', ''],
    ['leading space', ' pro'],
    ['trailing space', 'pro '],
    ['tab', 'pro\tx'],
    ['too long', 'x'.repeat(129)],
  ])('a tier with %s is never echoed', (_, tier) => {
    const h = rateLimitHeaders(decision([policy()], { tier }))
    expect(h['X-RateLimit-Tier']).toBeUndefined()
    for (const value of Object.values(h)) expect(value).not.toMatch(/[\r\n]/)
  })

  it('a tier of exactly 128 visible characters is sent', () => {
    const tier = 'x'.repeat(128)
    expect(rateLimitHeaders(decision([policy()], { tier }))['X-RateLimit-Tier']).toBe(tier)
  })
})

describe('option validation', () => {
  const cases: [string, unknown, string, string][] = [
    ['unknown option', { legacyHeaders: true }, 'ERR_RK_UNKNOWN_OPTION', 'legacyHeaders'],
    ['legacy true', { legacy: true }, 'ERR_RK_INVALID_OPTION', 'legacy'],
    ['legacy null', { legacy: null }, 'ERR_RK_INVALID_OPTION', 'legacy'],
    ['standard null', { standard: null }, 'ERR_RK_INVALID_OPTION', 'standard'],
    ['legacy other string', { legacy: 'x-rate-limit' }, 'ERR_RK_INVALID_OPTION', 'legacy'],
    ['standard draft-8', { standard: 'draft-8' }, 'ERR_RK_INVALID_OPTION', 'standard'],
    ['standard true', { standard: true }, 'ERR_RK_INVALID_OPTION', 'standard'],
    ['tier string', { tier: 'yes' }, 'ERR_RK_INVALID_OPTION', 'tier'],
    ['reason number', { reason: 1 }, 'ERR_RK_INVALID_OPTION', 'reason'],
    ['reason not a header name', { reason: 'Rate Limit: Reason' }, 'ERR_RK_INVALID_OPTION', 'reason'],
    ['reason empty', { reason: '' }, 'ERR_RK_INVALID_OPTION', 'reason'],
    ['reason taken by another header', { reason: 'retry-after' }, 'ERR_RK_INVALID_OPTION', 'reason'],
    ['options null', null, 'ERR_RK_INVALID_ARGUMENT', 'options'],
    ['options array', [], 'ERR_RK_INVALID_ARGUMENT', 'options'],
  ]
  it.each(cases)('%s', (_, options, code, option) => {
    const run = () => createRateLimitHeaders(options as HeaderOptions)
    expect(run).toThrow(expect.objectContaining({ code, option }))
    expect(() => rateLimitHeaders(decision([policy()]), options as HeaderOptions)).toThrow(expect.objectContaining({ code }))
  })

  it('names the function, the option and the value received', () => {
    expect(() => createRateLimitHeaders({ standard: 'draft-8' as never })).toThrow(
      `rateLimitHeaders(): "standard" must be 'draft-10', 'draft-7', 'draft-6' or false, received "draft-8"`,
    )
  })
})

describe('structured-field helpers', () => {
  it('sfString escapes quotes and backslashes and refuses non-printable text', () => {
    expect(sfString('a"b\\c')).toBe('"a\\"b\\\\c"')
    expect(() => sfString('a\r\nb')).toThrow(RangeError)
    expect(() => sfString('é')).toThrow(RangeError)
  })

  it('sfInteger allows 15 digits at most', () => {
    expect(sfInteger(-999_999_999_999_999)).toBe('-999999999999999')
    expect(() => sfInteger(1_000_000_000_000_000)).toThrow(RangeError)
    expect(() => sfInteger(1.5)).toThrow(RangeError)
  })

  it('parseList reads every bare item type, parameters and inner lists', () => {
    const list = parseList('"a";q=1;w=60, tok:en/x;f, (1 2);p=?0, -1.25, :aGk=:, ?1, @1659578233, %"f%c3%bc"')
    expect(list).toHaveLength(8)
    const first = list[0]
    expect(first.kind === 'item' && first.value).toEqual({ type: 'string', value: 'a' })
    expect([...first.params]).toEqual([
      ['q', { type: 'integer', value: 1 }],
      ['w', { type: 'integer', value: 60 }],
    ])
    expect(list[1].kind === 'item' && list[1].value).toEqual({ type: 'token', value: 'tok:en/x' })
    expect(list[1].params.get('f')).toEqual({ type: 'boolean', value: true })
    expect(list[2].kind).toBe('inner-list')
    expect(list[3].kind === 'item' && list[3].value).toEqual({ type: 'decimal', value: -1.25 })
    expect(list[4].kind === 'item' && list[4].value.type === 'binary' && [...list[4].value.value]).toEqual([104, 105])
    expect(list[5].kind === 'item' && list[5].value).toEqual({ type: 'boolean', value: true })
    expect(list[6].kind === 'item' && list[6].value).toEqual({ type: 'date', value: 1659578233 })
    expect(list[7].kind === 'item' && list[7].value).toEqual({ type: 'display-string', value: 'fü' })
    expect(parseList('')).toEqual([])
    expect(parseList('  1 ,\t2')).toHaveLength(2)
    expect(parseItem(' 42;x=1 ').value).toEqual({ type: 'integer', value: 42 })
  })

  it.each([
    ['trailing comma', '1, 2,'],
    ['missing comma', '1 2'],
    ['leading comma', ', 1'],
    ['uppercase key', '1;Q=2'],
    ['16-digit integer', '1234567890123456'],
    ['decimal with 4 fraction digits', '1.2345'],
    ['decimal without fraction', '1.'],
    ['unterminated string', '"abc'],
    ['bad escape', '"a\\nb"'],
    ['control character in string', '"a\tb"'],
    ['non-ASCII in string', '"é"'],
    ['bad boolean', '?2'],
    ['trailing garbage in params', '"a";q=1x'],
    ['bad base64', ':a*b:'],
    ['uppercase hex in display string', '%"%C3%BC"'],
    ['invalid UTF-8 in display string', '%"%ff"'],
  ])('parseList rejects %s', (_, input) => {
    expect(() => parseList(input)).toThrow(SyntaxError)
  })

  it('parseDictionary reads draft-7 style fields and keeps the last value of a repeated key', () => {
    const dict = parseDictionary('limit=100, remaining=50, reset=5, limit=7, flag')
    expect([...dict.keys()]).toEqual(['limit', 'remaining', 'reset', 'flag'])
    const limit = dict.get('limit')
    expect(limit?.kind === 'item' && limit.value.value).toBe(7)
    expect(() => parseDictionary('limit=100,')).toThrow(SyntaxError)
    expect(() => parseDictionary('Limit=100')).toThrow(SyntaxError)
  })
})

// ---------------------------------------------------------------------------------------------
// Against the real limiter, with an injected clock.

describe('with a real limiter', () => {
  it('reproduces the managed.dev example: a write bucket running dry', async () => {
    let now = 1_782_191_952_000
    const limiter = createLimiter({ now: () => now, policies: [tokenBucket({ name: 'write', limit: 100, window: '1m' })] })
    let d = await limiter.consume('mfk_live_1')
    expect(rateLimitHeaders(d, { standard: false })).toEqual({
      'X-RateLimit-Limit': '100',
      'X-RateLimit-Remaining': '99',
      'X-RateLimit-Reset': '1782191953',
    })
    for (let i = 0; i < 100; i++) d = await limiter.consume('mfk_live_1')
    expect(d.allowed).toBe(false)
    const h = rateLimitHeaders(d)
    expect(h['X-RateLimit-Remaining']).toBe('0')
    expect(h['Retry-After']).toBe('1')
    // One token per 600 ms: 60 s after the first request the bucket is full again.
    expect(h['X-RateLimit-Reset']).toBe('1782192012')
    expect(h.RateLimit).toBe('"write";r=0;t=1')
    now += 600
    expect((await limiter.consume('mfk_live_1')).allowed).toBe(true)
  })

  it('reproduces the skakio headers: per-minute + per-day + burst, with the tier', async () => {
    const now = 1_707_480_000_000
    const limiter = createLimiter({
      now: () => now,
      policies: [
        tokenBucket({ name: 'per-minute', limit: 100, window: '1m', burst: 150 }),
        fixedWindow({ name: 'per-day', limit: 10_000, window: '1d' }),
      ],
    })
    let d = await limiter.consume('pk_test_1', { tier: 'public_key' })
    for (let i = 0; i < 4; i++) d = await limiter.consume('pk_test_1', { tier: 'public_key' })
    const h = rateLimitHeaders(d)
    expect(h['X-RateLimit-Limit']).toBe('100')
    expect(h['X-RateLimit-Remaining']).toBe('145')
    expect(h['X-RateLimit-Tier']).toBe('public_key')
    expect(h['X-RateLimit-Reset']).toBe('1707480003')
    expect(h['RateLimit-Policy']).toBe('"per-minute";q=100;w=60, "per-day";q=10000;w=86400')
    expect(h.RateLimit).toBe('"per-minute";r=145;t=1, "per-day";r=9995;t=43200')
  })

  it('a store-error decision from a failing store gets no rate-limit headers', async () => {
    const failing = throwingStore()
    const policies = [fixedWindow({ limit: 10, window: '1m' })]
    const open = createLimiter({ store: failing as never, policies, onStoreError: 'allow' })
    const closed = createLimiter({ store: failing as never, policies, onStoreError: 'deny' })
    expect(rateLimitHeaders(await open.consume('k'))).toEqual({})
    expect(rateLimitHeaders(await closed.consume('k'))).toEqual({ 'Retry-After': '1' })
  })

  it('property: every header parses strictly; remaining >= 0; Retry-After covers every violated t and really is enough', async () => {
    const stepArb = fc.record({ advance: fc.integer({ min: 0, max: 5_000 }), cost: fc.integer({ min: 0, max: 25 }) })
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(randomPolicy, { minLength: 1, maxLength: 3, selector: (p: Policy) => p.name }),
        fc.array(stepArb, { minLength: 1, maxLength: 40 }),
        fc.constantFrom<HeaderOptions['standard']>('draft-10', 'draft-7', 'draft-6'),
        async (policies, steps, standard) => {
          let now = 1_700_000_000_123
          const limiter = createLimiter({ now: () => now, policies })
          for (const { advance, cost } of steps) {
            now += advance
            const d = await limiter.consume('k', { cost })
            const h = rateLimitHeaders(d)
            for (const value of Object.values(h)) expect(value).not.toMatch(/[\r\n]/)
            expect(Number(h['X-RateLimit-Remaining'])).toBeGreaterThanOrEqual(0)
            expect(Number(h['X-RateLimit-Reset']) * 1000).toBeGreaterThanOrEqual(d.resetAt)
            const { policy: pol, state } = readDraft10(h)
            expect(pol.map((p) => p.name)).toEqual(d.policies.map((p) => p.name))
            state.forEach((s) => {
              expect(s.params.r).toBeGreaterThanOrEqual(0)
              if (s.params.t !== undefined) expect(s.params.t).toBeGreaterThanOrEqual(1)
            })
            const other = rateLimitHeaders(d, { standard })
            if (standard === 'draft-7') expect(parseDictionary(other.RateLimit).size).toBe(3)
            else if (standard === 'draft-6') expect(Number(other['RateLimit-Remaining'])).toBeGreaterThanOrEqual(0)
            expect(parseList(other['RateLimit-Policy']).length).toBe(d.policies.length)

            const retry = h['Retry-After']
            if (d.reason === 'limited') {
              expect(retry).toMatch(/^[1-9]\d*$/)
              d.policies.forEach((p, i) => {
                if (p.violated) expect(Number(retry)).toBeGreaterThanOrEqual(state[i].params.t)
              })
              // A client that waits Retry-After seconds and retries the same request succeeds.
              const later = await limiter.peek('k', { cost })
              expect(later.allowed).toBe(false)
              now += Number(retry) * 1000
              expect((await limiter.peek('k', { cost })).allowed).toBe(true)
              now -= Number(retry) * 1000
            } else {
              expect(retry).toBeUndefined()
            }

            // t is honest: after t seconds the policy has more quota than now (or is full).
            for (let i = 0; i < d.policies.length; i++) {
              const t = state[i].params.t
              if (t === undefined || d.policies[i].violated) continue
              const before = d.policies[i].remaining
              now += t * 1000
              const after = (await limiter.peek('k', { cost: 0 })).policies[i].remaining
              now -= t * 1000
              expect(after).toBeGreaterThan(before)
            }
          }
        },
      ),
      { numRuns: 150 },
    )
  })
})

describe("createPolicyListHeaders (the HTTP layer's renderer for a known policy list)", () => {
  const policyArb = fc.oneof(randomPolicy, fc.constant(fixedWindow({ name: 'zero', limit: 0, window: '1m' })))
  const optionsArb = fc.record(
    {
      legacy: fc.constantFrom<HeaderOptions['legacy']>('x-ratelimit', false),
      standard: fc.constantFrom<HeaderOptions['standard']>('draft-10', 'draft-7', 'draft-6', false),
      tier: fc.boolean(),
      reason: fc.constantFrom<HeaderOptions['reason']>(false, true, 'X-RateLimit-Resource'),
    },
    { requiredKeys: [] },
  )
  const lowerCased = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]))

  it('property: renders exactly what createRateLimitHeaders renders, in the same order (one policy: from the headline only)', () => {
    fc.assert(
      fc.property(
        policyArb,
        fc.array(fc.record({ advance: fc.integer({ min: 0, max: 5_000 }), cost: fc.integer({ min: 0, max: 25 }) }), {
          minLength: 1,
          maxLength: 30,
        }),
        optionsArb,
        fc.boolean(),
        fc.option(fc.constantFrom('free', 'bad\ntier'), { nil: undefined }),
        (policy, steps, options, dryRun, tier) => {
          let now = 1_700_000_000_123
          const limiter = createLimiter({ now: () => now, policies: [policy], dryRun })
          const general = createRateLimitHeaders(options)
          const fast = createPolicyListHeaders(options, [policy])
          const lower = createPolicyListHeaders(options, [policy], 'lower')
          for (const { advance, cost } of steps) {
            now += advance
            const d = limiter.decide('k', { cost, tier }) as Decision
            const want = general(d)
            const got = fast(d)
            expect(got).toEqual(want)
            expect(Object.keys(got)).toEqual(Object.keys(want))
            expect(lower(d)).toEqual(lowerCased(want))
            expect(Object.keys(lower(d))).toEqual(Object.keys(lowerCased(want)))
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('several policies, store errors and decisions on other policies go the general way', () => {
    const a = fixedWindow({ name: 'a', limit: 5, window: '1m' })
    const b = tokenBucket({ name: 'b', limit: 50, window: '1h' })
    const limiter = createLimiter({ now: () => AT, policies: [a, b] })
    const two = limiter.decide('k') as Decision
    expect(createPolicyListHeaders(undefined, [a, b])(two)).toEqual(rateLimitHeaders(two))
    // A renderer for `b` alone handed a decision on [a, b]: the headline limit tells it apart.
    expect(createPolicyListHeaders(undefined, [b])(two)).toEqual(rateLimitHeaders(two))
    const failing = createLimiter({ store: throwingStore() as never, policies: [a], onStoreError: 'deny' })
    const error = failing.decide('k') as Decision
    expect(createPolicyListHeaders(undefined, [a])(error)).toEqual({ 'Retry-After': '1' })
    expect(createPolicyListHeaders(undefined, [a], 'lower')(error)).toEqual({ 'retry-after': '1' })
  })
})

describe('the reason header (headers.reason)', () => {
  const minute = policy({ name: 'per-minute', remaining: 50 })
  const hour = policy({ name: 'per-hour', limit: 1000, burst: 1000, windowMs: 3_600_000, remaining: 10 })

  it('names the headline policy: the fewest remaining when admitted, the longest wait when denied', () => {
    expect(rateLimitHeaders(decision([minute, hour]), { reason: true })['RateLimit-Reason']).toBe('"per-hour"')
    const denied = decision([
      policy({ name: 'per-minute', remaining: 0, violated: true, retryAfterMs: 3_000 }),
      policy({ name: 'per-hour', remaining: 0, violated: true, retryAfterMs: 9_000, resetAt: AT + 9_000 }),
    ])
    expect(rateLimitHeaders(denied, { reason: true })['RateLimit-Reason']).toBe('"per-hour"')
  })

  it('takes a name of your choice, is off by default, and never names a shadow policy', () => {
    expect(rateLimitHeaders(decision([minute]), { reason: 'X-RateLimit-Resource' })['X-RateLimit-Resource']).toBe('"per-minute"')
    expect(Object.keys(rateLimitHeaders(decision([minute])))).not.toContain('RateLimit-Reason')
    const shadow = policy({ name: 'new', remaining: 0, retryAfterMs: 5_000, shadow: true })
    const d = decision([minute, shadow], { limit: minute.limit, remaining: minute.remaining, resetAt: minute.resetAt, allowed: true })
    const h = rateLimitHeaders(d, { reason: true })
    expect(h['RateLimit-Reason']).toBe('"per-minute"')
    expect(JSON.stringify(h)).not.toContain('new')
  })

  it('is spelled in lower case by a lower-case renderer', () => {
    const p = fixedWindow({ name: 'per-minute', limit: 5, window: '1m' })
    const limiter = createLimiter({ policies: [p], now: () => AT })
    const d = limiter.decide('k') as Decision
    expect(createPolicyListHeaders({ reason: 'X-Why' }, [p], 'lower')(d)['x-why']).toBe('"per-minute"')
  })
})
