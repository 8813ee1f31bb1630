// Failure injection on a redis-server this suite starts itself (never the shared one): down at
// start-up, killed mid-traffic, paused (SIGSTOP) and resumed, restarted, scripts flushed. Every
// call settles by its deadline with a StoreError code, the limiter applies onStoreError, nothing
// is written late, nothing is unhandled, and counting resumes within about a second.

import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { createLimiter, type Decision, fixedWindow, type Limiter, StoreError, tokenBucket } from '../../../src/index.js'
import { RedisStore } from '../../../src/stores/redis/index.js'
import { freePort, type RedisServer, redisServerFor, startRedisServer } from '../../helpers/redis-servers.js'
import { IOREDIS, ready, STORE_CLIENTS, type StoreClient } from './clients.js'

const TIMEOUT_MS = 100
/** Generous: the machine is shared, the assertion is "bounded", not "fast". */
const SLACK_MS = 400
/** Recovery: the client reconnects every 50 ms; counting must resume within about a second. */
const RECOVERY_MS = 1500

const available = redisServerFor('the Redis failure-injection suite')

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Times a call; returns its outcome and how long it took to settle. */
async function timed<T>(call: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = performance.now()
  try {
    const value = await call()
    return { ms: performance.now() - started, value }
  } catch (error) {
    return { ms: performance.now() - started, error }
  }
}

/** Polls until a decision is made by Redis again; returns how long that took. */
async function recovery(limiter: Limiter, key: string): Promise<number> {
  const started = performance.now()
  for (;;) {
    const d = await limiter.consume(key)
    if (d.reason !== 'store-error') return performance.now() - started
    if (performance.now() - started > 10_000) throw new Error('never recovered')
    await sleep(10)
  }
}

