// The demo API behind `npm start`: a small listings API limited the way the seed providers limit
// theirs, on the embedded MemoryStore (or Redis when REDIS_URL is set, PostgreSQL when DATABASE_URL is).
//
//   npm start                     http://127.0.0.1:3000
//   PORT=8080 npm start           or: npm start -- --port 8080
//   REDIS_URL=redis://127.0.0.1:6379 npm start
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npm start   (table rk_demo_state)
//   BODY=skakio npm start         429 bodies: problem (default), skakio, managed-dev, scalekit
//   TRUST_PROXY=1 npm start       behind one reverse proxy (default: trust none)
//
// The policy, assembled from the seeds (docs: examples/README.md):
// - first a limit per client IP on every request (3,000/min), before authentication, so that
//   made-up keys cost an attacker their IP's budget; a key the demo does not know gets 401;
// - tiers by key prefix (skakio): pk_ → public_key, 100/min with bursts of 150 and 10,000/day;
//   sk_ → secret_key, 1,000/min with bursts of 1,500 and 100,000/day; no key → anonymous, per IP;
// - request classes (managed.dev): read (GET), write (POST/PUT/PATCH/DELETE), create
//   (POST /v1/jobs), each with a per-key bucket, and a ceiling per team on top (2,000/min);
// - auth endpoints (skakio): POST /auth/token, /auth/validate, /auth/refresh at 10 req/s, burst 20 each,
//   on top of the key's tier limits;
// - X-RateLimit-* (+ X-RateLimit-Tier) and IETF RateLimit/RateLimit-Policy headers, Retry-After
//   and a 429 body on every denial, GET /v1/rate-limits for the live state (managed.dev shape),
//   itself limited to bursts of 10 and 60/min;
// - 429s are logged with a fingerprint of the key (a short hash), never the key;
// - GET /metrics in the Prometheus text format when prom-client is installed (docs/observability.md),
//   and GET /metrics/top-limited: the most limited subjects (fingerprints), from a bounded sketch.

import { createHash, randomBytes } from 'node:crypto'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import express, { type Express, type NextFunction, type Request, type Response } from 'express'
import { Redis } from 'ioredis'
import pg from 'pg'
import { createLimiter, fixedWindow, type Limiter, MemoryStore, type Store, tokenBucket } from 'ratekeeper'
import { rateLimit, rateLimitsRoute } from 'ratekeeper/express'
import type { BodyPreset } from 'ratekeeper/http'
import { type PrometheusRegistry, prometheusMetrics, topLimited } from 'ratekeeper/metrics'
import { PostgresStore } from 'ratekeeper/postgres'
import { cachedLookup, providerPlan, tierByPrefix } from 'ratekeeper/provider'
import { RedisStore } from 'ratekeeper/redis'
// The auth endpoints as skakio's page sets them: one class and one 10 req/s bucket (burst 20) each,
// added to the tier's limits (`also`), never instead of them.
import { AUTH_ENDPOINTS, AUTH_LIMITS } from './seeds/skakio.js'

// --- The policy --------------------------------------------------------------------------------

/**
 * The team ceiling (managed.dev): all keys of a team together, whatever their tier. One policy
 * object shared by every tier, so a team has one bucket. 2,000/min here, so that two secret keys
 * of the demo's team can reach it.
 */
const TEAM_CEILING = [tokenBucket({ name: 'team', limit: 2000, window: '1m' })]

/** Requests per key and tier: the shared per-minute/per-day pair plus a bucket per class. */
function tierLimits(perMinute: number, burst: number, perDay: number, write: number, create: number) {
  // The same two objects sit in every class list, so every class draws on the same tier budget.
  const minute = tokenBucket({ name: 'per-minute', limit: perMinute, window: '1m', burst })
  const day = fixedWindow({ name: 'per-day', limit: perDay, window: '1d' })
  return {
    // Reads, and the auth endpoints before their own buckets are added.
    policies: [minute, day],
    classes: {
      write: [minute, day, tokenBucket({ name: 'write', limit: write, window: '1m' })],
      create: [minute, day, tokenBucket({ name: 'create', limit: create, window: '1m' })],
    },
    also: AUTH_LIMITS,
    ceiling: TEAM_CEILING,
  }
}

