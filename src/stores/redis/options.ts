import { checkInteger, checkKnownOptions, checkNotGivenBare, invalid } from '../../limiter/errors.js'
import { type ResolvedOptions, type ResolvingTable, resolveOptionTable } from '../../limiter/option-table.js'
import type { RedisClient } from './client.js'
import { checkPrefix } from './keys.js'
import { isNodeRedis, wrapNodeRedis } from './node-redis.js'

/** Which clock decides: Redis `TIME` (one clock for every app server) or the limiter's `now`. */
export type RedisClock = 'redis' | 'caller'

/**
 * A node-redis client (the `redis` package, v4, v5 or v6): `createClient(…)` or
 * `createCluster(…)`, connected (`await client.connect()`). The store wraps it into a
 * {@link RedisClient}.
 */
export interface NodeRedisClient {
  readonly isOpen: boolean
  sendCommand(...args: never[]): Promise<unknown>
}

/** Options of the deny cache. */
export interface DenyCacheOptions {
  /**
   * Most denials remembered; the least recently used go first.
   * @default 10_000
   */
  maxEntries?: number
}

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /**
   * The Redis client, which stays yours (`close()` doesn't quit it): ioredis 5 or 6 or iovalkey
   * (`new Redis(url)`, `new Redis.Cluster(nodes)`), node-redis 4, 5 or 6 (`createClient`,
   * `createCluster`, connected), or an adapter for any other client ({@link RedisClient}).
   */
  client: RedisClient | NodeRedisClient
  /**
   * Start of every key: `<prefix>:{<tag>}:…`. Letters, digits and `_ . : / -`.
   * @default 'rk'
   */
  prefix?: string
  /**
   * Deadline of every call, ms. A call that Redis has not answered by then rejects with
   * `ERR_RK_STORE_TIMEOUT` (the limiter then applies `onStoreError`), and the script refuses to
   * run if Redis only gets to it later (after a pause), so a late call never writes.
   * @default 100
   */
  timeoutMs?: number
  /**
   * `'redis'`: decide on Redis `TIME`, so app servers whose clocks disagree still share one
   * clock. `'caller'`: decide on the limiter's `now` (tests, or apps that prefer their own clock).
   * @default 'redis'
   */
  clock?: RedisClock
  /**
   * Remember denials locally: a request denied until X is answered without Redis until X.
   * Exact within this process; a reset or refund made by another process is only seen at X.
   * `true` keeps up to 10,000 denials.
   * @default false
   */
  denyCache?: boolean | DenyCacheOptions
  /**
   * Added to every key's TTL, ms. Keys hold their state exactly as long as it matters; with
   * `clock: 'caller'` and a simulated clock that runs slower than real time, this keeps them
   * from expiring (in Redis time) while the caller's clock still needs them.
   * @default 0
   */
  extraTtlMs?: number
  /**
   * Replicas that must hold a decision's writes before it is answered (`WAIT`, sent with the
   * script call in one round trip). With `0`, a master that fails over can lose the charges it
   * had not yet replicated (see docs/redis.md, "Cluster in production"); with `1` or more, a
   * request is admitted only once that many replicas have its charge, and a call whose writes
   * don't reach them within its deadline fails with `ERR_RK_STORE` (the limiter applies
   * `onStoreError`; the charge may still stand). Costs a `WAIT` per script call and the
   * replication round trip in latency. Use `timeoutMs` of 250 or more: Redis times `WAIT` out on
   * its 100 ms cron, and the store gives it the deadline less 110 ms.
   * @default 0
   */
  replicas?: number
}

const WHERE = 'new RedisStore()'

const DEFAULT_DENY_ENTRIES = 10_000
const DENY_CACHE_OPTIONS: { readonly [K in keyof Required<DenyCacheOptions>]: true } = { maxEntries: true }

/**
 * Every option of {@link RedisStoreOptions}: its validator, which turns the value given
 * (`undefined`: not passed) into the value the store uses, defaults included, or throws a
 * `ConfigurationError` naming the option. The unknown-option check lists these names; the
 * compiler keeps the table complete.
 */
