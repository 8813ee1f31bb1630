// One HTTP server under test, in a process of its own (started by bench/http.ts with IPC): the
// framework bare, with ratekeeper, or with the peer limiter. It listens on an ephemeral loopback
// port, reports `{ port }` when ready and answers `cpu` messages with its process.cpuUsage().
//
//   node --import tsx bench/http-server.ts <variant> [redis prefix]

import { Redis } from 'ioredis'
import type { Policy } from 'ratekeeper'
import { concurrency, tokenBucket } from 'ratekeeper'

const FLOOR_LABEL =
  "ratekeeper's rate policy plus a count of each client's requests in flight, lowered when the response ends (reference: what any in-process concurrency limit adds at least)"

export const VARIANTS = [
  'express-bare',
  'express-sync-noop',
  'express-async-noop',
  'express-headers',
  'express-ratekeeper',
  'express-concurrency',
  'express-concurrency-floor',
  'express-peer',
  'fastify-bare',
  'fastify-headers',
  'fastify-429',
  'fastify-ratekeeper',
  'fastify-concurrency',
  'fastify-concurrency-floor',
  'fastify-peer',
  'fastify-metrics-prometheus',
  'fastify-metrics-otel',
  'fastify-metrics-otel-ratio',
  'koa-bare',
  'koa-headers',
  'koa-ratekeeper',
  'koa-peer',
  'fastify-redis-ratekeeper',
  'fastify-redis-peer',
  'fastify-redis-ratekeeper-limited',
  'fastify-redis-peer-limited',
] as const
export type Variant = (typeof VARIANTS)[number]

/** How each server is named in the tables of the HTTP and instructions sections. */
export const LABELS: { readonly [V in Variant]: string } = {
  'express-bare': 'bare Express 5',
  'express-sync-noop': 'an empty middleware (reference)',
  'express-async-noop': 'an empty `async` middleware (reference)',
  'express-headers': "a middleware that only sets ratekeeper's five headers (reference)",
  'express-ratekeeper': 'ratekeeper',
  'express-concurrency': 'ratekeeper, one concurrency policy (lease released at each response end)',
  'express-concurrency-floor': FLOOR_LABEL,
  'express-peer': 'express-rate-limit',
  'fastify-bare': 'bare Fastify 5',
  'fastify-headers': "an `onRequest` hook that only sets ratekeeper's five headers (reference)",
  'fastify-429': "an `onRequest` hook that only sends ratekeeper's 429 (seven headers and the problem body) to every request (reference)",
  'fastify-ratekeeper': 'ratekeeper',
  'fastify-concurrency': 'ratekeeper, one concurrency policy (lease released at each response end)',
  'fastify-concurrency-floor': FLOOR_LABEL,
  'fastify-peer': '@fastify/rate-limit',
  'fastify-metrics-prometheus': 'ratekeeper with metrics (Prometheus): `prometheusMetrics` on a prom-client registry',
  'fastify-metrics-otel': 'ratekeeper with metrics (OpenTelemetry): `openTelemetryMetrics` on the SDK (a periodic reader, 60 s)',
  'fastify-metrics-otel-ratio': 'ratekeeper with metrics (OpenTelemetry, `remainingRatio: true`: a histogram recorded per decision)',
  'koa-bare': 'bare Koa 3',
  'koa-headers': "a middleware that only sets ratekeeper's five headers (reference)",
  'koa-ratekeeper': 'ratekeeper',
  'koa-peer': 'koa-ratelimit (memory driver)',
  'fastify-redis-ratekeeper': 'ratekeeper `RedisStore`',
  'fastify-redis-peer': '@fastify/rate-limit, Redis',
  'fastify-redis-ratekeeper-limited': 'ratekeeper `RedisStore`, every client already limited (deny cache on)',
  'fastify-redis-peer-limited': '@fastify/rate-limit, Redis, every client already limited',
}

/**
 * ratekeeper's 429 for the "already limited" runs, as fixed strings (the body ends with the
 * request id): the `fastify-429` variant answers every request with it from a hook that does
 * nothing else, which is what sending such an answer costs Fastify.
 */
const FIXED_429_HEADERS: readonly (readonly [string, string])[] = [
  ['x-ratelimit-limit', '1'],
  ['x-ratelimit-remaining', '0'],
  ['x-ratelimit-reset', '1795483297'],
  ['ratelimit-policy', '"1-per-3600000ms";q=1;w=3600'],
  ['ratelimit', '"1-per-3600000ms";r=0;t=3600'],
  ['retry-after', '3600'],
  ['content-type', 'application/problem+json'],
]
const FIXED_429_BODY =
  '{"type":"https://iana.org/assignments/http-problem-types#quota-exceeded","title":"Request cannot be satisfied as assigned quota has been exceeded",' +
  '"status":429,"detail":"Rate limit exceeded (policy \\"1-per-3600000ms\\"); retry after 3600 seconds.","violated-policies":["1-per-3600000ms"],"retry-after":3600,"request-id":'

