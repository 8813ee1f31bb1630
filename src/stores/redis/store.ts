import { ConfigurationError, checkInteger, checkKnownOptions, checkOptionsObject, invalid, StoreError } from '../../limiter/errors.js'
import type { Policy } from '../../limiter/policy.js'
import type { Store, StoreEvents, StoreRefundRequest, StoreRequest, StoreResult } from '../../limiter/store.js'
import { DeadlineQueue } from './deadlines.js'
import { DenyCache, signatureOf } from './deny-cache.js'
import { checkPrefix, keyHead, policyPart, stateKey } from './keys.js'
import { DECIDE_SCRIPT, DECIDE_SHA, OP_CONSUME, OP_PEEK, OP_REFUND, OP_RESET } from './script.js'
import { keySlot } from './slots.js'
import { specOf } from './spec.js'

/**
 * The part of an ioredis client (v5 or v6, `Redis` or `Cluster`) that the store uses. Declared
 * structurally so that either major version's classes fit.
 */
export interface RedisClient {
  /** ioredis connection status. The store sends commands only when it is `'ready'`. */
  readonly status: string
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>
  on(event: 'error' | 'ready' | 'node error', listener: (...args: unknown[]) => void): unknown
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

const KNOWN: { readonly [K in keyof Required<RedisStoreOptions>]: true } = {
  client: true,
  prefix: true,
  timeoutMs: true,
  clock: true,
  denyCache: true,
  extraTtlMs: true,
  replicas: true,
}
const DENY_KNOWN: { readonly [K in keyof Required<DenyCacheOptions>]: true } = { maxEntries: true }

/** The clock offset is the smallest sample of the current and the previous period of this length. */
const OFFSET_PERIOD_MS = 10_000

type ScriptCall = (...args: unknown[]) => Promise<unknown>

/** What `replicas` needs of an ioredis client: a pipeline (the script call and its `WAIT` in one round trip). */
interface PipelineClient {
  pipeline(commands: unknown[][]): { exec(): Promise<[Error | null, unknown][] | null> }
}

/** What {@link directCalls} needs of an ioredis client besides the store's interface. */
interface CommandSender {
  readonly options?: { readonly enableAutoPipelining?: unknown; readonly keyPrefix?: unknown; readonly showFriendlyErrorStack?: unknown }
  sendCommand?: (command: unknown) => unknown
}
type CommandClass = new (
  name: string,
  args: unknown[],
  options: { keyPrefix?: string; replyEncoding: 'utf8'; errorStack?: Error },
) => { readonly promise: Promise<unknown> }
interface IoredisModule {
  readonly Redis: abstract new (...args: never[]) => unknown
  readonly Command: CommandClass
}

let ioredisModule: Promise<IoredisModule | undefined> | undefined
/** The `ioredis` package this module resolves, loaded once, when a store first needs it (or `undefined`). */
function loadIoredis(): Promise<IoredisModule | undefined> {
  ioredisModule ??= import('ioredis').then(
    (loaded) => {
      const m = ((loaded as { default?: unknown }).default ?? loaded) as Partial<IoredisModule>
      return typeof m.Redis === 'function' && typeof m.Command === 'function' ? (m as IoredisModule) : undefined
    },
    () => undefined,
  )
  return ioredisModule
}

/**
 * `evalsha` and `eval` past ioredis's auto-pipelining, or `undefined` to keep the client's own
 * methods. With `enableAutoPipelining`, ioredis holds each command until the next tick and wraps
 * it in a pipeline of its own; the store's script calls are batches already, so for them that is
 * only cost (about a tenth of a Fastify server's CPU per request on Redis, measured). For a
 * single-node client made by the `ioredis` package this module resolves (an `instanceof` check,
 * so never another copy or major version's classes), the store builds the command as the
 * client's method would (same key prefix, reply encoding and error stacks) and hands it to
 * `sendCommand`, which is what ioredis itself does when auto-pipelining is off.
 */
async function directCalls(client: RedisClient): Promise<{ evalsha: ScriptCall; eval: ScriptCall } | undefined> {
  const sender = client as unknown as CommandSender
  const options = sender.options
  if (options?.enableAutoPipelining !== true || typeof sender.sendCommand !== 'function') return undefined
  const ioredis = await loadIoredis()
  if (ioredis === undefined || !(client instanceof ioredis.Redis)) return undefined
  const { Command } = ioredis
  const keyPrefix = typeof options.keyPrefix === 'string' ? options.keyPrefix : undefined
  const friendly = options.showFriendlyErrorStack === true
  const call =
    (name: 'evalsha' | 'eval'): ScriptCall =>
    (...args: unknown[]): Promise<unknown> => {
      const command = new Command(name, args, { keyPrefix, replyEncoding: 'utf8', errorStack: friendly ? new Error() : undefined })
      sender.sendCommand?.(command)
      return command.promise
    }
  return { evalsha: call('evalsha'), eval: call('eval') }
}

/** Per policy: the key part and the script's numbers `"kind:limit:…"` (built once per policy). */
interface Compiled {
  readonly part: string
  readonly spec: string
}
const compiled = new WeakMap<Policy, Compiled>()
function compile(policy: Policy): Compiled {
  let c = compiled.get(policy)
  if (c === undefined) {
    c = { part: policyPart(policy), spec: specOf(policy.params) }
    compiled.set(policy, c)
  }
  return c
}

function noop(): void {}

/** What a store wants to hear from its client. */
interface ClientListener {
  /** A connection failed: the client's own (single node), or one node's (`address`, Cluster). */
  error(error: unknown, address?: string): void
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
    // A Cluster reports each node's connection errors apart, and stays 'ready' meanwhile.
    if ((client as { isCluster?: unknown }).isCluster === true) {
      client.on('node error', (...args: unknown[]) => {
        for (const l of listeners) l.error(args[0], typeof args[1] === 'string' ? args[1] : '')
      })
    }
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

/** Most requests in one script call: bounds the call's size and how long it holds Redis. */
const MAX_BATCH = 128

/** An outage is over (the recovery is reported) after this long without a failure. */
const QUIET_MS = 1000

/** Client states in which the first connection is still being made: calls wait for it. */
const CONNECTING = new Set(['wait', 'connecting', 'connect'])

/** One Redis server as the store sees it ('' on a single node; `host:port` of a Cluster master). */
interface NodeState {
  /** Script calls sent to it that have not come back (no reply, no error) yet. */
  unanswered: number
  /** Script calls sent to it so far (each batch's `seq`). */
  sent: number
  /** The latest `seq` it answered. */
  answeredUpTo: number
  /**
   * It left a call unanswered past its deadline, or its connection failed: until it answers, one
   * script call at a time goes to it as a probe, and every call that would wait behind that probe
   * fails at once instead (nothing more is queued for it).
   */
  down: boolean
  /** A probe is on its way. */
  probing: boolean
  /** `performance.now()` from which the next probe may go. */
  probeAt: number
}

function isReplyError(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError'
}

/**
 * An error that means Redis (or a node of it) is unavailable, rather than a problem of one call:
 * any client-side failure (connection closed, all cluster nodes failed) except ioredis giving up
 * on a slot in migration, and the replies of a server that can't serve (`CLUSTERDOWN`, …).
 */
function isOutage(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error)
  if (!isReplyError(error)) return !/TRYAGAIN|ASK /.test(message)
  return /^(CLUSTERDOWN|MASTERDOWN|LOADING|READONLY)/.test(message)
}

/** One request (a store call) waiting for its batch, or in flight with it. */
interface Call {
  /** `performance.now()` after which the call fails. */
  readonly expires: number
  done: boolean
  /** Sent again once already (after Redis judged its batch late too early). */
  resent: boolean
  readonly op: number
  /** The state key of each check. */
  readonly keys: string[]
  /** The script's numbers of each check. */
  readonly specs: string[]
  readonly cost: number
  /** The caller's now (clock 'caller'), else -1. */
  readonly now: number
  /** When the refunded cost was charged (refund only). */
  readonly chargedAt: number
  /**
   * Batching group: '' on a single node. On a Cluster, the request's keys: one batch is then one
   * slot (never CROSSSLOT), and a batch's requests share every key, so a slot in migration
   * (ASK, TRYAGAIN) treats them all alike: no request fails because of another's keys.
   */
  readonly group: string
  /** The Cluster slot of its keys (-1 on a single node). */
  readonly slot: number
  /** Deny cache signature (consume/peek with the cache on). */
  readonly signature: string | undefined
  /** The store's invalidation count when the call was made. */
  readonly invalidations: number
  /** The script call that carries it, once sent. */
  batch: Batch | undefined
  resolve: (result: StoreResult) => void
  reject: (error: Error) => void
}

/** One script call: the requests it decides, in order. */
interface Batch {
  readonly calls: Call[]
  /** `[sha or script, numKeys, keys…, argv…]`, as passed to evalsha/eval. */
  readonly args: unknown[]
  /** Local wall-clock ms when the batch was sent. */
  readonly sentAt: number
  /** Sent whole once more already (after NOSCRIPT). */
  resent: boolean
  readonly group: string
  /** The node it went to ('' on a single node, else the slot's master `host:port` when sent). */
  node: string
  /** Its reply (or an error) came back; until then it sits in the client's queue. */
  back: boolean
  /** Sent to a down node to find out whether it is back. */
  probe: boolean
  /** Its number among the calls sent to its node. */
  seq: number
  /** Its calls not settled yet. */
  live: number
  /** Counted in flight: until it is answered or every call of it has settled (a deadline). */
  open: boolean
}

/**
 * Keeps limiter state in Redis (ioredis v5 or v6, single node or Cluster).
 *
 * - One round trip per decision, whatever the number of policies: a Lua script (the twin of each
 *   policy's TypeScript step function) reads, decides and writes every check atomically. Requests
 *   made while a call is in flight wait for it and then share one script call (at most 128 per
 *   call; on a Cluster, per hash tag), each still decided on its own, in order, all or nothing.
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
  /** Replicas that must acknowledge a decision's writes before it is answered (`WAIT`). */
  readonly replicas: number
  readonly client: RedisClient
  #evalsha: ScriptCall
  #eval: ScriptCall
  #queue: DeadlineQueue<Call>
  /** Calls waiting for their batch, by group. */
  #pending = new Map<string, Call[]>()
  #scheduled = false
  /** Script calls in flight per group (one, or more when a full batch went out meanwhile). */
  #busy = new Map<string, number>()
  /** The client is a Redis Cluster: a batch holds one hash tag's calls only. */
  readonly #cluster: boolean
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
  /** An outage was reported and its recovery not yet. */
  #outage = false
  /** `performance.now()` of the latest failure (an error event, a call left unanswered). */
  #troubleAt = 0
  /** A connection attempt failed since the client was last ready: calls fail fast, they don't wait. */
  #connectFailed = false
  /** Calls made while the client makes its first connection: they go when it is ready. */
  #waiting: Call[] = []
  /** Servers by node key, and how many of them are down. */
  #nodes = new Map<string, NodeState>()
  #downCount = 0
  /** `performance.now()` of the last look for down nodes that a failover replaced. */
  #prunedAt = Number.NEGATIVE_INFINITY

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
    this.replicas = options.replicas === undefined ? 0 : checkInteger(where, 'replicas', options.replicas, 0, 64)
    if (this.replicas > 0 && typeof (options.client as { pipeline?: unknown }).pipeline !== 'function') {
      invalid(where, 'client', 'must have pipeline() when replicas > 0 (an ioredis client)', options.client)
    }
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

