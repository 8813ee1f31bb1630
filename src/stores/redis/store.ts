import { ConfigurationError, checkInteger, checkKnownOptions, checkOptionsObject, invalid, StoreError } from '../../core/errors.js'
import type { Policy } from '../../core/policy.js'
import type { Store, StoreEvents, StoreRefundRequest, StoreRequest, StoreResult } from '../../core/store.js'
import { DeadlineQueue } from './deadlines.js'
import { DenyCache, signatureOf } from './deny-cache.js'
import { checkPrefix, keyHead, policyPart, stateKey } from './keys.js'
import { DECIDE_SCRIPT, DECIDE_SHA, OP_CONSUME, OP_PEEK, OP_REFUND, OP_RESET } from './script.js'

/**
 * The part of an ioredis client (v5 or v6, `Redis` or `Cluster`) that the store uses. Declared
 * structurally so that either major version's classes fit.
 */
export interface RedisClient {
  /** ioredis connection status. The store sends commands only when it is `'ready'`. */
  readonly status: string
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>
  on(event: 'error' | 'ready', listener: (...args: unknown[]) => void): unknown
  connect?(): Promise<void>
}

/** Which clock decides: Redis `TIME` (one clock for every app server) or the limiter's `now`. */
export type RedisClock = 'redis' | 'caller'

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
  /** An ioredis client (v5 or v6), single node (`new Redis(url)`) or `new Redis.Cluster(nodes)`. Stays yours: `close()` doesn't quit it. */
  client: RedisClient
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
}

const KNOWN: { readonly [K in keyof Required<RedisStoreOptions>]: true } = {
  client: true,
  prefix: true,
  timeoutMs: true,
  clock: true,
  denyCache: true,
  extraTtlMs: true,
}
const DENY_KNOWN: { readonly [K in keyof Required<DenyCacheOptions>]: true } = { maxEntries: true }

/** The clock offset is the smallest sample of the current and the previous period of this length. */
const OFFSET_PERIOD_MS = 10_000

type ScriptCall = (...args: unknown[]) => Promise<unknown>
/** Per policy: the key part and the script's numbers `"kind:limit:…"` (built once per policy). */
interface Compiled {
  readonly part: string
  readonly spec: string
}
const compiled: Compiled[] = []
function compile(policy: Policy): Compiled {
  let c = compiled[policy.slot]
  if (c === undefined) {
    c = { part: policyPart(policy), spec: policy.scriptArgs.join(':') }
    compiled[policy.slot] = c
  }
  return c
}

function noop(): void {}

/** What a store wants to hear from its client. */
interface ClientListener {
  error(error: unknown): void
  ready(): void
}

/**
 * One 'error' and one 'ready' listener per client, shared by every store on it (many stores on
 * one client must not pile up listeners).
 */
const watched = new WeakMap<RedisClient, Set<ClientListener>>()

function watch(client: RedisClient, listener: ClientListener): void {
  let set = watched.get(client)
  if (set === undefined) {
    const listeners = new Set<ClientListener>()
    set = listeners
    watched.set(client, listeners)
    client.on('error', (...args: unknown[]) => {
      for (const l of listeners) l.error(args[0])
    })
    client.on('ready', () => {
      for (const l of listeners) l.ready()
    })
  }
  set.add(listener)
}

function unwatch(client: RedisClient, listener: ClientListener): void {
  // The shared listeners stay (an 'error' listener with nobody behind it only keeps ioredis quiet).
  watched.get(client)?.delete(listener)
}

/** One script call in flight. */
interface Call {
  readonly expires: number
  done: boolean
  /** Sent again once already (after NOSCRIPT, or after an early "expired"). */
  resent: boolean
  readonly op: number
  readonly n: number
  /** `[sha or script, numKeys, keys…, argv…]`, as passed to evalsha/eval. */
  readonly args: unknown[]
  /** Local wall-clock ms when the call was (last) sent. */
  sentAt: number
  /** The caller's now (clock 'caller'), else -1. */
  readonly now: number
  /** Deny cache signature (consume/peek with the cache on). */
  readonly signature: string | undefined
  readonly cost: number
  /** The store's invalidation count when the call was made. */
  readonly invalidations: number
  resolve: (result: StoreResult) => void
  reject: (error: Error) => void
}