export const TIERS = {
  public_key: tierLimits(100, 150, 10_000, 50, 5),
  secret_key: tierLimits(1000, 1500, 100_000, 500, 50),
  anonymous: tierLimits(20, 30, 1000, 10, 1),
}

/**
 * Every request, per client IP, before authentication (the order docs/security.md recommends):
 * above what one key may send (a secret key's burst of 1,500, a team's 2,000/min), so it only
 * stops floods, and made-up keys or failed logins spend it.
 */
export const IP_LIMIT = [tokenBucket({ name: 'per-ip', limit: 3000, window: '1m' })]

/** GET /v1/rate-limits charges no bucket it shows, so it has a cheap limit of its own, per key (or IP). */
export const RATE_LIMITS_LIMIT = [tokenBucket({ name: 'rate-limits', limit: 60, window: '1m', burst: 10 })]

/** The demo's "database": which team each key belongs to. */
export const TEAMS: Readonly<Record<string, string>> = {
  pk_test_acme_web: 'acme',
  sk_test_acme_server: 'acme',
  sk_test_acme_batch: 'acme',
}

/** The API keys the demo knows (in a real API: a lookup of a hashed key). Any other key gets 401. */
export const API_KEYS: ReadonlySet<string> = new Set(['pk_test_demo', 'sk_test_demo', ...Object.keys(TEAMS)])

/**
 * What the log shows of a limited subject: an API key (`key:…`, alone or inside a per-route
 * subject, to the end of the subject) as `key#` + 12 hex digits of its SHA-256, enough to tell
 * keys apart and useless to call the API with; IPs and teams as they are.
 */
export function keyFingerprint(subject: string): string {
  const at = subject.indexOf('key:')
  if (at < 0) return subject
  return `${subject.slice(0, at)}key#${createHash('sha256').update(subject.slice(at)).digest('hex').slice(0, 12)}`
}

export type BodyFormat = Extract<BodyPreset, string>
const BODIES: readonly BodyFormat[] = ['problem', 'skakio', 'managed-dev', 'scalekit']

export interface DemoOptions {
  /** Where limiter state lives. @default a MemoryStore */
  store?: Store
  /** The clock (tests inject one). @default Date.now */
  now?: () => number
  /** 429 body format. @default 'problem' */
  body?: BodyFormat
  /** One line per noteworthy event (limited requests, store errors). @default console.log */
  log?: (line: string) => void
  /**
   * Express's `trust proxy`: the number of reverse proxies in front of the demo, or their
   * addresses (`'loopback'`, `'10.0.0.0/8'`). Only with a proxy in front: otherwise any client
   * picks its IP with X-Forwarded-For. @default none trusted (the IP is the TCP peer)
   */
  trustProxy?: number | string
  /**
   * A prom-client registry to export the limiter's metrics to, served at GET /metrics (and the
   * most limited subjects at GET /metrics/top-limited). `startDemo` passes one when prom-client
   * is installed. @default none: no /metrics
   */
  metrics?: PrometheusRegistry & { metrics(): Promise<string>; readonly contentType: string }
}

export interface Demo {
  readonly app: Express
  readonly limiter: Limiter
  /** Closes the limiter (not a store passed in). */
  close(): Promise<void>
}