describe.runIf(available)('RedisStore failure modes', () => {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => unhandled.push(reason)
  let consoleError: ReturnType<typeof vi.spyOn>

  beforeAll(() => {
    process.on('unhandledRejection', onUnhandled)
    consoleError = vi.spyOn(console, 'error')
  })

  afterAll(() => {
    process.off('unhandledRejection', onUnhandled)
    const ioredisComplaints = consoleError.mock.calls.filter((args: unknown[]) => String(args[0]).includes('Unhandled error event'))
    consoleError.mockRestore()
    expect(ioredisComplaints).toEqual([])
    expect(unhandled).toEqual([])
  })

  // Each version with ioredis's defaults, and with auto-pipelining on (the store then sends its
  // script calls to sendCommand itself, past the pipeline, for the ioredis it resolves).
  // The other libraries with their defaults too, except a quick reconnect (node-redis: its
  // offline queue on, so a call queued while it reconnects would go out late if the store let it).
  const CLIENTS: { label: string; make: (url: string) => StoreClient }[] = [
    ...IOREDIS.flatMap((version) =>
      [
        { label: version.name, options: {} },
        { label: `${version.name}, auto-pipelining`, options: { enableAutoPipelining: true } },
      ].map(({ label, options }) => ({
        label,
        make: (url: string): StoreClient => {
          const c = version.single(url, { ...options, retryStrategy: () => 50 })
          return { client: c, ready: ready(c), close: () => c.disconnect() }
        },
      })),
    ),
    ...STORE_CLIENTS.filter((library) => !library.name.startsWith('ioredis')).map((library) => ({
      label: library.name,
      make: (url: string) => library.single(url, { reconnectMs: 50 }),
    })),
  ]

  describe.each(CLIENTS)('$label', (version) => {
    let server: RedisServer
    let handle: StoreClient
    const stores: RedisStore[] = []
    const warnings: { code: string }[] = []
    const storeErrors: unknown[] = []

    /** A limiter on this suite's server, with the default store deadline. */
    const limiter = (
      onStoreError: 'allow' | 'deny' | 'fallback' = 'allow',
      policies = [tokenBucket({ limit: 1_000_000, window: '1h' })],
    ) => {
      const store = new RedisStore({ client: handle.client, timeoutMs: TIMEOUT_MS })
      stores.push(store)
      const created = createLimiter({ store, policies, onStoreError })
      created.on('warn', (w) => warnings.push(w))
      created.on('store-error', (e) => storeErrors.push(e.error))
      return created
    }

    beforeEach(async () => {
      server = await startRedisServer()
      // Defaults (offline queue on, 20 retries per request) except a quick reconnect.
      handle = version.make(server.url)
      await handle.ready
      warnings.length = 0
      storeErrors.length = 0
    })

    afterEach(async () => {
      for (const s of stores.splice(0)) s.close()
      handle.close()
      await server.stop()
    })

    it('fails fast while Redis is down at start-up, applies onStoreError, and recovers when it comes up', async () => {
      const port = await freePort()
      const down = version.make(`redis://127.0.0.1:${port}`)
      try {
        const store = new RedisStore({ client: down.client, timeoutMs: TIMEOUT_MS })
        stores.push(store)
        const policies = [tokenBucket({ name: 'pm', limit: 2, window: '1m' })]
        const make = (mode: 'allow' | 'deny' | 'fallback') => {
          const l = createLimiter({ store, policies, onStoreError: mode })
          l.on('warn', (w) => warnings.push(w))
          l.on('store-error', (e) => storeErrors.push(e.error))
          return l
        }
        const [allow, deny, fallback] = [make('allow'), make('deny'), make('fallback')]
        const direct = await timed(() => Promise.resolve(store.consume({ keys: ['k'], policies, cost: 1, now: Date.now(), tag: 'k' })))
        expect(direct.error).toBeInstanceOf(StoreError)
        expect((direct.error as StoreError).code).toBe('ERR_RK_STORE')
        expect((direct.error as Error).message).not.toMatch(/ECONNREFUSED|ERR /)
        expect(direct.ms).toBeLessThan(SLACK_MS)

        const a = await timed(() => allow.consume('k'))
        expect(a.value).toMatchObject({ allowed: true, reason: 'store-error', policies: [] })
        const d = await timed(() => deny.consume('k'))
        expect(d.value).toMatchObject({ allowed: false, reason: 'store-error', retryAfterMs: 1000 })
        const f = [await fallback.consume('k'), await fallback.consume('k'), await fallback.consume('k')]
        expect(f.map((x: Decision) => x.reason)).toEqual(['ok', 'ok', 'limited'])
        for (const t of [a, d]) expect(t.ms).toBeLessThan(SLACK_MS)
        expect(storeErrors.length).toBeGreaterThanOrEqual(5)
        expect(storeErrors.every((e) => e instanceof StoreError)).toBe(true)

        // Redis comes up: counting resumes within about a second.
        const late = await startRedisServer({ port })
        try {
          const took = await recovery(allow, 'k2')
          expect(took).toBeLessThan(RECOVERY_MS)
          expect(warnings.filter((w) => w.code === 'RK_REDIS_CONNECTION').length).toBeGreaterThanOrEqual(1)
        } finally {
          down.close()
          await late.stop()
        }
      } finally {
        down.close()
      }
    })

    it('settles every call by its deadline when Redis is killed mid-traffic, then recovers after a restart', async () => {
      const l = limiter('deny')
      const outcomes: { ms: number; value?: Decision; error?: unknown }[] = []
      let stop = false
      const traffic = Promise.all(
        Array.from({ length: 16 }, async (_, w) => {
          for (let i = 0; !stop; i++) {
            outcomes.push(await timed(() => l.consume(`kill-${w}-${i % 50}`)))
            await sleep(2)
          }
        }),
      )
      await sleep(200)
      await server.kill()
      await sleep(500)
      stop = true
      await traffic
      expect(outcomes.some((o) => o.value?.reason === 'ok')).toBe(true)
      const failed = outcomes.filter((o) => o.value?.reason === 'store-error')
      expect(failed.length).toBeGreaterThan(0)
      for (const o of outcomes) {
        expect(o.error).toBeUndefined()
        expect(o.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS)
      }
      const codes = new Set(failed.map((o) => (o.value?.error as StoreError | undefined)?.code))
      for (const code of codes) expect(['ERR_RK_STORE', 'ERR_RK_STORE_TIMEOUT']).toContain(code)

      await server.restart()
      expect(await recovery(l, 'after-restart')).toBeLessThan(RECOVERY_MS)
    })

    it('times out while Redis is paused, writes nothing late after it resumes, and recovers', async () => {
      const l = limiter('allow', [fixedWindow({ name: 'count', limit: 1_000_000, window: '1d' })])
      const key = 'paused'
      for (let i = 0; i < 5; i++) expect((await l.consume(key)).reason).toBe('ok')
      server.pause()
      try {
        const during = await Promise.all(Array.from({ length: 20 }, () => timed(() => l.consume(key))))
        for (const o of during) {
          expect(o.value).toMatchObject({ allowed: true, reason: 'store-error' })
          expect((o.value?.error as StoreError | undefined)?.code).toBe('ERR_RK_STORE_TIMEOUT')
          expect(o.ms).toBeLessThan(TIMEOUT_MS + SLACK_MS)
        }
        await sleep(TIMEOUT_MS * 2)
      } finally {
        server.resume()
      }
      // The 20 calls Redis finds in its socket on resuming are past their deadline: the script
      // refuses them, so the count is still the 5 admitted before the pause.
      expect(await recovery(l, key)).toBeLessThan(RECOVERY_MS)
      const peek = await l.peek(key)
      expect(peek.policies[0].remaining).toBe(1_000_000 - 6)
    })

    it('reloads the script after SCRIPT FLUSH and after a restart (NOSCRIPT), once, and keeps counting', async () => {
      const l = limiter('deny', [fixedWindow({ name: 'count', limit: 1_000_000, window: '1d' })])
      const key = 'flush'
      for (let i = 0; i < 3; i++) expect((await l.consume(key)).reason).toBe('ok')
      const admin = new Redis(server.url)
      await admin.script('FLUSH')
      admin.disconnect()
      const after = await l.consume(key)
      expect(after.reason).toBe('ok')
      expect(after.remaining).toBe(1_000_000 - 4)

      await server.restart()
      expect(await recovery(l, key)).toBeLessThan(RECOVERY_MS)
      // A restarted Redis without persistence starts from nothing: the store counts from there.
      const fresh = await l.peek(key)
      expect(fresh.remaining).toBe(1_000_000 - 1)
    })

    it('keeps no stale "down" state: a brief outage costs only the calls made during it', async () => {
      const l = limiter('deny')
      expect((await l.consume('brief')).reason).toBe('ok')
      await server.kill()
      expect((await l.consume('brief')).reason).toBe('store-error')
      await server.restart()
      expect(await recovery(l, 'brief')).toBeLessThan(RECOVERY_MS)
      expect((await l.consume('brief')).reason).toBe('ok')
    })
  })
})