/**
 * Keeps limiter state in Redis (ioredis v5 or v6, single node or Cluster).
 *
 * - One round trip per decision, whatever the number of policies: a Lua script (the twin of each
 *   policy's TypeScript step function) reads, decides and writes every check atomically.
 * - Time from Redis `TIME`, so app servers with skewed clocks agree.
 * - Every key is written with a TTL; a state that is fresh again is deleted.
 * - Keys of one request share a hash tag: atomic on Redis Cluster, never CROSSSLOT.
 * - Every call has a deadline (`timeoutMs`), fails fast when the client is not connected, and
 *   never writes late. The store never decides to allow: failures reject with a `StoreError`
 *   and the limiter applies its `onStoreError`.
 *
 * @example
 * import { Redis } from 'ioredis'
 * const store = new RedisStore({ client: new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') })
 * const limiter = createLimiter({ store, policies: [tokenBucket({ limit: 100, window: '1m' })] })
 */
export class RedisStore implements Store {
  readonly prefix: string
  readonly timeoutMs: number
  readonly clock: RedisClock
  readonly extraTtlMs: number
  readonly client: RedisClient
  #evalsha: ScriptCall
  #eval: ScriptCall
  #queue: DeadlineQueue<Call>
  #denied: DenyCache | undefined
  #events: StoreEvents | undefined
  #closed = false
  /**
   * Redis ms minus local ms: the smallest `redisNow − sentAt` of recent replies, so it exceeds the
   * true offset by the fastest one-way latency and the clocks' millisecond rounding, no more.
   * Infinity until the first reply.
   */
  #offset = Number.POSITIVE_INFINITY
  #periodMin = Number.POSITIVE_INFINITY
  #previousMin = Number.POSITIVE_INFINITY
  #periodStart = 0
  /** Bumped by every reset and refund: denials that were in flight meanwhile are not cached. */
  #invalidations = 0
  /** Whether the current outage was reported already. */
  #errorReported = false