/** Builds the demo API (no server: `app.listen` or `startDemo` does that). */
export function createDemo(options: DemoOptions = {}): Demo {
  const log = options.log ?? ((line: string) => console.log(line))
  const body = options.body ?? 'problem'
  if (!BODIES.includes(body))
    throw new TypeError(`createDemo(): "body" must be one of ${BODIES.join(', ')}, received ${JSON.stringify(body)}`)

  // One limiter (one store) for every limit of the demo; each middleware names its policies.
  const limiter = createLimiter({
    store: options.store ?? new MemoryStore({ maxKeys: 100_000 }),
    // Used only by requests the plan doesn't cover (none here).
    policies: TIERS.anonymous.policies,
    now: options.now,
    onStoreError: options.store === undefined ? 'allow' : 'fallback',
  })
  limiter.on('limited', (d) =>
    log(
      `429 ${keyFingerprint(d.key)}${d.tier ? ` (${d.tier})` : ''}: ${d.violated.join(', ')}; retry in ${Math.ceil(d.retryAfterMs / 1000)}s`,
    ),
  )
  limiter.on('store-error', (e) => log(`store error (${e.action}): ${e.error instanceof Error ? e.error.message : String(e.error)}`))

  /** The API key each authenticated request presented. */
  const authenticated = new WeakMap<object, string>()
  const keyOf = (req: unknown): string | undefined => {
    const key = typeof req === 'object' && req !== null ? authenticated.get(req) : undefined
    return key === undefined ? undefined : `key:${key}`
  }

  const plan = providerPlan({
    // Only keys the demo knows reach the plan; no key → undefined → the anonymous tier, per IP.
    key: (raw) => keyOf(raw),
    classes: {
      methods: { DELETE: 'write' },
      routes: {
        'POST /v1/jobs': 'create',
        ...AUTH_ENDPOINTS,
      },
    },
    tiers: TIERS,
    tier: tierByPrefix({ pk_: 'public_key', sk_: 'secret_key' }, { otherwise: 'anonymous' }),
    // A lookup in "the database", cached: most requests never wait for it.
    team: cachedLookup(async (key) => TEAMS[key.replace(/^key:/, '')], { ttl: '1m' }),
    // Looking at your limits charges none of them (it has its own limit, below).
    // (The path, not the route: the limiter runs before Express has matched a route.)
    cost: (req) => (req.path === '/v1/rate-limits' ? 0 : 1),
  })

  const app = express()
  app.disable('x-powered-by')
  // No proxy is trusted unless told: with `trust proxy` set, a client connecting directly (even
  // from loopback) picks its IP with X-Forwarded-For and escapes every per-IP limit.
  if (options.trustProxy !== undefined) app.set('trust proxy', options.trustProxy)
  app.use((req, res, next) => {
    const given = req.get('x-request-id')
    const id = given !== undefined && /^[\w.-]{1,64}$/.test(given) ? given : `req_${randomBytes(6).toString('hex')}`
    req.headers['x-request-id'] = id
    res.setHeader('X-Request-Id', id)
    next()
  })
  app.get('/health', (_req, res) => {
    res.json({ ok: true })
  })
  const registry = options.metrics
  if (registry !== undefined) {
    // Decisions by outcome, policy, class and tier; never a key. The scrape is not rate limited.
    prometheusMetrics(limiter, { registry })
    const top = topLimited(limiter, { size: 20, subject: (d) => keyFingerprint(d.key) })
    app.get('/metrics', async (_req, res, next) => {
      try {
        res.type(registry.contentType).send(await registry.metrics())
      } catch (error) {
        next(error)
      }
    })
    app.get('/metrics/top-limited', (_req, res) => {
      res.json({ total: top.total, top: top.top() })
    })
  }

  // 1. Every request, per IP, before anything else.
  app.use(rateLimit({ limiter, policies: IP_LIMIT, body, requestId: 'x-request-id' }))
  // 2. Authentication: a key the demo does not know is refused (it has been counted by IP above).
  app.use(function authenticate(req: Request, res: Response, next: NextFunction) {
    const value = req.get('authorization')
    if (value === undefined) return next() // anonymous: the anonymous tier, per IP
    const token = /^bearer /i.test(value) ? value.slice(7).trim() : ''
    if (!API_KEYS.has(token)) {
      res.status(401).setHeader('WWW-Authenticate', 'Bearer error="invalid_token"')
      res.type('application/problem+json').send(
        JSON.stringify({
          type: 'about:blank',
          title: 'Unauthorized',
          status: 401,
          detail: 'Unknown API key: send Authorization: Bearer <key> with a key of this API, or no key at all.',
          'request-id': req.get('x-request-id'),
        }),
      )
      return
    }
    authenticated.set(req, token)
    next()
  })
  // 3. GET /v1/rate-limits: its own cheap limit (the key limits below only peek for it).
  app.get('/v1/rate-limits', rateLimit({ limiter, policies: RATE_LIMITS_LIMIT, key: keyOf, body, requestId: 'x-request-id' }))

  // 4. The key (or anonymous) limits: tiers, classes, the team ceiling.
  const limit = rateLimit({ limiter, plan, body, requestId: 'x-request-id' })
  const listings = new Map<string, { id: string; title: string }>([
    ['lst_1', { id: 'lst_1', title: 'Sunny flat' }],
    ['lst_2', { id: 'lst_2', title: 'Quiet studio' }],
  ])
  let jobs = 0

  const router = express.Router()
  router.use(limit)
  router.get('/', (_req, res) => {
    res.json({
      name: 'ratekeeper demo API',
      try: ['GET /v1/listings', 'POST /v1/listings', 'POST /v1/jobs', 'POST /auth/token', 'GET /v1/rate-limits'],
      keys: { public: 'pk_test_demo', secret: 'sk_test_demo', 'team acme': Object.keys(TEAMS) },
    })
  })
  router.get(
    '/v1/rate-limits',
    rateLimitsRoute({ limiter, plan, classes: ['read', 'write', 'create', ...Object.values(AUTH_ENDPOINTS)], requestId: 'x-request-id' }),
  )
  router.get('/v1/listings', (_req, res) => {
    res.json({ data: [...listings.values()] })
  })
  router.get('/v1/listings/:id', (req, res) => {
    const listing = listings.get(String(req.params.id))
    if (listing === undefined) res.status(404).json({ error: 'not found' })
    else res.json({ data: listing })
  })
  router.post('/v1/listings', (_req, res) => {
    const id = `lst_${listings.size + 1}`
    listings.set(id, { id, title: 'New listing' })
    res.status(201).json({ data: listings.get(id) })
  })
  router.delete('/v1/listings/:id', (req, res) => {
    listings.delete(String(req.params.id))
    res.status(204).end()
  })
  router.post('/v1/jobs', (_req, res) => {
    jobs++
    res.status(202).json({ data: { id: `job_${jobs}`, status: 'queued' } })
  })
  const token = (_req: Request, res: express.Response) => {
    res.json({ access_token: `at_${randomBytes(12).toString('hex')}`, expires_in: 3600 })
  }
  router.post('/auth/token', token)
  router.post('/auth/refresh', token)
  router.post('/auth/validate', (_req, res) => {
    res.json({ valid: true })
  })
  app.use(router)

  return { app, limiter, close: () => limiter.close() }
}