const OPTIONS = {
  client: (value: unknown): RedisClient => {
    const asText = numbersAsText(value)
    if (asText !== '') {
      invalid(
        WHERE,
        'client',
        `must reply integers as numbers (${asText} makes every script reply unreadable): give the store a client without it`,
        value,
      )
    }
    const tagged = clusterPrefixTag(value)
    if (tagged !== '') {
      invalid(
        WHERE,
        'client',
        `must have no "{" or "}" in its keyPrefix on a Cluster (${tagged}): Redis would hash the prefix's braces, not the store's own tag, and put every subject's keys in one slot`,
        value,
      )
    }
    if (isNodeRedis(value)) return wrapNodeRedis(value)
    const client = value as RedisClient | null
    if (
      typeof client !== 'object' ||
      client === null ||
      typeof client.evalsha !== 'function' ||
      typeof client.eval !== 'function' ||
      typeof client.status !== 'string' ||
      typeof client.on !== 'function'
    ) {
      invalid(
        WHERE,
        'client',
        'must be an ioredis or iovalkey client (new Redis(...), new Cluster(...)), a node-redis client (createClient(...), createCluster(...)), or an adapter with status, evalsha, eval and on (see RedisClient)',
        value,
      )
    }
    return client
  },
  prefix: (value: unknown): string => (value === undefined ? 'rk' : checkPrefix(WHERE, value)),
  timeoutMs: (value: unknown): number => (value === undefined ? 100 : checkInteger(WHERE, 'timeoutMs', value, 1, 60_000)),
  clock: (value: unknown): RedisClock => {
    if (value !== undefined && value !== 'redis' && value !== 'caller') invalid(WHERE, 'clock', "must be 'redis' or 'caller'", value)
    return value ?? 'redis'
  },
  /** The deny cache's size, or `undefined` when it is off. */
  denyCache: (value: unknown): number | undefined => {
    if (value === true) return DEFAULT_DENY_ENTRIES
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const deny = value as DenyCacheOptions
      checkKnownOptions(WHERE, deny, DENY_CACHE_OPTIONS, { prefix: 'denyCache.' })
      return deny.maxEntries === undefined
        ? DEFAULT_DENY_ENTRIES
        : checkInteger(WHERE, 'denyCache.maxEntries', deny.maxEntries, 1, 10_000_000)
    }
    if (value !== undefined && value !== false) invalid(WHERE, 'denyCache', 'must be a boolean or { maxEntries }', value)
    return undefined
  },
  extraTtlMs: (value: unknown): number => (value === undefined ? 0 : checkInteger(WHERE, 'extraTtlMs', value, 0, 365 * 86_400_000)),
  replicas: (value: unknown): number => (value === undefined ? 0 : checkInteger(WHERE, 'replicas', value, 0, 64)),
} satisfies ResolvingTable<RedisStoreOptions>

/** RESP's integer type, as node-redis's `RESP_TYPES.NUMBER` names it in a `typeMapping`. */
const RESP_NUMBER = 58

/** The setting of `client` that hands back Redis's integers as strings, or '' when it has none. */
function numbersAsText(client: unknown): string {
  if (typeof client !== 'object' || client === null) return ''
  type Mapped = { typeMapping?: Record<number, unknown> }
  const c = client as {
    options?: {
      stringNumbers?: unknown
      redisOptions?: { stringNumbers?: unknown }
      commandOptions?: Mapped
      defaults?: { commandOptions?: Mapped }
    }
    _commandOptions?: Mapped
  }
  const options = c.options
  // ioredis and iovalkey: the client's, or a Cluster's for its nodes.
  if (options?.stringNumbers === true || options?.redisOptions?.stringNumbers === true) return 'stringNumbers: true'
  // node-redis: the client's (or a cluster's) typeMapping, or one set with withTypeMapping().
  for (const mapped of [c._commandOptions, options?.commandOptions, options?.defaults?.commandOptions]) {
    const to = mapped?.typeMapping?.[RESP_NUMBER]
    if (to !== undefined && to !== Number) return 'a typeMapping of RESP_TYPES.NUMBER'
  }
  return ''
}

/** Which part of an ioredis or iovalkey Cluster client's `keyPrefix` is a hash tag's brace ('' when none is). */
function clusterPrefixTag(client: unknown): string {
  const c = client as { isCluster?: unknown; options?: { keyPrefix?: unknown; redisOptions?: { keyPrefix?: unknown } } } | null
  if (typeof c !== 'object' || c === null || c.isCluster !== true) return ''
  for (const prefix of [c.options?.keyPrefix, c.options?.redisOptions?.keyPrefix]) {
    const text = typeof prefix === 'string' ? prefix : Buffer.isBuffer(prefix) ? prefix.toString('latin1') : ''
    if (text.includes('{')) return 'it holds "{"'
    if (text.includes('}')) return 'it holds "}"'
  }
  return ''
}

/** The store's settings: every option validated, defaults filled in. */
export type RedisStoreSettings = ResolvedOptions<typeof OPTIONS>

/** Validates the options of `new RedisStore()` (throws a `ConfigurationError`) and fills in the defaults. */
export function resolveOptions(options: RedisStoreOptions): RedisStoreSettings {
  // `new RedisStore(redis)`: the unknown-option check would name one of the client's own fields.
  checkNotGivenBare(
    WHERE,
    options,
    (given) => typeof given.evalsha === 'function' || isNodeRedis(given),
    'new RedisStore({ client })',
    'the Redis client itself',
  )
  const resolved = resolveOptionTable(WHERE, options, OPTIONS)
  // Checked once every option is valid: which client `replicas` needs.
  if (resolved.replicas > 0 && typeof (resolved.client as { pipeline?: unknown }).pipeline !== 'function') {
    invalid(WHERE, 'client', 'must have pipeline() when replicas > 0 (an ioredis or iovalkey client)', resolved.client)
  }
  return resolved
}
