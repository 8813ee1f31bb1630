import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { denialMessage } from '../../src/http/bodies.js'
import {
  type BodyOptions,
  createLimitedBody,
  limitedBody,
  QUOTA_EXCEEDED_TYPE,
  retryAfterSeconds,
  type UpstreamLimitedOptions,
  upstreamLimitedBody,
} from '../../src/http/index.js'
import { createLimiter, type Decision, fixedWindow, type PolicyResult, tokenBucket } from '../../src/index.js'

const AT = 1_782_192_000_000
const KEY = 'sk_live_SECRET_KEY_123'

function policy(over: Partial<PolicyResult> = {}): PolicyResult {
  return {
    name: 'per-minute',
    kind: 'token-bucket',
    layer: undefined,
    limit: 100,
    burst: 100,
    windowMs: 60_000,
    remaining: 0,
    resetAt: AT + 60_000,
    retryAfterMs: 12_000,
    violated: true,
    ...over,
  }
}

function decision(policies: PolicyResult[], over: Partial<Decision> = {}): Decision {
  const violated = policies.filter((p) => p.violated)
  const head = violated.reduce((a, b) => (b.retryAfterMs > a.retryAfterMs ? b : a), violated[0] ?? policies[0])
  return {
    allowed: violated.length === 0,
    reason: violated.length === 0 ? 'ok' : violated.some((p) => !Number.isFinite(p.retryAfterMs)) ? 'exceeds-capacity' : 'limited',
    key: KEY,
    cost: 1,
    limit: head?.limit ?? 0,
    remaining: head?.remaining ?? 0,
    resetAt: head?.resetAt ?? AT,
    retryAfterMs: violated.length === 0 ? 0 : (head?.retryAfterMs ?? 0),
    policies,
    violated: violated.map((p) => p.name),
    at: AT,
    ...over,
  }
}

const limited = decision([policy()])
const never = decision([policy({ remaining: 40, burst: 150, retryAfterMs: Number.POSITIVE_INFINITY })], { cost: 500 })
const storeError = decision([], {
  allowed: false,
  reason: 'store-error',
  retryAfterMs: 1000,
  error: new Error('connect ECONNREFUSED 10.1.2.3:6379 password=hunter2'),
})

describe('problem details (the default, RFC 9457)', () => {
  it('renders the quota-exceeded problem with violated policies and retry-after', () => {
    const out = limitedBody(limited)
    expect(out.status).toBe(429)
    expect(out.contentType).toBe('application/problem+json')
    expect(out.body).toBe(
      '{"type":"https://iana.org/assignments/http-problem-types#quota-exceeded",' +
        '"title":"Request cannot be satisfied as assigned quota has been exceeded","status":429,' +
        '"detail":"Rate limit exceeded (policy \\"per-minute\\"); retry after 12 seconds.",' +
        '"violated-policies":["per-minute"],"retry-after":12}',
    )
  })

  it('adds instance and the request id when known', () => {
    const body = JSON.parse(limitedBody(limited, { requestId: 'req_01J9F2KQ', instance: '/v1/jobs' }).body)
    expect(body).toEqual({
      type: QUOTA_EXCEEDED_TYPE,
      title: 'Request cannot be satisfied as assigned quota has been exceeded',
      status: 429,
      detail: 'Rate limit exceeded (policy "per-minute"); retry after 12 seconds.',
      instance: '/v1/jobs',
      'violated-policies': ['per-minute'],
      'retry-after': 12,
      'request-id': 'req_01J9F2KQ',
    })
  })

  it('names several violated policies and uses the longest wait', () => {
    const d = decision([policy({ name: 'burst', retryAfterMs: 400 }), policy({ name: 'per-day', retryAfterMs: 3_600_001 })])
    const body = JSON.parse(limitedBody(d).body)
    expect(body['violated-policies']).toEqual(['burst', 'per-day'])
    expect(body['retry-after']).toBe(3601)
    expect(body.detail).toBe('Rate limit exceeded (policies "burst", "per-day"); retry after 3601 seconds.')
  })

  it('rounds retry-after up and says "1 second" in the singular', () => {
    const d = decision([policy({ retryAfterMs: 1 })])
    const body = JSON.parse(limitedBody(d).body)
    expect(body['retry-after']).toBe(1)
    expect(body.detail).toBe('Rate limit exceeded (policy "per-minute"); retry after 1 second.')
    expect(JSON.parse(limitedBody(decision([policy({ retryAfterMs: 1001 })])).body)['retry-after']).toBe(2)
  })

  it('exceeds-capacity: says why and gives no retry-after', () => {
    const body = JSON.parse(limitedBody(never).body)
    expect(body['retry-after']).toBeUndefined()
    expect(body['violated-policies']).toEqual(['per-minute'])
    expect(body.detail).toBe(
      'Rate limit exceeded: this request costs 500, more than policy "per-minute" can ever admit (150); do not retry it unchanged.',
    )
    const zero = decision([policy({ limit: 0, burst: 0, retryAfterMs: Number.POSITIVE_INFINITY })])
    expect(JSON.parse(limitedBody(zero).body).detail).toBe('Rate limit exceeded: policy "per-minute" admits no requests; do not retry.')
  })
})