// --- Running it ---------------------------------------------------------------------------------

export interface StartOptions {
  /** 0 picks a free port. @default 3000 */
  port?: number
  /** @default '127.0.0.1' */
  host?: string
  /** Use Redis at this URL (`redis://` or `rediss://`) instead of the memory store. */
  redisUrl?: string
  /** Prefix of the Redis keys. @default 'rk-demo' */
  redisPrefix?: string
  /** How long the first connection to Redis may take before the demo gives up. @default 5000 */
  redisStartTimeoutMs?: number
  /** Use PostgreSQL at this URL (`postgres://` or `postgresql://`) instead of the memory store. */
  databaseUrl?: string
  /** The PostgreSQL table (created if missing). @default 'rk_demo_state' */
  databaseTable?: string
  /** Express's `trust proxy` (see {@link DemoOptions.trustProxy}). @default none trusted */
  trustProxy?: number | string
  body?: BodyFormat
  log?: (line: string) => void
}

export interface RunningDemo {
  readonly url: string
  readonly server: Server
  readonly store: 'memory' | 'redis' | 'postgres'
  /** Stops accepting connections, closes open ones, the limiter and Redis or PostgreSQL. Idempotent. */
  close(): Promise<void>
}

/** Redis could not be used at start-up: the message names REDIS_URL, its password masked. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError'
}

const REDIS_URL_HELP = 'REDIS_URL must be a redis:// or rediss:// URL (redis://[user:password@]host:port[/db])'

/** The URL with its password masked (`redis://user:***@host:6379`); throws when it is not a redis(s):// URL. */
export function maskRedisUrl(text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new RangeError(REDIS_URL_HELP)
  }
  if ((url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '') throw new RangeError(REDIS_URL_HELP)
  if (url.password !== '') url.password = '***'
  return url.href
}