    this.#cluster = (this.client as { isCluster?: unknown }).isCluster === true
    this.#evalsha = this.client.evalsha as ScriptCall
    this.#eval = this.client.eval as ScriptCall
    if (!this.#cluster) {
      directCalls(this.client).then((direct) => {
        if (direct === undefined) return
        this.#evalsha = direct.evalsha
        this.#eval = direct.eval
      }, noop)
    }
    this.#queue = new DeadlineQueue<Call>((call) => {
      const batch = call.batch
      // Sent and not answered by its deadline: Redis is frozen, unreachable or overloaded.
      if (batch !== undefined && !batch.back) this.#unanswered(batch)
      this.#release(call)
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

    const stateKeys = new Array<string>(n)
    const specs = new Array<string>(n)
    if (this.#cluster) {
      // Cluster: every key of the request under the request's tag, so it runs in one slot.
      const head = keyHead(this.prefix, tag)
      for (let i = 0; i < n; i++) {
        const c = compile(policies[i])
        stateKeys[i] = stateKey(head, c.part, keys[i], tag)
        specs[i] = c.spec
      }
    } else {
      // One Redis runs any keys in one script: each subject under its own tag, so a subject has
      // one state whatever the tag of the request (with or without its team, or an explicit tag).
      let subject = ''
      let head = ''
      for (let i = 0; i < n; i++) {
        const c = compile(policies[i])
        if (keys[i] !== subject || i === 0) {
          subject = keys[i]
          head = keyHead(this.prefix, subject)
        }
        stateKeys[i] = head + c.part
        specs[i] = c.spec
      }
    }

