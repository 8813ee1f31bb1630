// The demo API is what people copy, and it could be walked through: any made-up `sk_test_…` key
// got the secret tier, made-up keys on /auth/token were unlimited (a fresh bucket each), a
// client on loopback picked its IP with X-Forwarded-For, GET /v1/rate-limits was never limited,
// and every 429 wrote the full API key to the log. One test per way through, and one for the
// docs example that keyed a tool-call quota on a raw `x-environment-id` header (any client could
// spend another environment's quota).

import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createDemo, type Demo, IP_LIMIT, RATE_LIMITS_LIMIT } from '../../examples/demo.js'
import { extractBlocks } from '../docs/extract.js'
import { clock } from '../helpers/clock.js'

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

async function build() {
  const c = clock(T0)
  const lines: string[] = []
  const built = createDemo({ now: c.now, log: (line) => lines.push(line) })
  demo = built
  const listening = built.app.listen(0, '127.0.0.1')
  server = listening
  await new Promise<void>((resolve) => listening.once('listening', () => resolve()))
  const base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`
  const send = async (method: string, url: string, key?: string, headers: Record<string, string> = {}) => {
    const res = await fetch(base + url, { method, headers: key === undefined ? headers : { ...headers, authorization: `Bearer ${key}` } })
    return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() }
  }
  /** Spends the IP budget of the test client (127.0.0.1) down to `left` requests. */
  const spendIpBudgetDownTo = async (left: number) => {
    const peek = await built.limiter.peek('ip:127.0.0.1', { policies: IP_LIMIT })
    expect((await built.limiter.consume('ip:127.0.0.1', { cost: peek.remaining - left, policies: IP_LIMIT })).allowed).toBe(true)
  }
  return { c, lines, send, spendIpBudgetDownTo, limiter: built.limiter }
}

const json = (body: string) => JSON.parse(body) as Record<string, unknown>
const ipRemaining = async (d: Demo) => (await d.limiter.peek('ip:127.0.0.1', { policies: IP_LIMIT })).remaining

describe('the demo API resists made-up keys and spoofed IPs', () => {
  it('a made-up sk_test_ key gets no tier: 401 after the IP limit has counted it, 429 once that is spent', async () => {
    const { send, spendIpBudgetDownTo } = await build()
    const before = await ipRemaining(demo as Demo)
    const res = await send('GET', '/v1/listings', 'sk_test_made_up_by_anyone')
    expect(res.status).toBe(401)
    expect(res.headers['x-ratelimit-tier']).toBeUndefined()
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_token"')
    expect(json(res.body)).toMatchObject({ status: 401, title: 'Unauthorized' })
    // The key is not echoed back.
    expect(res.body).not.toContain('sk_test_made_up_by_anyone')
    expect(await ipRemaining(demo as Demo)).toBe(before - 1)
    // A known secret key does get its tier.
    expect((await send('GET', '/v1/listings', 'sk_test_demo')).headers['x-ratelimit-tier']).toBe('secret_key')
    // The IP limit stands in front of every key: once it is spent, made-up and real keys wait.
    await spendIpBudgetDownTo(0)
    const denied = await send('GET', '/v1/listings', 'sk_test_made_up_by_anyone')
    expect(denied.status).toBe(429)
    expect(json(denied.body)['violated-policies']).toEqual(['per-ip'])
    expect((await send('GET', '/v1/listings', 'sk_test_demo')).status).toBe(429)
  })

  it('made-up keys on /auth/token are limited: each one spends the IP budget, none gets a bucket of its own', async () => {
    const { send, spendIpBudgetDownTo } = await build()
    await spendIpBudgetDownTo(25)
    // 25 distinct made-up keys: 401 each, every one counted against the IP.
    for (let i = 0; i < 25; i++) expect((await send('POST', '/auth/token', `pk_test_guess_${i}`)).status).toBe(401)
    for (let i = 25; i < 50; i++) {
      const res = await send('POST', '/auth/token', `pk_test_guess_${i}`)
      expect(res.status).toBe(429)
      expect(res.headers['retry-after']).toBeDefined()
    }
  })

  it('rotating X-Forwarded-For from loopback does not escape the IP limits', async () => {
    const { send } = await build()
    // Anonymous requests (no key) are limited per IP: bursts of 30.
    for (let i = 0; i < 30; i++) {
      const res = await send('GET', '/v1/listings', undefined, { 'x-forwarded-for': `198.51.100.${i}` })
      expect(res.status).toBe(200)
      expect(res.headers['x-ratelimit-remaining']).toBe(String(29 - i))
    }
    const denied = await send('GET', '/v1/listings', undefined, { 'x-forwarded-for': '203.0.113.250' })
    expect(denied.status).toBe(429)
    // Nor does a rotating X-Forwarded-For give the IP limit a fresh bucket per request.
    const before = await ipRemaining(demo as Demo)
    for (let i = 0; i < 5; i++) await send('GET', '/v1/listings', undefined, { 'x-forwarded-for': `192.0.2.${i}` })
    expect(await ipRemaining(demo as Demo)).toBe(before - 5)
  })

  it('GET /v1/rate-limits carries the key headers without charging them, and has a cheap limit of its own', async () => {
    const { c, send } = await build()
    const burst = RATE_LIMITS_LIMIT[0].burst
    for (let i = 0; i < burst; i++) {
      const res = await send('GET', '/v1/rate-limits', 'sk_test_demo')
      expect(res.status).toBe(200)
      // The key's read bucket, uncharged: 1,500 of 1,500 every time.
      expect(res.headers['x-ratelimit-limit']).toBe('1000')
      expect(res.headers['x-ratelimit-remaining']).toBe('1500')
    }
    const denied = await send('GET', '/v1/rate-limits', 'sk_test_demo')
    expect(denied.status).toBe(429)
    expect(json(denied.body)['violated-policies']).toEqual(['rate-limits'])
    // The 429 describes the limit that decided it.
    expect(denied.headers['x-ratelimit-limit']).toBe(String(RATE_LIMITS_LIMIT[0].limit))
    expect(denied.headers['x-ratelimit-remaining']).toBe('0')
    // The rest of the API is untouched by it.
    expect((await send('GET', '/v1/listings', 'sk_test_demo')).headers['x-ratelimit-remaining']).toBe('1499')
    // Anonymous callers have the same cheap limit, per IP.
    for (let i = 0; i < burst; i++) expect((await send('GET', '/v1/rate-limits')).status).toBe(200)
    expect((await send('GET', '/v1/rate-limits')).status).toBe(429)
    // It refills.
    c.advance(60_000)
    expect((await send('GET', '/v1/rate-limits', 'sk_test_demo')).status).toBe(200)
  })

  it('a 429 logs a fingerprint of the key, never the key', async () => {
    const { lines, send } = await build()
    for (let i = 0; i < 20; i++) expect((await send('POST', '/auth/token', 'sk_test_acme_server')).status).toBe(200)
    expect((await send('POST', '/auth/token', 'sk_test_acme_server')).status).toBe(429)
    const fingerprint = createHash('sha256').update('key:sk_test_acme_server').digest('hex').slice(0, 12)
    expect(lines).toEqual([`429 key#${fingerprint} (secret_key): auth-token; retry in 1s`])
    // Also where the key is part of a per-route subject (GET /v1/rate-limits has its own limit).
    for (let i = 0; i <= RATE_LIMITS_LIMIT[0].burst; i++) await send('GET', '/v1/rate-limits', 'sk_test_acme_server')
    expect(lines).toHaveLength(2)
    expect(lines[1]).toMatch(/^429 .*key#[0-9a-f]{12}: rate-limits; retry in \d+s$/)
    expect(lines.join('\n')).not.toContain('sk_test_acme_server')
  })

  it('docs: the per-environment quota example keys by the environment of the token, not by a header the client writes', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url))
    const blocks = extractBlocks('docs/provider-features.md', readFileSync(`${root}docs/provider-features.md`, 'utf8'))
    const block = blocks.find((b) => b.code.includes("'tool-call'") && b.code.includes('x-environment-id'))
    expect(block).toBeDefined()
    const code = (block as { code: string }).code
    // Run it (as the docs suite does) and read what it prints.
    mkdirSync(`${root}.tmp`, { recursive: true })
    const file = `${root}.tmp/regression-environment-example-${process.pid}.ts`
    writeFileSync(file, code)
    const printed: string[] = []
    const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      printed.push(args.map(String).join(' '))
    })
    try {
      await import(/* @vite-ignore */ file)
    } finally {
      spy.mockRestore()
      rmSync(file, { force: true })
    }
    // A client of env_small that claims env_big in x-environment-id is still env_small, still stopped.
    expect(printed).toEqual(['false tool-calls retry in 3000 s', 'false growth', 'true'])
  })
})