/**
 * Connects to Redis once, within `timeoutMs`. A Redis the demo can't reach at start-up is a
 * wrong REDIS_URL (or a Redis that is not running): it is reported, not retried forever. Once
 * connected, the client reconnects as usual (the limiter answers from its fallback meanwhile).
 */
async function connectRedis(url: string, timeoutMs: number, log: (line: string) => void): Promise<Redis> {
  const shown = maskRedisUrl(url)
  const password = new URL(url).password
  const secrets = password === '' ? [] : [password, decodeURIComponent(password)]
  const hide = (text: string) => secrets.reduce((t, secret) => t.split(secret).join('***'), text)
  let connected = false
  let firstError: Error | undefined
  const redis = new Redis(url, {
    lazyConnect: true,
    // Fail fast rather than queue commands while Redis is away; RedisStore bounds every call anyway.
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
    // One attempt until the first connection; after it, reconnect with a capped back-off.
    retryStrategy: (times) => (connected ? Math.min(times * 100, 2000) : null),
  })
  redis.on('error', (error: Error) => {
    if (connected) log(`redis: ${hide(error.message)}`)
    else firstError ??= error
  })
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs)
  })
  try {
    const outcome = await Promise.race([redis.connect().then(() => 'connected' as const), deadline])
    if (outcome === 'timeout') throw new Error(`no answer within ${timeoutMs} ms`)
    connected = true
    return redis
  } catch (error) {
    // (Ended already after the one attempt: disconnecting again would hold the process 2 s.)
    if (redis.status !== 'end') redis.disconnect()
    const cause = firstError ?? error
    const reason = hide(cause instanceof Error ? cause.message : String(cause)).replace(/\.+$/, '')
    throw new RedisUnavailableError(
      `cannot use Redis at REDIS_URL=${shown}: ${reason}. Fix REDIS_URL (or start Redis), or unset REDIS_URL to run on the in-memory store.`,
      { cause },
    )
  } finally {
    clearTimeout(timer)
  }
}

/** PostgreSQL could not be used at start-up: the message names DATABASE_URL, its password masked. */
export class PostgresUnavailableError extends Error {
  override readonly name = 'PostgresUnavailableError'
}

const DATABASE_URL_HELP = 'DATABASE_URL must be a postgres:// or postgresql:// URL (postgres://[user:password@]host:port/database)'

/** The URL with its password masked; throws when it is not a postgres(ql):// URL. */
export function maskDatabaseUrl(text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new RangeError(DATABASE_URL_HELP)
  }
  if ((url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') || url.hostname === '') throw new RangeError(DATABASE_URL_HELP)
  if (url.password !== '') url.password = '***'
  return url.href
}

/**
 * Connects to PostgreSQL once, within `timeoutMs`, and creates the table if missing. As for
 * Redis, a database the demo can't use at start-up is reported, not retried forever.
 */
async function connectPostgres(
  url: string,
  table: string,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<{ pool: pg.Pool; store: PostgresStore }> {
  const shown = maskDatabaseUrl(url)
  const password = new URL(url).password
  const secrets = password === '' ? [] : [password, decodeURIComponent(password)]
  const hide = (text: string) => secrets.reduce((t, secret) => t.split(secret).join('***'), text)
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: timeoutMs })
  // An idle connection that breaks is replaced on the next query; the limiter bounds every call.
  pool.on('error', (error) => log(`postgres: ${hide(error.message)}`))
  try {
    const store = new PostgresStore({ pool, table, timeoutMs: 100 })
    await store.createSchema()
    return { pool, store }
  } catch (error) {
    await pool.end().catch(() => {})
    const reason = hide(error instanceof Error ? error.message : String(error)).replace(/\.+$/, '')
    throw new PostgresUnavailableError(
      `cannot use PostgreSQL at DATABASE_URL=${shown}: ${reason}. Fix DATABASE_URL (or start PostgreSQL), or unset DATABASE_URL to run on the in-memory store.`,
      { cause: error },
    )
  }
}