    const denied = this.#denied
    let signature: string | undefined
    const group = this.#cluster ? signatureOf(stateKeys) : ''
    if (denied !== undefined) {
      if (op === OP_REFUND || op === OP_RESET) {
        this.#invalidations++
        denied.clear(stateKeys)
      } else if (cost > 0) {
        signature = this.#cluster ? group : signatureOf(stateKeys)
        const hit = denied.get(signature, policies, cost, caller ? now : Date.now(), caller ? now : undefined)
        if (hit !== undefined) return hit
      }
    }

    const status = this.client.status
    // The first connection is being made: wait for it (within the deadline) rather than bypass Redis.
    const wait = status !== 'ready' && !this.#connectFailed && CONNECTING.has(status)
    if (status !== 'ready' && !wait) {
      // Fail fast: never hand a command to ioredis's offline queue, which would replay it later.
      return Promise.reject(notConnected(status))
    }
    const slot = this.#cluster ? keySlot(stateKeys[0]) : -1
    if (this.#downCount > 0) {
      const node = this.#nodes.get(this.#nodeOf(slot))
      if (node?.down && (node.probing || performance.now() < node.probeAt)) return Promise.reject(notAnswering())
    }

    const call: Call = {
      expires: performance.now() + this.timeoutMs,
      done: false,
      resent: false,
      op,
      keys: stateKeys,
      specs,
      cost,
      now,
      chargedAt: op === OP_REFUND ? Math.floor(chargedAt) : 0,
      group,
      slot,
      signature,
      invalidations: this.#invalidations,
      batch: undefined,
      resolve: noop,
      reject: noop,
    }
    const promise = new Promise<StoreResult>((resolve, reject) => {
      call.resolve = resolve
      call.reject = reject
    })
    this.#queue.add(call)
    if (wait) {
      // Calls that expired meanwhile are dropped now and then, so a client that never connects can't grow this.
      if (this.#waiting.length >= 1024) this.#waiting = this.#waiting.filter((c) => !c.done)
      this.#waiting.push(call)
    } else {
      this.#enqueue(call)
    }
    return promise
  }