  constructor(options: RedisStoreOptions) {
    const where = 'new RedisStore()'
    checkOptionsObject(where, options)
    checkKnownOptions(where, options, KNOWN)
    const client = options.client as unknown
    if (
      typeof client !== 'object' ||
      client === null ||
      typeof (client as RedisClient).evalsha !== 'function' ||
      typeof (client as RedisClient).eval !== 'function' ||
      typeof (client as RedisClient).status !== 'string' ||
      typeof (client as RedisClient).on !== 'function'
    ) {
      invalid(where, 'client', 'must be an ioredis client (new Redis(...) or new Redis.Cluster(...), ioredis 5 or 6)', client)
    }
    this.client = options.client
    this.prefix = options.prefix === undefined ? 'rk' : checkPrefix(where, options.prefix)
    this.timeoutMs = options.timeoutMs === undefined ? 100 : checkInteger(where, 'timeoutMs', options.timeoutMs, 1, 60_000)
    if (options.clock !== undefined && options.clock !== 'redis' && options.clock !== 'caller') {
      invalid(where, 'clock', "must be 'redis' or 'caller'", options.clock)
    }
    this.clock = options.clock ?? 'redis'
    this.extraTtlMs = options.extraTtlMs === undefined ? 0 : checkInteger(where, 'extraTtlMs', options.extraTtlMs, 0, 365 * 86_400_000)
    const deny = options.denyCache
    if (deny === true) {
      this.#denied = new DenyCache(10_000)
    } else if (typeof deny === 'object' && deny !== null && !Array.isArray(deny)) {
      checkKnownOptions(where, deny, DENY_KNOWN)
      const max = deny.maxEntries === undefined ? 10_000 : checkInteger(where, 'denyCache.maxEntries', deny.maxEntries, 1, 10_000_000)
      this.#denied = new DenyCache(max)
    } else if (deny !== undefined && deny !== false) {
      invalid(where, 'denyCache', 'must be a boolean or { maxEntries }', deny)
    }

    this.#evalsha = this.client.evalsha as ScriptCall
    this.#eval = this.client.eval as ScriptCall
    this.#queue = new DeadlineQueue<Call>((call) => {
      call.reject(new StoreError('ERR_RK_STORE_TIMEOUT', `RedisStore: no answer within ${this.timeoutMs} ms`))
    })
    // Without an 'error' listener ioredis prints "Unhandled error event" for every failed reconnect.
    watch(this.client, this.#listener)
    if (this.client.status === 'ready') this.#calibrate()
    // A lazyConnect client connects on its first command; the store sends none until it is ready.
    else if (this.client.status === 'wait') this.client.connect?.().catch(noop)
  }

  attach(events: StoreEvents): void {
    this.#events = events
  }

  /** Denials held by the deny cache (0 when it is off). */
  get deniedEntries(): number {
    return this.#denied?.size ?? 0
  }

  consume(request: StoreRequest): StoreResult | Promise<StoreResult> {
    return this.#run(OP_CONSUME, request, 0)
  }

  peek(request: StoreRequest): StoreResult | Promise<StoreResult> {
    return this.#run(OP_PEEK, request, 0)
  }

  refund(request: StoreRefundRequest): Promise<StoreResult> {
    return this.#run(OP_REFUND, request, request.chargedAt) as Promise<StoreResult>
  }

  async reset(request: StoreRequest): Promise<void> {
    await this.#run(OP_RESET, request, 0)
  }

  /** Stops using the client (which stays open: it is yours). Calls after close reject with `ERR_RK_CLOSED`. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    unwatch(this.client, this.#listener)
    this.#denied?.clearAll()
  }

  #run(op: number, request: StoreRequest, chargedAt: number): StoreResult | Promise<StoreResult> {
    if (this.#closed) return Promise.reject(new StoreError('ERR_RK_CLOSED', 'RedisStore: used after close()'))
    const { keys, policies, cost, tag } = request
    const n = policies.length
    const caller = this.clock === 'caller'
    let now = -1
    if (caller) {
      now = request.now
      if (typeof now !== 'number' || !Number.isFinite(now) || now < 0) {
        return Promise.reject(
          new ConfigurationError('ERR_RK_INVALID_ARGUMENT', 'RedisStore', 'now', "must be epoch ms (clock: 'caller')", request.now),
        )
      }
      now = Math.floor(now)
    }
    if (typeof cost !== 'number' || !Number.isInteger(cost) || cost < 0) {
      return Promise.reject(new ConfigurationError('ERR_RK_INVALID_ARGUMENT', 'RedisStore', 'cost', 'must be an integer >= 0', cost))
    }
    if (op === OP_REFUND && (typeof chargedAt !== 'number' || !Number.isFinite(chargedAt))) {
      return Promise.reject(new ConfigurationError('ERR_RK_INVALID_ARGUMENT', 'RedisStore', 'chargedAt', 'must be epoch ms', chargedAt))
    }

    const head = keyHead(this.prefix, tag)
    const args: unknown[] = new Array(2 + n)
    args[0] = DECIDE_SHA
    args[1] = n
    for (let i = 0; i < n; i++) args[2 + i] = stateKey(head, compile(policies[i]).part, keys[i], tag)

    const wall = Date.now()
    const denied = this.#denied
    let signature: string | undefined
    if (denied !== undefined) {
      if (op === OP_REFUND || op === OP_RESET) {
        this.#invalidations++
        denied.clear(args.slice(2, 2 + n) as string[])
      } else if (cost > 0) {
        signature = signatureOf(args.slice(2, 2 + n) as string[])
        const hit = denied.get(signature, policies, cost, caller ? now : wall, caller ? now : undefined)
        if (hit !== undefined) return hit
      }
    }

    const status = this.client.status
    if (status !== 'ready') {
      // Fail fast: never hand a command to ioredis's offline queue, which would replay it later.
      return Promise.reject(new StoreError('ERR_RK_STORE', `RedisStore: Redis is not connected (client status "${status}")`))
    }

    // [sha, n, keys…, op, cost, deadline, spec per check…, chargedAt (refund), now (caller clock), extra TTL]
    let at = 2 + n
    args[at++] = op + (caller ? 16 : 0) + (this.extraTtlMs > 0 ? 8 : 0)
    args[at++] = cost
    args[at++] = this.#offset === Number.POSITIVE_INFINITY ? -1 : wall + this.#offset + this.timeoutMs
    if (op !== OP_RESET) for (let i = 0; i < n; i++) args[at++] = compile(policies[i]).spec
    if (op === OP_REFUND) args[at++] = Math.floor(chargedAt)
    if (caller) args[at++] = now
    if (this.extraTtlMs > 0) args[at++] = this.extraTtlMs

    const call: Call = {
      expires: performance.now() + this.timeoutMs,
      done: false,
      resent: false,
      op,
      n,
      args,
      sentAt: wall,
      now,
      signature,
      cost,
      invalidations: this.#invalidations,
      resolve: noop,
      reject: noop,
    }
    const promise = new Promise<StoreResult>((resolve, reject) => {
      call.resolve = resolve
      call.reject = reject
    })
    this.#queue.add(call)
    this.#send(call, this.#evalsha)
    return promise
  }

  #send(call: Call, command: ScriptCall): void {
    command.apply(this.client, call.args).then(
      (reply) => this.#reply(call, reply),
      (error) => this.#fail(call, error),
    )
  }

  /** Settles a call with its reply (or sends it once more if Redis judged it late too early). */
  #reply(call: Call, reply: unknown): void {
    const r = reply as number[]
    if (!Array.isArray(r) || typeof r[0] !== 'number' || typeof r[1] !== 'number') {
      if (call.done) return
      this.#queue.settle(call)
      call.reject(new StoreError('ERR_RK_STORE', 'RedisStore: unexpected reply from the script'))
      return
    }
    const status = r[0]
    const redisNow = r[1]
    // A reply after the deadline was delayed (a pause, a backlog): it says nothing about the clocks.
    if (call.done) return
    this.#sample(redisNow, call.sentAt, status === -1)
    if (status === -1) {
      // Redis judged the call late although our deadline hasn't passed: its clock moved against
      // ours. Nothing was read or written, so sending it once more (with the corrected offset) is safe.
      if (!call.resent && this.client.status === 'ready') {
        call.resent = true
        const wall = Date.now()
        call.args[call.n + 4] = wall + this.#offset + Math.max(1, Math.ceil(call.expires - performance.now()))
        call.sentAt = wall
        this.#send(call, this.#evalsha)
        return
      }
      this.#queue.settle(call)
      call.reject(new StoreError('ERR_RK_STORE_TIMEOUT', `RedisStore: no answer within ${this.timeoutMs} ms`))
      return
    }
    this.#queue.settle(call)
    const n = call.n
    if (call.op === OP_RESET) {
      call.resolve({ allowed: true, now: redisNow, results: [] })
      return
    }
    if (r.length !== 2 + 3 * n) {
      call.reject(new StoreError('ERR_RK_STORE', 'RedisStore: unexpected reply from the script'))
      return
    }
    const result: StoreResult = { allowed: status === 1, now: call.now >= 0 ? call.now : redisNow, results: r.slice(2) }
    if (!result.allowed && call.signature !== undefined && call.invalidations === this.#invalidations && this.#denied !== undefined) {
      this.#denied.set(call.signature, call.args.slice(2, 2 + n) as string[], call.cost, call.now >= 0 ? call.now : call.sentAt, result)
    }
    call.resolve(result)
  }

  #fail(call: Call, error: unknown): void {
    if (call.done) return
    const message = error instanceof Error ? error.message : ''
    if (!call.resent && message.startsWith('NOSCRIPT') && this.client.status === 'ready') {
      // Redis restarted or its scripts were flushed, so the script did not run: load it by
      // sending it whole, once. No other error is retried (a retried decision may double count).
      call.resent = true
      call.args[0] = DECIDE_SCRIPT
      this.#send(call, this.#eval)
      return
    }
    this.#queue.settle(call)
    const timedOut = /timed out/i.test(message)
    call.reject(
      new StoreError(
        timedOut ? 'ERR_RK_STORE_TIMEOUT' : 'ERR_RK_STORE',
        timedOut ? 'RedisStore: the Redis client timed out' : 'RedisStore: the Redis call failed',
        {
          cause: error,
        },
      ),
    )
  }

  /**
   * Updates the Redis-minus-local clock offset from a reply to a call sent at local `sentAt`.
   * `force` adopts the sample outright: Redis judged a call late that wasn't, so its clock jumped.
   */
  #sample(redisNow: number, sentAt: number, force: boolean): void {
    // redisNow − sentAt = offset + the time the call took to reach Redis: never below the offset.
    const sample = redisNow - sentAt
    if (force) {
      this.#offset = this.#periodMin = this.#previousMin = sample
      this.#periodStart = sentAt
      return
    }
    if (sentAt - this.#periodStart >= OFFSET_PERIOD_MS) {
      this.#previousMin = this.#periodMin
      this.#periodMin = sample
      this.#periodStart = sentAt
    } else if (sample < this.#periodMin) {
      this.#periodMin = sample
    }
    this.#offset = Math.min(this.#periodMin, this.#previousMin)
  }

  /** Learns the clock offset with an empty call (no keys). */
  #calibrate(): void {
    const sentAt = Date.now()
    const done = (reply: unknown) => {
      const r = reply as number[]
      if (Array.isArray(r) && typeof r[1] === 'number') this.#sample(r[1], sentAt, false)
    }
    const args = [0, OP_PEEK, 0, -1]
    this.#evalsha.call(this.client, DECIDE_SHA, ...args).then(done, (error: unknown) => {
      if (error instanceof Error && error.message.startsWith('NOSCRIPT'))
        this.#eval.call(this.client, DECIDE_SCRIPT, ...args).then(done, noop)
    })
  }

  #listener: ClientListener = {
    error: (error) => {
      if (this.#errorReported) return
      this.#errorReported = true
      const code =
        typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string'
          ? (error as { code: string }).code
          : 'error'
      this.#events?.warn?.({
        code: 'RK_REDIS_CONNECTION',
        message: `RedisStore: the Redis connection failed (${code}); calls fail fast until it is back`,
      })
    },
    ready: () => {
      this.#errorReported = false
      this.#calibrate()
    },
  }
}