/** A new prom-client registry when prom-client is installed (an optional peer dependency), else undefined: no /metrics. */
async function promRegistry(log: (line: string) => void): Promise<DemoOptions['metrics']> {
  try {
    const client = await import('prom-client')
    return new client.Registry()
  } catch {
    log('prom-client is not installed: no /metrics (npm install prom-client)')
    return undefined
  }
}

/** Starts the demo API and resolves once it listens. Rejects with {@link RedisUnavailableError} when Redis can't be used. */
export async function startDemo(options: StartOptions = {}): Promise<RunningDemo> {
  const log = options.log ?? ((line: string) => console.log(line))
  let redis: Redis | undefined
  let pool: pg.Pool | undefined
  let store: Store | undefined
  if (options.redisUrl !== undefined && options.databaseUrl !== undefined) {
    throw new RangeError('set REDIS_URL or DATABASE_URL, not both: the demo keeps its limits in one store')
  }
  if (options.redisUrl !== undefined) {
    redis = await connectRedis(options.redisUrl, options.redisStartTimeoutMs ?? 5000, log)
    store = new RedisStore({ client: redis, prefix: options.redisPrefix ?? 'rk-demo', timeoutMs: 100 })
  } else if (options.databaseUrl !== undefined) {
    ;({ pool, store } = await connectPostgres(options.databaseUrl, options.databaseTable ?? 'rk_demo_state', 5000, log))
  }
  const demo = createDemo({ store, body: options.body, log, trustProxy: options.trustProxy, metrics: await promRegistry(log) })
  const server = demo.app.listen(options.port ?? 3000, options.host ?? '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  }).catch(async (error) => {
    await demo.close()
    await store?.close()
    redis?.disconnect()
    await pool?.end()
    throw error
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  let closing: Promise<void> | undefined
  return {
    url: `http://${host}:${address.port}`,
    server,
    store: redis !== undefined ? 'redis' : pool !== undefined ? 'postgres' : 'memory',
    close: () => {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve())
          server.closeAllConnections()
        })
        await demo.close()
        await store?.close()
        if (redis !== undefined) await redis.quit().catch(() => redis?.disconnect())
        await pool?.end()
      })()
      return closing
    },
  }
}

/** Reads the port from `--port N` / `--port=N` or `PORT`; throws on anything but 0-65535. */
export function parsePort(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): number {
  const { values } = parseArgs({ args: [...argv], options: { port: { type: 'string' } }, strict: true, allowPositionals: false })
  const [source, text] = values.port !== undefined ? ['--port', values.port] : ['PORT', env.PORT]
  if (text === undefined || text === '') return 3000
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new RangeError(`${source} must be a port number from 0 to 65535, received ${JSON.stringify(text)}`)
  }
  return Number(text)
}

/** Reads REDIS_URL (empty or unset: the memory store); throws, without echoing it, when it is not a redis(s):// URL. */
export function parseRedisUrl(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const text = env.REDIS_URL
  if (text === undefined || text === '') return undefined
  maskRedisUrl(text)
  return text
}

/** Reads DATABASE_URL (empty or unset: no PostgreSQL); throws, without echoing it, when it is not a postgres(ql):// URL. */
export function parseDatabaseUrl(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const text = env.DATABASE_URL
  if (text === undefined || text === '') return undefined
  maskDatabaseUrl(text)
  if (env.REDIS_URL !== undefined && env.REDIS_URL !== '')
    throw new RangeError('set REDIS_URL or DATABASE_URL, not both: the demo keeps its limits in one store')
  return text
}

/**
 * Reads TRUST_PROXY: empty or unset trusts no proxy; a hop count from 1 to 10 (`1`: one reverse
 * proxy in front); or addresses/ranges Express accepts (`loopback`, `10.0.0.0/8, 192.168.0.1`).
 * `true` (trust every hop) is refused: any client would pick its IP.
 */