  /** The node a slot's calls go to: '' on a single node, the slot's master on a Cluster (or '' if unknown). */
  #nodeOf(slot: number): string {
    if (slot < 0) return ''
    return (this.client as { slots?: readonly (readonly string[] | undefined)[] }).slots?.[slot]?.[0] ?? ''
  }

  #node(key: string): NodeState {
    let node = this.#nodes.get(key)
    if (node === undefined) {
      node = { unanswered: 0, sent: 0, answeredUpTo: 0, down: false, probing: false, probeAt: 0 }
      this.#nodes.set(key, node)
    }
    return node
  }

  /** A node is down: probed at once (`probeDelay` 0) or after `probeDelay` ms. */
  #markDown(key: string, probeDelay: number): void {
    const node = this.#node(key)
    const probeAt = performance.now() + probeDelay
    if (node.down) {
      if (probeAt > node.probeAt) node.probeAt = probeAt
      return
    }
    node.down = true
    node.probeAt = probeAt
    this.#downCount++
  }

  #markUp(node: NodeState): void {
    if (!node.down) return
    node.down = false
    this.#downCount--
  }

  /**
   * A batch passed a deadline with no reply: its node is down until it answers, unless the node
   * answered a batch sent after this one (then only this batch's slot is slow: ioredis retrying a
   * TRYAGAIN, say, and the node's other slots are fine). The next batch for a down node goes at
   * once as a probe; a frozen node leaves it unanswered too, and everything else fails fast.
   */
  #unanswered(batch: Batch): void {
    if (batch.probe) return
    const node = this.#nodes.get(batch.node)
    if (node !== undefined && node.answeredUpTo > batch.seq) return
    this.#trouble(`no answer within ${this.timeoutMs} ms`)
    this.#markDown(batch.node, 0)
  }

  /** A failure: reported once per outage. */
  #trouble(what: string): void {
    this.#troubleAt = performance.now()
    if (this.#outage) return
    this.#outage = true
    this.#events?.warn?.({
      code: 'RK_REDIS_CONNECTION',
      message: `RedisStore: Redis is unavailable (${what}); calls fail fast and the limiter applies onStoreError until it is back`,
    })
  }

  /** Redis decided a call (or the client reconnected): reports the recovery once the outage is over. */
  #healthy(): void {
    if (!this.#outage || performance.now() - this.#troubleAt < QUIET_MS) return
    if (this.#downCount > 0) {
      this.#prune()
      if (this.#downCount > 0) return
    }
    this.#outage = false
    this.#events?.warn?.({ code: 'RK_REDIS_RECOVERED', message: 'RedisStore: Redis is answering again' })
  }

  /** Forgets down nodes that no longer serve a slot (a failover replaced them); at most every 100 ms. */
  #prune(): void {
    const slots = (this.client as { slots?: readonly (readonly string[] | undefined)[] }).slots
    if (!this.#cluster || slots === undefined) return
    const now = performance.now()
    if (now - this.#prunedAt < 100) return
    this.#prunedAt = now
    const masters = new Set<string>()
    for (const nodes of slots) if (nodes?.[0] !== undefined) masters.add(nodes[0])
    for (const [key, node] of this.#nodes) {
      if (masters.has(key)) continue
      this.#markUp(node)
      if (node.unanswered === 0) this.#nodes.delete(key)
    }
  }

  /**
   * Adds a call to its group's next batch. With no script call in flight, the batch goes at the
   * end of the current tick (nextTick), so an idle store adds no delay and requests made together
   * go together. While one is in flight, new requests wait for it to come back (or for every
   * request in it to reach its deadline) and then go in one call: Redis answers the requests of
   * one connection in order anyway, so waiting costs them little, and one call instead of many
   * saves both Node and Redis a command, a write and a read per request.
   */
  #enqueue(call: Call): void {
    let list = this.#pending.get(call.group)
    if (list === undefined) {
      list = []
      this.#pending.set(call.group, list)
    }
    list.push(call)
    if (list.length >= MAX_BATCH) {
      this.#pending.delete(call.group)
      this.#sendBatch(list)
      return
    }
    if (!this.#busy.has(call.group)) this.#kick()
  }

  /** Schedules the pending batches to go (those of groups with a call in flight wait for it). */
  #kick(): void {
    if (this.#scheduled || this.#pending.size === 0) return
    this.#scheduled = true
    process.nextTick(this.#flush)
  }

  /** A call settled: its script call stops counting as in flight once all of its calls have. */
  #release(call: Call): void {
    const batch = call.batch
    if (batch === undefined || !batch.open || --batch.live > 0) return
    this.#close(batch)
  }

  /** A script call stops counting as in flight (answered, or every call of it settled). */
  #close(batch: Batch): void {
    if (!batch.open) return
    batch.open = false
    const left = (this.#busy.get(batch.group) ?? 1) - 1
    if (left > 0) {
      this.#busy.set(batch.group, left)
      return
    }
    this.#busy.delete(batch.group)
    if (this.#pending.has(batch.group)) this.#kick()
  }

  /** Settles a call (it succeeded or failed). */
  #settle(call: Call): void {
    this.#queue.settle(call)
    this.#release(call)
  }

  #flush = (): void => {
    this.#scheduled = false
    for (const [group, calls] of this.#pending) {
      if (this.#busy.has(group)) continue
      this.#pending.delete(group)
      this.#sendBatch(calls)
    }
  }

  /** Sends the calls still waiting (those whose deadline passed meanwhile are never sent) as one script call. */
  #sendBatch(waiting: Call[]): void {
    const status = this.client.status
    const calls: Call[] = []
    let expires = Number.POSITIVE_INFINITY
    for (const call of waiting) {
      if (call.done) continue
      if (status !== 'ready') {
        this.#settle(call)
        call.reject(notConnected(status))
        continue
      }
      calls.push(call)
      if (call.expires < expires) expires = call.expires
    }
    if (calls.length === 0) return
    const nodeKey = this.#nodeOf(calls[0].slot)
    const node = this.#node(nodeKey)
    let probe = false
    if (node.down) {
      // Nothing more is queued for a node that is down: one probe at a time finds out when it is
      // back; every other call fails at once.
      if (node.probing || performance.now() < node.probeAt) {
        this.#rejectAll(calls, notAnswering())
        return
      }
      node.probing = probe = true
    }

    // [sha, numKeys, keys…, deadline, extra TTL, S, spec…, then per call: op, cost, n, spec index…, [now], [chargedAt]]
    const args: unknown[] = [DECIDE_SHA, 0]
    const specs: string[] = []
    const indexOf = new Map<string, number>()
    const tail: unknown[] = []
    const caller = this.clock === 'caller' ? 16 : 0
    for (const call of calls) {
      const n = call.keys.length
      for (let i = 0; i < n; i++) args.push(call.keys[i])
      tail.push(call.op + caller, call.cost, n)
      for (let i = 0; i < n; i++) {
        const spec = call.specs[i]
        let index = indexOf.get(spec)
        if (index === undefined) {
          specs.push(spec)
          index = specs.length
          indexOf.set(spec, index)
        }
        tail.push(index)
      }
      if (caller !== 0) tail.push(call.now)
      if (call.op === OP_REFUND) tail.push(call.chargedAt)
    }
    args[1] = args.length - 2 // the keys come first
    const wall = Date.now()
    // The script refuses to run after the earliest deadline of the batch, in Redis time.
    const deadline =
      this.#offset === Number.POSITIVE_INFINITY ? -1 : wall + this.#offset + Math.max(1, Math.ceil(expires - performance.now()))
    args.push(deadline, this.extraTtlMs, specs.length)
    for (const spec of specs) args.push(spec)
    for (const arg of tail) args.push(arg)
    const group = calls[0].group
    const batch: Batch = {
      calls,
      args,
      sentAt: wall,
      resent: false,
      group,
      node: nodeKey,
      back: false,
      probe,
      seq: 0,
      live: calls.length,
      open: true,
    }
    for (const call of calls) call.batch = batch
    this.#busy.set(group, (this.#busy.get(group) ?? 0) + 1)
    this.#send(batch, this.#evalsha)
  }

  #send(batch: Batch, command: ScriptCall): void {
    const node = this.#node(batch.node)
    node.unanswered++
    batch.seq = ++node.sent
    batch.back = false
    // WAIT only for a batch that may write (a peek alone writes nothing).
    if (this.replicas > 0 && batch.calls.some((call) => call.op !== OP_PEEK && (call.op !== OP_CONSUME || call.cost > 0))) {
      this.#sendReplicated(batch, node, command === this.#eval ? 'eval' : 'evalsha')
      return
    }
    command.apply(this.client, batch.args).then(
      (reply) => {
        this.#back(batch, node, true)
        this.#reply(batch, reply)
      },
      (error) => {
        this.#back(batch, node, isReplyError(error))
        this.#fail(batch, error)
      },
    )
  }

  /**
   * The script call and a `WAIT` in one pipeline (one round trip, one node: the pipeline goes to
   * the slot of the script's keys). The `WAIT` lasts at most until shortly before the batch's earliest deadline.
   */
  #sendReplicated(batch: Batch, node: NodeState, name: 'eval' | 'evalsha'): void {
    let expires = Number.POSITIVE_INFINITY
    for (const call of batch.calls) if (call.expires < expires) expires = call.expires
    // WAIT should give up before the deadline, so that a shortfall is reported as such rather than
    // as a timeout; Redis times it out on its cron (every 100 ms at the default hz), hence the margin.
    const remaining = expires - performance.now()
    const waitMs = Math.max(1, Math.floor(remaining > 200 ? remaining - 110 : remaining / 2))
    const args = batch.args.slice()
    if (name === 'eval') args[0] = DECIDE_SCRIPT
    const client = this.client as unknown as PipelineClient
    client
      .pipeline([
        [name, ...args],
        ['wait', this.replicas, waitMs],
      ])
      .exec()
      .then(
        (results) => {
          const script = results?.[0]
          const wait = results?.[1]
          if (script === undefined || script[0] !== null) {
            const error = script?.[0] ?? new Error('no reply')
            this.#back(batch, node, isReplyError(error))
            this.#fail(batch, error)
            return
          }
          this.#back(batch, node, true)
          const acked = wait !== undefined && wait[0] === null && typeof wait[1] === 'number' ? wait[1] : 0
          this.#reply(batch, script[1], acked < this.replicas)
        },
        (error) => {
          this.#back(batch, node, false)
          this.#fail(batch, error)
        },
      )
  }

  /** A batch came back; a node that answered (a reply, or an error from Redis itself) is up. */
  #back(batch: Batch, node: NodeState, answered: boolean): void {
    batch.back = true
    node.unanswered--
    if (batch.probe) {
      batch.probe = false
      node.probing = false
      if (!answered) node.probeAt = performance.now() + this.timeoutMs
    }
    if (answered) {
      if (batch.seq > node.answeredUpTo) node.answeredUpTo = batch.seq
      this.#markUp(node)
    }
  }

  /** Settles a batch's calls with its reply (or queues them once more if Redis judged it late too early). */
  #reply(batch: Batch, reply: unknown, unreplicated = false): void {
    this.#close(batch)
    const r = reply as unknown[]
    const calls = batch.calls
    if (!Array.isArray(r) || typeof r[0] !== 'number' || typeof r[1] !== 'number') {
      this.#rejectAll(calls, new StoreError('ERR_RK_STORE', 'RedisStore: unexpected reply from the script'))
      return
    }
    const redisNow = r[1]
    // A reply after every deadline was delayed (a pause, a backlog): it says nothing about the clocks.
    if (calls.every((call) => call.done)) return
    this.#sample(redisNow, batch.sentAt, r[0] === -1)
    if (r[0] === -1) {
      // Redis judged the batch late although a deadline hasn't passed: its clock moved against
      // ours. Nothing was read or written, so sending those calls once more (with the corrected
      // offset) is safe.
      for (const call of calls) {
        if (call.done) continue
        if (!call.resent && this.client.status === 'ready') {
          call.resent = true
          this.#enqueue(call)
        } else {
          this.#settle(call)
          call.reject(new StoreError('ERR_RK_STORE_TIMEOUT', `RedisStore: no answer within ${this.timeoutMs} ms`))
        }
      }
      return
    }
    if (this.#outage) this.#healthy()
    let at = 2
    for (let c = 0; c < calls.length; c++) {
      const call = calls[c]
      const status = r[at++]
      if (status === -2) {
        const text = r[at++]
        if (call.done) continue
        this.#settle(call)
        call.reject(new StoreError('ERR_RK_STORE', 'RedisStore: the Redis call failed', { cause: new Error(String(text)) }))
        continue
      }
      const count = call.op === OP_RESET ? 0 : 3 * call.keys.length
      if ((status !== 0 && status !== 1) || at + count > r.length) {
        this.#rejectAll(calls.slice(c), new StoreError('ERR_RK_STORE', 'RedisStore: unexpected reply from the script'))
        return
      }
      const results = r.slice(at, at + count) as number[]
      at += count
      if (call.done) continue
      this.#settle(call)
      if (unreplicated && (call.op === OP_REFUND || call.op === OP_RESET || (status === 1 && call.op === OP_CONSUME && call.cost > 0))) {
        // Written on the master only: a failover now could lose it, so it isn't answered as done.
        call.reject(new StoreError('ERR_RK_STORE', `RedisStore: the writes did not reach ${this.replicas} replica(s) within the deadline`))
        continue
      }
      const result: StoreResult = { allowed: status === 1, now: call.now >= 0 ? call.now : redisNow, results }
      if (!result.allowed && call.signature !== undefined && call.invalidations === this.#invalidations && this.#denied !== undefined) {
        this.#denied.set(call.signature, call.keys, call.cost, call.now >= 0 ? call.now : batch.sentAt, result)
      }
      call.resolve(result)
    }
  }

  #fail(batch: Batch, error: unknown): void {
    const message = error instanceof Error ? error.message : ''
    if (!batch.resent && message.startsWith('NOSCRIPT') && this.client.status === 'ready' && batch.calls.some((call) => !call.done)) {
      // Redis restarted or its scripts were flushed, so the script did not run: load it by
      // sending it whole, once. No other error is retried (a retried decision may double count).
      batch.resent = true
      batch.args[0] = DECIDE_SCRIPT
      this.#send(batch, this.#eval)
      return
    }
    this.#close(batch)
    if (isOutage(error) && batch.calls.some((call) => !call.done)) {
      // A lost connection, a cluster without a master for a slot, a server still loading: an
      // outage whether or not the client also emitted an error event for it.
      this.#trouble(`the Redis call failed: ${message.slice(0, 80)}`)
      if (!isReplyError(error)) this.#markDown(batch.node, this.timeoutMs)
    }
    const timedOut = /timed out/i.test(message)
    this.#rejectAll(
      batch.calls,
      new StoreError(
        timedOut ? 'ERR_RK_STORE_TIMEOUT' : 'ERR_RK_STORE',
        timedOut ? 'RedisStore: the Redis client timed out' : 'RedisStore: the Redis call failed',
        { cause: error },
      ),
    )
  }

  /** Fails every call of `calls` not settled yet. */
  #rejectAll(calls: readonly Call[], error: StoreError): void {
    for (const call of calls) {
      if (call.done) continue
      this.#settle(call)
      call.reject(error)
    }
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

  /** Learns the clock offset with an empty batch (no requests). */
  #calibrate(): void {
    const sentAt = Date.now()
    const done = (reply: unknown) => {
      const r = reply as number[]
      if (Array.isArray(r) && typeof r[1] === 'number') this.#sample(r[1], sentAt, false)
    }
    const args = [0, -1, 0, 0]
    this.#evalsha.call(this.client, DECIDE_SHA, ...args).then(done, (error: unknown) => {
      if (error instanceof Error && error.message.startsWith('NOSCRIPT'))
        this.#eval.call(this.client, DECIDE_SCRIPT, ...args).then(done, noop)
    })
  }

  #listener: ClientListener = {
    error: (error, address) => {
      const code =
        typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string'
          ? (error as { code: string }).code
          : error instanceof Error
            ? error.message.slice(0, 80)
            : 'error'
      if (address === undefined) {
        this.#connectFailed = true
        // Calls waiting for the first connection fail with it, rather than at their deadline.
        const waiting = this.#waiting
        this.#waiting = []
        const status = this.client.status
        for (const call of waiting) {
          if (call.done) continue
          this.#settle(call)
          call.reject(notConnected(status))
        }
      } else {
        this.#markDown(address, this.timeoutMs)
      }
      this.#trouble(address === undefined ? `connection failed: ${code}` : `node ${address}: ${code}`)
    },
    ready: () => {
      this.#connectFailed = false
      // A new connection: nothing of ours is stuck behind an old one.
      for (const node of this.#nodes.values()) this.#markUp(node)
      this.#calibrate()
      const waiting = this.#waiting
      this.#waiting = []
      for (const call of waiting) if (!call.done) this.#enqueue(call)
      if (this.#outage) {
        this.#troubleAt = Number.NEGATIVE_INFINITY
        this.#healthy()
      }
    },
  }
}

function notConnected(status: string): StoreError {
  return new StoreError('ERR_RK_STORE', `RedisStore: Redis is not connected (client status "${status}")`)
}

function notAnswering(): StoreError {
  return new StoreError('ERR_RK_STORE', 'RedisStore: Redis left a call unanswered past its deadline; calls fail fast until it answers')
}