describe('one renderer over many denials (it remembers the last body up to its request id)', () => {
  /** The problem body as the plain object JSON.stringify would write. */
  function reference(d: Decision, requestId: string | undefined, instance: string | undefined): string {
    const retry = retryAfterSeconds(d)
    const body: Record<string, unknown> = {
      type: QUOTA_EXCEEDED_TYPE,
      title: 'Request cannot be satisfied as assigned quota has been exceeded',
      status: 429,
      detail: denialMessage(d),
    }
    if (instance !== undefined) body.instance = instance
    body['violated-policies'] = d.violated
    if (retry !== undefined) body['retry-after'] = retry
    if (requestId !== undefined) body['request-id'] = requestId
    return JSON.stringify(body)
  }

  const denial = fc
    .uniqueArray(
      fc.record({
        name: fc.constantFrom('per-minute', 'per-day', 'say "hi"', 'naïve ✓', 'back\\slash'),
        retryAfterMs: fc.constantFrom(0, 1, 999, 1000, 12_000, 59_001, Number.POSITIVE_INFINITY),
        violated: fc.boolean(),
      }),
      { selector: (p) => p.name, minLength: 1, maxLength: 3 },
    )
    .filter((ps) => ps.some((p) => p.violated))
    .map((ps) =>
      decision(ps.map((p) => policy({ name: p.name, retryAfterMs: p.violated ? p.retryAfterMs || 1 : 0, violated: p.violated }))),
    )

  it('writes exactly what JSON.stringify of the problem object writes, denial after denial', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            denial,
            fc.option(fc.constantFrom('req-1', 'req-2'), { nil: undefined }),
            fc.option(fc.constantFrom('/a', '/b'), { nil: undefined }),
          ),
          { minLength: 1, maxLength: 12 },
        ),
        (calls) => {
          const render = createLimitedBody()
          for (const [d, requestId, instance] of calls) {
            expect(render(d, { requestId, instance }).body).toBe(reference(d, requestId, instance))
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('store-error denials (fail-closed)', () => {
  it.each<[string, BodyOptions]>([
    ['problem', {}],
    ['managed-dev', { format: 'managed-dev', docUrl: 'https://docs.example.com/errors' }],
    ['skakio', { format: 'skakio' }],
    ['scalekit', { format: 'scalekit' }],
    ['a function', { format: () => ({ leaked: 'never called' }) }],
  ])('%s: a 503 problem body with a generic message and no error text', (_, options) => {
    const out = limitedBody(storeError, { ...options, requestId: 'req_9' })
    expect(out.status).toBe(503)
    expect(out.contentType).toBe('application/problem+json')
    expect(JSON.parse(out.body)).toEqual({
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: 'Rate limiting is temporarily unavailable; retry after 1 second.',
      'retry-after': 1,
      'request-id': 'req_9',
    })
    expect(out.body).not.toMatch(/ECONNREFUSED|hunter2|10\.1\.2\.3/)
  })
})

describe('presets reproducing the seeds', () => {
  it("'managed-dev' reproduces the managed.dev envelope exactly", () => {
    const d = decision([policy({ name: 'write', retryAfterMs: 12_000 })])
    const out = limitedBody(d, {
      format: 'managed-dev',
      docUrl: 'https://docs.managed.dev/reference/error-codes/#rate_limit.exceeded',
      requestId: 'req_01J9F2KQ',
    })
    expect(out).toEqual({
      status: 429,
      contentType: 'application/json',
      body: JSON.stringify({
        error: {
          type: 'rate_limit',
          code: 'rate_limit.exceeded',
          message: 'rate limit exceeded; retry after 12s',
          doc_url: 'https://docs.managed.dev/reference/error-codes/#rate_limit.exceeded',
        },
        request_id: 'req_01J9F2KQ',
      }),
    })
  })

  it("'managed-dev' leaves out doc_url and request_id when unknown", () => {
    expect(limitedBody(limited, { format: 'managed-dev' }).body).toBe(
      '{"error":{"type":"rate_limit","code":"rate_limit.exceeded","message":"rate limit exceeded; retry after 12s"}}',
    )
    expect(JSON.parse(limitedBody(never, { format: 'managed-dev' }).body).error.message).toBe(
      'rate limit exceeded; this request can never be admitted',
    )
  })

  it("'skakio' reproduces the skakio envelope exactly, with the tier", () => {
    const d = decision([policy({ retryAfterMs: 60_000 })], { tier: 'public_key' })
    expect(limitedBody(d, { format: 'skakio' })).toEqual({
      status: 429,
      contentType: 'application/json',
      body: '{"code":429,"status":"error","error":{"code":"RATE_LIMIT_EXCEEDED","message":"Rate limit exceeded. Retry after 60 seconds.","tier":"public_key"}}',
    })
    // No tier known, or one unsafe to echo: the member is left out.
    expect(JSON.parse(limitedBody(limited, { format: 'skakio' }).body).error.tier).toBeUndefined()
    const evil = decision([policy()], { tier: 'pro\r\nX: y' })
    expect(JSON.parse(limitedBody(evil, { format: 'skakio' }).body).error.tier).toBeUndefined()
    expect(JSON.parse(limitedBody(never, { format: 'skakio' }).body).error.message).toBe(
      'Rate limit exceeded. This request can never be admitted; do not retry it.',
    )
  })

  it("'scalekit' answers error_code RATE_LIMITED", () => {
    expect(limitedBody(limited, { format: 'scalekit', requestId: 'req_1' })).toEqual({
      status: 429,
      contentType: 'application/json',
      body: '{"error_code":"RATE_LIMITED","message":"Rate limit exceeded. Retry after 12 seconds.","request_id":"req_1"}',
    })
  })
})

describe('upstreamLimitedBody (a provider limited a call made on the client’s behalf)', () => {
  it("'scalekit': error_code TOOL_ERROR", () => {
    expect(upstreamLimitedBody({ format: 'scalekit', provider: 'hubspot', tool: 'crm.search', retryAfterMs: 29_500 })).toEqual({
      status: 429,
      contentType: 'application/json',
      body: '{"error_code":"TOOL_ERROR","message":"The upstream provider \\"hubspot\\" rate-limited the call to \\"crm.search\\"; retry after 30 seconds.","provider":"hubspot","tool":"crm.search"}',
    })
    expect(JSON.parse(upstreamLimitedBody({ format: 'scalekit' }).body)).toEqual({
      error_code: 'TOOL_ERROR',
      message: 'The upstream provider rate-limited the call.',
    })
  })

  it("'problem' (the default): marked as source upstream", () => {
    const out = upstreamLimitedBody({ provider: 'hubspot', retryAfterMs: 1000, requestId: 'req_2', instance: '/tools/execute' })
    expect(out.status).toBe(429)
    expect(out.contentType).toBe('application/problem+json')
    expect(JSON.parse(out.body)).toEqual({
      type: 'about:blank',
      title: 'Too Many Requests',
      status: 429,
      detail: 'The upstream provider "hubspot" rate-limited the call; retry after 1 second.',
      instance: '/tools/execute',
      source: 'upstream',
      provider: 'hubspot',
      'retry-after': 1,
      'request-id': 'req_2',
    })
  })

  it.each<[string, unknown, string, string]>([
    ['unknown option', { retryAfter: 5 }, 'ERR_RK_UNKNOWN_OPTION', 'retryAfter'],
    ['bad format', { format: 'skakio' }, 'ERR_RK_INVALID_OPTION', 'format'],
    ['format null', { format: null }, 'ERR_RK_INVALID_OPTION', 'format'],
    ['negative retryAfterMs', { retryAfterMs: -1 }, 'ERR_RK_INVALID_OPTION', 'retryAfterMs'],
    ['infinite retryAfterMs', { retryAfterMs: Number.POSITIVE_INFINITY }, 'ERR_RK_INVALID_OPTION', 'retryAfterMs'],
    ['string retryAfterMs', { retryAfterMs: '5' }, 'ERR_RK_INVALID_OPTION', 'retryAfterMs'],
    ['provider with CRLF', { provider: 'a\r\nb' }, 'ERR_RK_INVALID_OPTION', 'provider'],
    ['non-string requestId', { requestId: 7 }, 'ERR_RK_INVALID_ARGUMENT', 'requestId'],
  ])('rejects %s', (_, options, code, option) => {
    expect(() => upstreamLimitedBody(options as UpstreamLimitedOptions)).toThrow(expect.objectContaining({ code, option }))
  })
})

describe('custom formatters', () => {
  it('sends an object as application/json, with the context it needs', () => {
    const seen: unknown[] = []
    const render = createLimitedBody({
      format: (d, ctx) => {
        seen.push(ctx)
        return { message: ctx.message, wait: ctx.retryAfterSeconds, tier: d.tier ?? null }
      },
    })
    expect(render.name).toBe('renderLimitedBody')
    const out = render(limited, { requestId: 'req_3', instance: '/x' })
    expect(out).toEqual({
      status: 429,
      contentType: 'application/json',
      body: '{"message":"Rate limit exceeded (policy \\"per-minute\\"); retry after 12 seconds.","wait":12,"tier":null}',
    })
    expect(seen).toEqual([
      {
        status: 429,
        retryAfterSeconds: 12,
        requestId: 'req_3',
        instance: '/x',
        message: 'Rate limit exceeded (policy "per-minute"); retry after 12 seconds.',
      },
    ])
  })

  it('sends a string as text/plain', () => {
    expect(limitedBody(limited, { format: (_d, ctx) => `slow down: ${ctx.retryAfterSeconds}s` })).toEqual({
      status: 429,
      contentType: 'text/plain; charset=utf-8',
      body: 'slow down: 12s',
    })
  })

  it('a formatter returning nothing serialisable is an error naming the option', () => {
    expect(() => limitedBody(limited, { format: () => undefined })).toThrow(
      expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'format' }),
    )
  })
})

describe('safety', () => {
  it.each<[string, BodyOptions]>([
    ['problem', {}],
    ['managed-dev', { format: 'managed-dev' }],
    ['skakio', { format: 'skakio' }],
    ['scalekit', { format: 'scalekit' }],
  ])('%s never contains the subject key', (_, options) => {
    for (const d of [limited, never, storeError]) {
      expect(limitedBody(d, options).body).not.toContain(KEY)
      expect(limitedBody(d, options).body).not.toContain('SECRET')
    }
    expect(denialMessage(limited)).not.toContain(KEY)
  })

  it.each([
    ['CRLF', 'req\r\n1'],
    ['non-ASCII', 'réq'],
    ['too long', 'r'.repeat(201)],
    ['empty', ''],
  ])('a request id with %s is left out, never echoed', (_, requestId) => {
    expect(JSON.parse(limitedBody(limited, { requestId }).body)['request-id']).toBeUndefined()
    expect(JSON.parse(limitedBody(limited, { format: 'managed-dev', requestId }).body).request_id).toBeUndefined()
  })

  it('keeps a request id of 200 visible characters', () => {
    const requestId = 'r'.repeat(200)
    expect(JSON.parse(limitedBody(limited, { requestId }).body)['request-id']).toBe(requestId)
  })
})

describe('option validation', () => {
  it.each<[string, unknown, string, string]>([
    ['unknown option', { formatt: 'problem' }, 'ERR_RK_UNKNOWN_OPTION', 'formatt'],
    ['unknown preset', { format: 'github' }, 'ERR_RK_INVALID_OPTION', 'format'],
    ['format null', { format: null }, 'ERR_RK_INVALID_OPTION', 'format'],
    ['docUrl on another format', { format: 'skakio', docUrl: 'https://x.example' }, 'ERR_RK_INVALID_OPTION', 'docUrl'],
    ['docUrl not a URL', { format: 'managed-dev', docUrl: 'not a url' }, 'ERR_RK_INVALID_OPTION', 'docUrl'],
    ['docUrl javascript:', { format: 'managed-dev', docUrl: 'javascript:alert(1)' }, 'ERR_RK_INVALID_OPTION', 'docUrl'],
    ['docUrl with CRLF', { format: 'managed-dev', docUrl: 'https://x.example/\r\n' }, 'ERR_RK_INVALID_OPTION', 'docUrl'],
    ['options null', null, 'ERR_RK_INVALID_ARGUMENT', 'options'],
  ])('createLimitedBody rejects %s', (_, options, code, option) => {
    expect(() => createLimitedBody(options as BodyOptions)).toThrow(expect.objectContaining({ code, option }))
  })

  it('limitedBody also validates, and knows requestId and instance', () => {
    expect(() => limitedBody(limited, { requestID: 'x' } as never)).toThrow(expect.objectContaining({ code: 'ERR_RK_UNKNOWN_OPTION' }))
    expect(() => limitedBody(limited, { requestId: 42 } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'requestId' }),
    )
    expect(() => createLimitedBody()(limited, { instance: {} } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_RK_INVALID_ARGUMENT', option: 'instance' }),
    )
  })

  it('names the function, the option and the value received', () => {
    expect(() => createLimitedBody({ format: 'github' as never })).toThrow(
      `limitedBody(): "format" must be 'problem', 'managed-dev', 'skakio', 'scalekit' or a function, received "github"`,
    )
  })
})

describe('with a real limiter', () => {
  it('skakio auth endpoint: 10 req/s burst 20, denied on the 21st request at once', async () => {
    const now = 1_707_480_000_000
    const limiter = createLimiter({ now: () => now, policies: [tokenBucket({ name: 'auth', limit: 10, window: '1s', burst: 20 })] })
    let d = await limiter.consume('pk_1', { tier: 'public_key' })
    for (let i = 0; i < 20; i++) d = await limiter.consume('pk_1', { tier: 'public_key' })
    expect(d.allowed).toBe(false)
    expect(limitedBody(d, { format: 'skakio' }).body).toBe(
      '{"code":429,"status":"error","error":{"code":"RATE_LIMIT_EXCEEDED","message":"Rate limit exceeded. Retry after 1 second.","tier":"public_key"}}',
    )
  })

  it('a daily quota: the problem body waits until the next UTC day', async () => {
    const now = Date.UTC(2026, 5, 23, 23, 59, 30, 500)
    const limiter = createLimiter({ now: () => now, policies: [fixedWindow({ name: 'per-day', limit: 2, window: '1d' })] })
    await limiter.consume('k')
    await limiter.consume('k')
    const d = await limiter.consume('k')
    const body = JSON.parse(limitedBody(d, { requestId: 'req_x' }).body)
    expect(body['retry-after']).toBe(30)
    expect(body['violated-policies']).toEqual(['per-day'])
    expect(body.detail).toBe('Rate limit exceeded (policy "per-day"); retry after 30 seconds.')
  })

  it('a cost above the burst: exceeds-capacity body', async () => {
    const limiter = createLimiter({ now: () => AT, policies: [tokenBucket({ name: 'per-minute', limit: 100, window: '1m', burst: 150 })] })
    const d = await limiter.consume(KEY, { cost: 151 })
    expect(d.reason).toBe('exceeds-capacity')
    const body = JSON.parse(limitedBody(d).body)
    expect(body['retry-after']).toBeUndefined()
    expect(body.detail).toContain('costs 151')
    expect(body.detail).toContain('(150)')
  })
})