export function parseTrustProxy(env: Readonly<Record<string, string | undefined>>): number | string | undefined {
  const text = env.TRUST_PROXY?.trim()
  if (text === undefined || text === '') return undefined
  if (/^\d+$/.test(text)) {
    const hops = Number(text)
    if (hops < 1 || hops > 10) throw new RangeError(`TRUST_PROXY must be a hop count from 1 to 10, received ${JSON.stringify(text)}`)
    return hops
  }
  if (/^(?:true|false|\*)$/i.test(text) || !/^[\w.:/, -]+$/.test(text)) {
    throw new RangeError(
      `TRUST_PROXY must be a hop count (1-10) or proxy addresses (e.g. "loopback", "10.0.0.0/8"), received ${JSON.stringify(text)}`,
    )
  }
  return text
}

/** Reads BODY; throws on an unknown format. */
export function parseBody(env: Readonly<Record<string, string | undefined>>): BodyFormat {
  const text = env.BODY
  if (text === undefined || text === '') return 'problem'
  if (!(BODIES as readonly string[]).includes(text)) {
    throw new RangeError(`BODY must be one of ${BODIES.join(', ')}, received ${JSON.stringify(text)}`)
  }
  return text as BodyFormat
}

/** The help printed at startup: where it listens and a few requests to try. */
export function banner(url: string, store: string): string {
  return [
    `ratekeeper demo API listening on ${url} (store: ${store})`,
    '',
    'Try:',
    `  curl -i ${url}/v1/listings -H "Authorization: Bearer pk_test_demo"`,
    `  curl -s ${url}/v1/rate-limits -H "Authorization: Bearer sk_test_acme_server"`,
    `  curl -i -X POST ${url}/v1/jobs -H "Authorization: Bearer pk_test_demo"`,
    `  curl -i ${url}/v1/listings -H "Authorization: Bearer sk_test_made_up"   # 401: unknown keys are refused`,
    `  for i in $(seq 25); do curl -s -o /dev/null -w "%{http_code} " -X POST ${url}/auth/token; done; echo`,
    `  for i in $(seq 160); do curl -s -o /dev/null -w "%{http_code} " ${url}/v1/listings -H "Authorization: Bearer pk_test_demo"; done; echo`,
    '',
    'Ctrl-C stops it.',
  ].join('\n')
}

async function main(): Promise<void> {
  let port: number
  let body: BodyFormat
  let redisUrl: string | undefined
  let databaseUrl: string | undefined
  let trustProxy: number | string | undefined
  try {
    port = parsePort(process.argv.slice(2), process.env)
    body = parseBody(process.env)
    redisUrl = parseRedisUrl(process.env)
    databaseUrl = parseDatabaseUrl(process.env)
    trustProxy = parseTrustProxy(process.env)
  } catch (error) {
    console.error(`demo: ${error instanceof Error ? error.message : String(error)}`)
    process.exitCode = 2
    return
  }
  let running: RunningDemo
  try {
    running = await startDemo({ port, redisUrl, databaseUrl, body, trustProxy, host: process.env.HOST || '127.0.0.1' })
  } catch (error) {
    // Asked for Redis (or PostgreSQL) and unable to use it, the demo stops: falling back to memory would hide
    // that several demo processes no longer share their counts.
    if (error instanceof RedisUnavailableError || error instanceof PostgresUnavailableError) console.error(`demo: ${error.message}`)
    else console.error(`demo: could not start: ${error instanceof Error ? error.message : String(error)}`)
    process.exitCode = 1
    return
  }
  console.log(banner(running.url, running.store))
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) {
      console.log('demo: forced exit')
      process.exit(1)
    }
    stopping = true
    console.log(`\ndemo: ${signal}, shutting down`)
    running.close().then(
      () => console.log('demo: stopped'),
      (error: unknown) => {
        console.error(`demo: error while stopping: ${String(error)}`)
        process.exitCode = 1
      },
    )
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