/** Nothing is ever denied in the throughput runs; the "limited" runs admit one request an hour. */
const HUGE = 1_000_000_000
const WINDOW_MS = 60_000
const LIMITED_WINDOW_MS = 3_600_000
/** The concurrency variants: a limit the 50 connections never reach. */
const IN_FLIGHT = () => [concurrency({ limit: 100_000 })]

// Peers are loaded by a computed name: their type augmentations (@fastify/rate-limit adds its own
// `config.rateLimit`) must not meet ratekeeper's in one compilation.
type Loaded = Record<string, unknown> & { default?: unknown }
const load = (name: string): Promise<Loaded> => import(name) as Promise<Loaded>
const defaultOf = <T>(module: Loaded): T => (module.default ?? module) as T

type Handler = (...args: never[]) => unknown

/**
 * The five headers ratekeeper sends by default for this benchmark's policy, as fixed strings: the
 * `*-headers` variants set them from a hook that does nothing else, which is what writing them
 * costs the framework (a floor for any limiter that sends them).
 */
const FIXED_HEADERS: readonly (readonly [string, string])[] = [
  ['x-ratelimit-limit', '1000000000'],
  ['x-ratelimit-remaining', '999999999'],
  ['x-ratelimit-reset', '1795478573'],
  ['ratelimit-policy', '"1000000000-per-60000ms";q=1000000000;w=60'],
  ['ratelimit', '"1000000000-per-60000ms";r=999999999;t=1'],
]

/** The concurrency floor's count: one more in flight for `key`; the function returned lowers it, once. */
function inFlightCount(): (key: string) => () => void {
  const inFlight = new Map<string, number>()
  return (key) => {
    inFlight.set(key, (inFlight.get(key) ?? 0) + 1)
    let open = true
    return () => {
      if (!open) return
      open = false
      inFlight.set(key, (inFlight.get(key) ?? 1) - 1)
    }
  }
}

/** ratekeeper's and the peer's Redis clients have the same options (as in bench/redis.ts). */
const redisClient = () => new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { enableAutoPipelining: true })
type Listen = (port: number, host: string) => Promise<number>

async function express(variant: Variant): Promise<Listen> {
  const { default: createApp } = await import('express')
  const app = createApp()
  if (variant === 'express-sync-noop') {
    app.use((_req, _res, next) => {
      next()
    })
  } else if (variant === 'express-async-noop') {
    app.use(async (_req, _res, next) => {
      next()
    })
  } else if (variant === 'express-headers') {
    app.use((_req, res, next) => {
      for (const [name, value] of FIXED_HEADERS) res.setHeader(name, value)
      next()
    })
  } else if (variant === 'express-ratekeeper') {
    const { rateLimit } = await import('ratekeeper/express')
    app.use(rateLimit({ policies: [tokenBucket({ limit: HUGE, window: WINDOW_MS })] }))
  } else if (variant === 'express-concurrency') {
    const { rateLimit } = await import('ratekeeper/express')
    app.use(rateLimit({ policies: IN_FLIGHT() }))
  } else if (variant === 'express-concurrency-floor') {
    const { rateLimit } = await import('ratekeeper/express')
    app.use(rateLimit({ policies: [tokenBucket({ limit: HUGE, window: WINDOW_MS })] }))
    const count = inFlightCount()
    app.use((req, res, next) => {
      const done = count(req.socket.remoteAddress ?? '')
      res.on('finish', done)
      res.on('close', done)
      next()
    })
  } else if (variant === 'express-peer') {
    const erl = defaultOf<(options: object) => Handler>(await load('express-rate-limit'))
    app.use(erl({ windowMs: WINDOW_MS, limit: HUGE }) as never)
  }
  app.get('/', (_req, res) => {
    res.send('hello')
  })
  return (port, host) =>
    new Promise((resolve) => {
      const server = app.listen(port, host, () => resolve((server.address() as { port: number }).port))
    })
}

async function koa(variant: Variant): Promise<Listen> {
  const { default: Koa } = await import('koa')
  const app = new Koa()
  if (variant === 'koa-headers') {
    app.use((ctx, next) => {
      for (const [name, value] of FIXED_HEADERS) ctx.set(name, value)
      return next()
    })
  } else if (variant === 'koa-ratekeeper') {
    const { rateLimit } = await import('ratekeeper/koa')
    app.use(rateLimit({ policies: [tokenBucket({ limit: HUGE, window: WINDOW_MS })] }))
  } else if (variant === 'koa-peer') {
    const ratelimit = defaultOf<(options: object) => Handler>(await load('koa-ratelimit'))
    app.use(ratelimit({ driver: 'memory', db: new Map(), duration: WINDOW_MS, max: HUGE, id: (ctx: { ip: string }) => ctx.ip }) as never)
  }
  app.use((ctx) => {
    ctx.body = 'hello'
  })
  return (port, host) =>
    new Promise((resolve) => {
      const server = app.listen(port, host, () => resolve((server.address() as { port: number }).port))
    })
}

