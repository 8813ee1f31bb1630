import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import {
  banner,
  createDemo,
  type Demo,
  keyFingerprint,
  maskRedisUrl,
  parseBody,
  parsePort,
  parseRedisUrl,
  parseTrustProxy,
  startDemo,
  TIERS,
} from '../../examples/demo.js'
import { clock } from '../helpers/clock.js'
import { keysUnder } from '../helpers/redis.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
// Midday UTC, on a whole minute: the daily windows are far away.
const T0 = Date.UTC(2026, 5, 23, 12, 0, 0)

let demo: Demo | undefined
let server: Server | undefined
afterEach(async () => {
  await new Promise<void>((resolve) => {
    if (server === undefined) return resolve()
    server.close(() => resolve())
    server.closeAllConnections()
  })
  server = undefined
  await demo?.close()
  demo = undefined
})

interface Answer {
  statusCode: number
  headers: Record<string, string>
  body: string
}

/** The demo app on a real socket (port 0), with a fake clock and the log collected. */
async function build(options: { body?: 'problem' | 'skakio' | 'managed-dev' | 'scalekit'; trustProxy?: number | string } = {}) {
  const c = clock(T0)
  const lines: string[] = []
  demo = createDemo({ now: c.now, log: (line) => lines.push(line), body: options.body, trustProxy: options.trustProxy })
  const listening = demo.app.listen(0, '127.0.0.1')
  server = listening
  await new Promise<void>((resolve) => listening.once('listening', () => resolve()))
  const base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`
  const send = async (method: string, url: string, key?: string, headers: Record<string, string> = {}): Promise<Answer> => {
    const res = await fetch(base + url, { method, headers: key === undefined ? headers : { ...headers, authorization: `Bearer ${key}` } })
    return { statusCode: res.status, headers: Object.fromEntries(res.headers), body: await res.text() }
  }
  return { c, lines, send }
}

const json = (body: string) => JSON.parse(body) as Record<string, unknown>

describe('examples/demo.ts: the policy', () => {
  it('tiers by key prefix: pk_ 100/min burst 150 + 10,000/day, sk_ 1,000/min burst 1,500 + 100,000/day', async () => {
    const { send } = await build()
    const pk = await send('GET', '/v1/listings', 'pk_test_demo')
    expect(pk.statusCode).toBe(200)
    expect(pk.headers).toMatchObject({
      'x-ratelimit-limit': '100',
      'x-ratelimit-remaining': '149',
      'x-ratelimit-reset': String(T0 / 1000 + 1),
      'x-ratelimit-tier': 'public_key',
      'ratelimit-policy': '"per-minute";q=100;w=60, "per-day";q=10000;w=86400',
      ratelimit: '"per-minute";r=149;t=1, "per-day";r=9999;t=43200',
    })
    const sk = await send('GET', '/v1/listings', 'sk_test_demo')
    expect(sk.headers).toMatchObject({ 'x-ratelimit-limit': '1000', 'x-ratelimit-remaining': '1499', 'x-ratelimit-tier': 'secret_key' })
    // No key: the anonymous tier, counted by IP.
    const anon = await send('GET', '/v1/listings')
    expect(anon.headers).toMatchObject({ 'x-ratelimit-limit': '20', 'x-ratelimit-remaining': '29', 'x-ratelimit-tier': 'anonymous' })
    expect((await send('GET', '/v1/listings')).headers['x-ratelimit-remaining']).toBe('28')
    // A key the demo does not know (whatever it looks like) is refused, not given a tier.
    for (const key of ['not-a-key', 'sk_live_made_up', 'pk_test_made_up']) {
      const unknown = await send('GET', '/v1/listings', key)
      expect(unknown.statusCode).toBe(401)
      expect(unknown.headers['x-ratelimit-tier']).toBeUndefined()
    }
  })

  it('a public key gets its burst of 150, then 429 with Retry-After, the problem body and a log line', async () => {
    const { c, lines, send } = await build()
    for (let i = 0; i < 150; i++) expect((await send('GET', '/v1/listings', 'pk_test_demo')).statusCode).toBe(200)
    const denied = await send('GET', '/v1/listings', 'pk_test_demo', { 'x-request-id': 'req_abc' })
    expect(denied.statusCode).toBe(429)
    expect(denied.headers['retry-after']).toBe('1')
    expect(denied.headers['x-request-id']).toBe('req_abc')
    expect(denied.headers['content-type']).toBe('application/problem+json')
    expect(json(denied.body)).toEqual({
      type: 'https://iana.org/assignments/http-problem-types#quota-exceeded',
      title: 'Request cannot be satisfied as assigned quota has been exceeded',
      status: 429,
      detail: 'Rate limit exceeded (policy "per-minute"); retry after 1 second.',
      'violated-policies': ['per-minute'],
      'retry-after': 1,
      'request-id': 'req_abc',
    })
    expect(lines).toEqual([`429 ${keyFingerprint('key:pk_test_demo')} (public_key): per-minute; retry in 1s`])
    expect(keyFingerprint('key:pk_test_demo')).toMatch(/^key#[0-9a-f]{12}$/)
    // 100 per minute: one token every 600 ms.
    c.advance(600)
    expect((await send('GET', '/v1/listings', 'pk_test_demo')).statusCode).toBe(200)
  })

  it('classes: write (DELETE counts as write) and create buckets per key, on top of the tier budget', async () => {
    const { send } = await build()
    for (let i = 0; i < 25; i++) expect((await send('POST', '/v1/listings', 'pk_test_demo')).statusCode).toBe(201)
    for (let i = 0; i < 25; i++) expect((await send('DELETE', '/v1/listings/lst_x', 'pk_test_demo')).statusCode).toBe(204)
    const write = await send('PATCH', '/v1/listings/lst_1', 'pk_test_demo')
    expect(write.statusCode).toBe(429)
    expect(json(write.body)['violated-policies']).toEqual(['write'])
    // Reads still go through: another class.
    expect((await send('GET', '/v1/listings', 'pk_test_demo')).statusCode).toBe(200)

    for (let i = 0; i < 5; i++) expect((await send('POST', '/v1/jobs', 'pk_test_acme_web')).statusCode).toBe(202)
    const create = await send('POST', '/v1/jobs', 'pk_test_acme_web')
    expect(create.statusCode).toBe(429)
    expect(json(create.body)['violated-policies']).toEqual(['create'])
    expect(create.headers['retry-after']).toBe('12') // 5 per minute: one every 12 s
  })

  it('auth endpoints: 10 req/s with bursts of 20 each, on top of the tier', async () => {
    const { c, send } = await build()
    for (let i = 0; i < 20; i++) expect((await send('POST', '/auth/token')).statusCode).toBe(200)
    const denied = await send('POST', '/auth/token')
    expect(denied.statusCode).toBe(429)
    expect(denied.headers).toMatchObject({ 'x-ratelimit-limit': '10', 'retry-after': '1' })
    expect(denied.headers['ratelimit-policy']).toContain('"auth-token";q=10;w=1')
    // Each endpoint has its own bucket: validate and refresh are untouched by token's 20.
    expect((await send('POST', '/auth/validate')).statusCode).toBe(200)
    expect((await send('POST', '/auth/refresh')).statusCode).toBe(200)
    c.advance(100)
    expect((await send('POST', '/auth/token')).statusCode).toBe(200)
  })

  it('the team ceiling: keys of one team share 2,000/min, whatever their tier, all or nothing', async () => {
    const { send } = await build()
    // Most of the team's minute already spent (as 1,980 requests would): the ceiling is the layer `team:acme`.
    const ceiling = TIERS.secret_key.ceiling
    expect((await demo?.limiter.consume('team:acme', { cost: 1980, policies: ceiling }))?.allowed).toBe(true)
    for (let i = 0; i < 10; i++) expect((await send('GET', '/v1/listings', 'sk_test_acme_server')).statusCode).toBe(200)
    for (let i = 0; i < 10; i++) expect((await send('GET', '/v1/listings', 'pk_test_acme_web')).statusCode).toBe(200)
    const denied = await send('GET', '/v1/listings', 'sk_test_acme_batch')
    expect(denied.statusCode).toBe(429)
    expect(json(denied.body)['violated-policies']).toEqual(['team'])
    // All or nothing: the denied request took nothing from the key's own budget.
    const state = json((await send('GET', '/v1/rate-limits', 'sk_test_acme_batch')).body).data as { buckets: { remaining: number }[] }
    expect(state.buckets[0].remaining).toBe(1500)
    // A key outside the team is not affected.
    expect((await send('GET', '/v1/listings', 'sk_test_demo')).statusCode).toBe(200)
  })

  it('GET /v1/rate-limits: the live buckets and the team ceiling, charging nothing', async () => {
    const { send } = await build()
    for (let i = 0; i < 6; i++) await send('GET', '/v1/listings', 'sk_test_acme_server')
    await send('POST', '/v1/jobs', 'sk_test_acme_server')
    const res = await send('GET', '/v1/rate-limits', 'sk_test_acme_server', { 'x-request-id': 'req_01J9F2KQ' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    const reset = T0 / 1000 + 1
    expect(json(res.body)).toEqual({
      data: {
        buckets: [
          { class: 'read', limit: 1000, remaining: 1493, reset },
          { class: 'write', limit: 500, remaining: 500, reset: T0 / 1000 },
          { class: 'create', limit: 50, remaining: 49, reset: T0 / 1000 + 2 },
          { class: 'auth-token', limit: 10, remaining: 20, reset: T0 / 1000 },
          { class: 'auth-validate', limit: 10, remaining: 20, reset: T0 / 1000 },
          { class: 'auth-refresh', limit: 10, remaining: 20, reset: T0 / 1000 },
        ],
        team_ceiling: { limit: 2000, remaining: 1993, reset },
      },
      request_id: 'req_01J9F2KQ',
    })
    // It sends the headers too, and asking again changes nothing.
    expect(res.headers['x-ratelimit-remaining']).toBe('1493')
    const again = await send('GET', '/v1/rate-limits', 'sk_test_acme_server')
    expect(json(again.body).data).toEqual(json(res.body).data)
    // Without a team: team_ceiling is null.
    expect(json((await send('GET', '/v1/rate-limits', 'pk_test_demo')).body).data).toMatchObject({ team_ceiling: null })
  })

  it('BODY picks a seed envelope: skakio shows the tier', async () => {
    const { send } = await build({ body: 'skakio' })
    for (let i = 0; i < 20; i++) await send('POST', '/auth/token', 'pk_test_demo')
    const denied = await send('POST', '/auth/token', 'pk_test_demo')
    expect(denied.statusCode).toBe(429)
    expect(json(denied.body)).toEqual({
      code: 429,
      status: 'error',
      error: { code: 'RATE_LIMIT_EXCEEDED', message: 'Rate limit exceeded. Retry after 1 second.', tier: 'public_key' },
    })
  })

  it('behind a proxy (trustProxy), clients are told apart by the address the proxy appends', async () => {
    const { send } = await build({ trustProxy: 'loopback' })
    for (let i = 0; i < 30; i++)
      expect((await send('GET', '/v1/listings', undefined, { 'x-forwarded-for': '198.51.100.1' })).statusCode).toBe(200)
    expect((await send('GET', '/v1/listings', undefined, { 'x-forwarded-for': '198.51.100.1' })).statusCode).toBe(429)
    expect((await send('GET', '/v1/listings', undefined, { 'x-forwarded-for': '198.51.100.2' })).statusCode).toBe(200)
  })

  it('validates its options', () => {
    expect(() => createDemo({ body: 'xml' as 'problem' })).toThrow(/"body" must be one of/)
  })
})

describe('examples/demo.ts: running it', () => {
  it('parses --port and PORT strictly', () => {
    expect(parsePort([], {})).toBe(3000)
    expect(parsePort([], { PORT: '8080' })).toBe(8080)
    expect(parsePort(['--port', '0'], { PORT: '8080' })).toBe(0)
    expect(parsePort(['--port=65535'], {})).toBe(65535)
    expect(() => parsePort(['--port', '65536'], {})).toThrow('--port must be a port number from 0 to 65535, received "65536"')
    expect(() => parsePort([], { PORT: 'http' })).toThrow('PORT must be a port number from 0 to 65535, received "http"')
    expect(() => parsePort([], { PORT: '-1' })).toThrow(/PORT must be a port number/)
    expect(() => parsePort(['--prot', '1'], {})).toThrow(/Unknown option '--prot'/)
    expect(parseBody({})).toBe('problem')
    expect(parseBody({ BODY: 'managed-dev' })).toBe('managed-dev')
    expect(() => parseBody({ BODY: 'xml' })).toThrow('BODY must be one of problem, skakio, managed-dev, scalekit, received "xml"')
  })

  it('parses REDIS_URL and TRUST_PROXY strictly, never echoing a password', () => {
    expect(parseRedisUrl({})).toBeUndefined()
    expect(parseRedisUrl({ REDIS_URL: '' })).toBeUndefined()
    expect(parseRedisUrl({ REDIS_URL: 'redis://127.0.0.1:6379' })).toBe('redis://127.0.0.1:6379')
    expect(() => parseRedisUrl({ REDIS_URL: 'http://user:pw@host' })).toThrow('REDIS_URL must be a redis:// or rediss:// URL')
    expect(() => parseRedisUrl({ REDIS_URL: '127.0.0.1:6379' })).toThrow('REDIS_URL must be a redis:// or rediss:// URL')
    expect(maskRedisUrl('rediss://default:p%40ss@cache.example:6380/2')).toBe('rediss://default:***@cache.example:6380/2')
    expect(maskRedisUrl('redis://cache.example')).toBe('redis://cache.example')
    expect(parseTrustProxy({})).toBeUndefined()
    expect(parseTrustProxy({ TRUST_PROXY: '1' })).toBe(1)
    expect(parseTrustProxy({ TRUST_PROXY: 'loopback, 10.0.0.0/8' })).toBe('loopback, 10.0.0.0/8')
    expect(() => parseTrustProxy({ TRUST_PROXY: 'true' })).toThrow(/TRUST_PROXY must be a hop count/)
    expect(() => parseTrustProxy({ TRUST_PROXY: '9999' })).toThrow('TRUST_PROXY must be a hop count from 1 to 10, received "9999"')
    expect(() => parseTrustProxy({ TRUST_PROXY: '0' })).toThrow(/from 1 to 10/)
  })

  it('starts on a free port, serves over HTTP and closes cleanly', async () => {
    const running = await startDemo({ port: 0, log: () => {} })
    try {
      expect(running.store).toBe('memory')
      const res = await fetch(`${running.url}/v1/listings`, { headers: { authorization: 'Bearer pk_test_demo' } })
      expect(res.status).toBe(200)
      expect(res.headers.get('x-ratelimit-tier')).toBe('public_key')
      expect(banner(running.url, running.store)).toContain(`curl -i ${running.url}/v1/listings`)
    } finally {
      await running.close()
      await running.close() // idempotent
    }
    expect(running.server.listening).toBe(false)
  })

  describe('on Redis (REDIS_URL)', () => {
    const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
    const prefix = `rk-test-demo-${randomBytes(4).toString('hex')}`
    const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
    afterAll(async () => {
      // Delete only this run's keys; never FLUSHDB a shared Redis.
      let cursor = '0'
      do {
        const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
        if (keys.length > 0) await admin.del(...keys)
        cursor = next
      } while (cursor !== '0')
      admin.disconnect()
    })

    it('decides on Redis, with keys under its prefix', async () => {
      await admin.connect()
      const running = await startDemo({ port: 0, redisUrl: url, redisPrefix: prefix, log: () => {} })
      try {
        expect(running.store).toBe('redis')
        const call = () => fetch(`${running.url}/v1/listings`, { headers: { authorization: 'Bearer pk_test_demo' } })
        expect((await call()).headers.get('x-ratelimit-remaining')).toBe('149')
        expect((await call()).headers.get('x-ratelimit-remaining')).toBe('148')
        // Every SCAN page, not the first: on a Redis holding other keys the first may match none.
        const keys = await keysUnder(admin, prefix)
        expect(keys.length).toBeGreaterThan(0)
        // Every key has a TTL (-1 would be none); the per-IP bucket's is short (full again in
        // 40 ms after two requests), so it may already be gone (-2).
        for (const key of keys) {
          const ttl = await admin.pttl(key)
          expect(ttl === -2 || ttl > 0, `${key}: ${ttl}`).toBe(true)
        }
      } finally {
        await running.close()
      }
    })
  })
})

describe('examples/demo.ts as `npm start` (a child process)', () => {
  const start = (args: string[], env: Record<string, string> = {}) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/demo.ts', ...args], {
      cwd: root,
      env: { ...process.env, REDIS_URL: '', DATABASE_URL: '', PORT: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString()
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const output = () => out
    const waitFor = async (pattern: RegExp): Promise<RegExpMatchArray> => {
      for (let i = 0; i < 300; i++) {
        const m = out.match(pattern)
        if (m !== null) return m
        await new Promise((r) => setTimeout(r, 50))
      }
      throw new Error(`timed out waiting for ${pattern}; output:\n${out}`)
    }
    return { child, exited, output, waitFor }
  }

  it('prints where it listens and curl lines, serves, and shuts down cleanly on SIGINT', async () => {
    const demoProcess = start(['--port', '0'])
    const [, url] = await demoProcess.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+) \(store: memory\)/)
    expect(demoProcess.output()).toContain(`curl -s ${url}/v1/rate-limits -H "Authorization: Bearer sk_test_acme_server"`)
    const res = await fetch(`${url}/v1/listings`, { headers: { authorization: 'Bearer sk_test_demo' }, keepalive: true })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-ratelimit-limit')).toBe('1000')
    demoProcess.child.kill('SIGINT')
    expect(await demoProcess.exited).toBe(0)
    expect(demoProcess.output()).toContain('demo: SIGINT, shutting down')
    expect(demoProcess.output()).toContain('demo: stopped')
  })

  it('refuses a bad port with a clear message and exit code 2', async () => {
    const demoProcess = start([], { PORT: 'eighty' })
    expect(await demoProcess.exited).toBe(2)
    expect(demoProcess.output()).toContain('demo: PORT must be a port number from 0 to 65535, received "eighty"')
  })
})