async function fastify(variant: Variant, prefix: string): Promise<Listen> {
  const { default: createApp } = await import('fastify')
  const app = createApp()
  const limited = variant.endsWith('-limited')
  const policies: Policy[] = limited
    ? [tokenBucket({ limit: 1, window: LIMITED_WINDOW_MS })]
    : [tokenBucket({ limit: HUGE, window: WINDOW_MS })]
  if (variant === 'fastify-headers') {
    app.addHook('onRequest', (_request, reply, done) => {
      for (const [name, value] of FIXED_HEADERS) reply.header(name, value)
      done()
    })
  } else if (variant === 'fastify-429') {
    app.addHook('onRequest', (request, reply, _done) => {
      for (const [name, value] of FIXED_429_HEADERS) reply.header(name, value)
      reply.code(429).send(Buffer.from(`${FIXED_429_BODY}${JSON.stringify(request.id)}}`))
    })
  } else if (variant === 'fastify-ratekeeper') {
    const { default: plugin } = await import('ratekeeper/fastify')
    await app.register(plugin, { policies })
  } else if (variant.startsWith('fastify-metrics-')) {
    // The same server as fastify-ratekeeper, with a limiter of its own exported.
    const { default: plugin } = await import('ratekeeper/fastify')
    const { createLimiter } = await import('ratekeeper')
    const limiter = createLimiter({ policies })
    await exportMetrics(variant, limiter)
    await app.register(plugin, { limiter })
  } else if (variant === 'fastify-concurrency') {
    const { default: plugin } = await import('ratekeeper/fastify')
    await app.register(plugin, { policies: IN_FLIGHT() })
  } else if (variant === 'fastify-concurrency-floor') {
    const { default: plugin } = await import('ratekeeper/fastify')
    await app.register(plugin, { policies })
    const count = inFlightCount()
    app.addHook('onRequest', (request, reply, done) => {
      const end = count(request.ip)
      reply.raw.on('finish', end)
      reply.raw.on('close', end)
      done()
    })
  } else if (variant === 'fastify-peer') {
    const plugin = defaultOf<never>(await load('@fastify/rate-limit'))
    await app.register(plugin, { max: HUGE, timeWindow: WINDOW_MS } as never)
  } else if (variant.startsWith('fastify-redis-ratekeeper')) {
    const { default: plugin } = await import('ratekeeper/fastify')
    const { RedisStore } = await import('ratekeeper/redis')
    const client = redisClient()
    await app.register(plugin, { policies, store: new RedisStore({ client, prefix, denyCache: limited }) })
  } else if (variant.startsWith('fastify-redis-peer')) {
    const plugin = defaultOf<never>(await load('@fastify/rate-limit'))
    const redis = redisClient()
    await app.register(plugin, {
      max: limited ? 1 : HUGE,
      timeWindow: limited ? LIMITED_WINDOW_MS : WINDOW_MS,
      redis,
      nameSpace: `${prefix}-peer-`,
    } as never)
  }
  app.get('/', async () => 'hello')
  return async (port, host) => {
    await app.listen({ port, host })
    return (app.server.address() as { port: number }).port
  }
}

/** Exports the limiter's metrics the way an application would: prom-client's registry, or the OpenTelemetry SDK. */
async function exportMetrics(variant: Variant, limiter: import('ratekeeper').Limiter): Promise<void> {
  const { openTelemetryMetrics, prometheusMetrics } = await import('ratekeeper/metrics')
  if (variant === 'fastify-metrics-prometheus') {
    const { Registry } = await import('prom-client')
    prometheusMetrics(limiter, { registry: new Registry() })
    return
  }
  const sdk = await import('@opentelemetry/sdk-metrics')
  const exporter = new sdk.InMemoryMetricExporter(sdk.AggregationTemporality.CUMULATIVE)
  const reader = new sdk.PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 })
  const provider = new sdk.MeterProvider({ readers: [reader] })
  openTelemetryMetrics(limiter, { meter: provider.getMeter('ratekeeper'), remainingRatio: variant === 'fastify-metrics-otel-ratio' })
}

async function main(): Promise<void> {
  const variant = process.argv[2] as Variant
  const prefix = process.argv[3] ?? `rk-bench-${process.pid}`
  if (!VARIANTS.includes(variant)) throw new Error(`unknown variant ${variant}; known: ${VARIANTS.join(', ')}`)
  const listen = variant.startsWith('express')
    ? await express(variant)
    : variant.startsWith('koa')
      ? await koa(variant)
      : await fastify(variant, prefix)
  const port = await listen(0, '127.0.0.1')
  process.on('message', (message) => {
    if (message === 'cpu') {
      const { user, system } = process.cpuUsage()
      process.send?.({ cpu: user + system })
    } else if (message === 'exit') {
      process.exit(0)
    }
  })
  process.send?.({ port })
}

if (process.send !== undefined) {
  main().catch((error: unknown) => {
    console.error(error)
    process.exit(1)
  })
}
