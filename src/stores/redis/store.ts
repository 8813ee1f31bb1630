import { ConfigurationError, type StoreError } from '../../limiter/errors.js'
import type { Policy } from '../../limiter/policy.js'
import type { Store, StoreEvents, StoreRefundRequest, StoreRequest, StoreResult } from '../../limiter/store.js'
import { type Batch, Batcher, type Call, callOf, newBatch, newCall } from './batcher.js'
import { type ClientListener, errorCode, isCluster, isOutage, isReplyError, noop, type RedisClient, unwatch, watch } from './client.js'
import { ClockOffset } from './clock.js'
import { ConnectionWait } from './connection-wait.js'
import { DeadlineQueue } from './deadlines.js'
import { DenyCache, denySignatureOf, signatureOf } from './deny-cache.js'
import * as fail from './failures.js'
import { Health, type NodeState } from './health.js'
import { clientWarning } from './node-redis.js'
import { type RedisClock, type RedisStoreOptions, resolveOptions } from './options.js'
import { decodeReply, encodeBatch, mayWrite, wrote } from './protocol.js'
import { ReleaseGroup } from './release-group.js'
import { checkArguments, checksOf } from './request.js'
import { keySlot } from './slots.js'
import { OP, type Op } from './spec.js'
import { evictionWarning, type ScriptHandlers, ScriptTransport } from './transport.js'

/**
 * Keeps limiter state in Redis (ioredis 5 or 6, iovalkey, node-redis 4, 5 or 6; single node or Cluster).
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
  /** The client as the store talks to it: yours as given, or a node-redis client wrapped into a {@link RedisClient}. */
  readonly client: RedisClient
  readonly #transport: ScriptTransport
  readonly #deadlines: DeadlineQueue<Call>
  readonly #batcher = new Batcher((calls) => this.#sendBatch(calls))
  readonly #health: Health
  readonly #offset = new ClockOffset()
  /** The client is a Redis Cluster: a batch holds one hash tag's calls only. */
  readonly #cluster: boolean
  readonly #denied: DenyCache | undefined
  #events: StoreEvents | undefined
  #closed = false
  /** Bumped by every reset and refund: denials that were in flight meanwhile are not cached. */
  #invalidations = 0
  readonly #connection = new ConnectionWait()
  /** What the client's settings would break, told to the limiter when it attaches ('' when nothing). */
  readonly #clientWarning: string
  /**
   * Redis's eviction policy is asked on every new connection (a restarted Redis may run another):
   * what it last said (told once per change), and what it said before a limiter attached.
   */
  #memoryTold = ''
  #memoryWarning = ''
  /** The releases queued this tick (`queueRelease`), sharing one promise; sealed on the next tick. */
  #releases: ReleaseGroup | undefined

  constructor(options: RedisStoreOptions) {
    const settings = resolveOptions(options)
    this.client = settings.client
    this.prefix = settings.prefix
    this.timeoutMs = settings.timeoutMs
    this.clock = settings.clock
    this.extraTtlMs = settings.extraTtlMs
    this.replicas = settings.replicas
    this.#denied = settings.denyCache === undefined ? undefined : new DenyCache(settings.denyCache)
    this.#cluster = isCluster(this.client)
    this.#clientWarning = clientWarning(this.client)
    this.#transport = new ScriptTransport(this.client, this.replicas)
    this.#health = new Health(this.client, this.#cluster, this.timeoutMs, (warning) => this.#events?.warn?.(warning))
    this.#deadlines = new DeadlineQueue<Call>((call) => {
      const batch = call.batch
      // Sent and not answered by its deadline: Redis is frozen, unreachable or overloaded.
      if (batch !== undefined && !batch.back) this.#health.unanswered(batch)
      this.#batcher.release(call)
      call.reject(fail.noAnswerWithin(this.timeoutMs))
    })
    // Without an 'error' listener ioredis prints "Unhandled error event" for every failed reconnect.
    watch(this.client, this.#listener)
    if (this.client.status === 'ready') this.#calibrate()
    // A lazyConnect client connects on its first command; the store sends none until it is ready.
    else if (this.client.status === 'wait') this.client.connect?.().catch(noop)
  }

  attach(events: StoreEvents): void {
    this.#events = events
    // On the next tick: the limiter attaching, and the listeners added right after it, hear it.
    const message = this.#clientWarning
    if (message !== '') process.nextTick(() => events.warn?.({ code: 'RK_REDIS_CLIENT', message }))
    const eviction = this.#memoryWarning
    this.#memoryWarning = ''
    if (eviction !== '') process.nextTick(() => events.warn?.({ code: 'RK_REDIS_EVICTION', message: eviction }))
  }

  /** Denials held by the deny cache (0 when it is off). */
  get deniedEntries(): number {
    return this.#denied?.size ?? 0
  }

  consume(request: StoreRequest): StoreResult | Promise<StoreResult> {
    return this.#run(OP.consume, request, 0)
  }

  peek(request: StoreRequest): StoreResult | Promise<StoreResult> {
    return this.#run(OP.peek, request, 0)
  }

  refund(request: StoreRefundRequest): Promise<StoreResult> {
    return this.#run(OP.refund, request, request.chargedAt) as Promise<StoreResult>
  }

  /** Charges `cost` to every check whatever its state (debt allowed), admitting always: `limiter.settle`'s extra. */
  charge(request: StoreRequest): Promise<StoreResult> {
    return this.#run(OP.charge, request, 0) as Promise<StoreResult>
  }

  async reset(request: StoreRequest): Promise<void> {
    await this.#run(OP.reset, request, 0)
  }

  /**
   * `Store.queueRelease`: gives `lease` back in `policies` for `subject` — the refund carrying
   * the lease that `limiter.release()` would send — in the next batch, with no promise or answer
   * of its own: the releases queued in one tick share one promise, and a failure goes to `failed`.
   */
  queueRelease(
    subject: string,
    policies: readonly Policy[],
    lease: number,
    chargedAt: number,
    now: number,
    failed: (error: unknown) => void,
  ): Promise<void> {
    if (this.#closed) throw fail.closed()
    const where = 'RedisStore.queueRelease()'
    if (typeof failed !== 'function') throw new ConfigurationError('ERR_RK_INVALID_ARGUMENT', where, 'failed', 'must be a function', failed)
    // A release gives back leases only: a rate policy here would be refunded a unit it never charged.
    for (const policy of policies) {
      if (policy.kind !== 'concurrency') {
        throw new ConfigurationError('ERR_RK_INVALID_ARGUMENT', where, 'policies', 'must be concurrency policies', policy.kind)
      }
    }
    const subjects = policies.length === 1 ? [subject] : new Array<string>(policies.length).fill(subject)
    const request: StoreRequest = { keys: subjects, policies, cost: 1, now, tag: subject, lease }
    const checked = checkArguments(OP.refund, request, chargedAt, this.clock === 'caller')
    if (checked instanceof Error) throw checked
    const { keys, specs, alone } = checksOf(this.prefix, this.#cluster, request)
    this.#forget(keys)
    const status = this.client.status
    const wait = status !== 'ready' && this.#connection.waits(status)
    const slot = this.#cluster ? keySlot(keys[0]) : -1
    const refused = this.#refusal(status, wait, slot)
    if (refused !== undefined) throw refused
    const call = callOf({
      expires: performance.now() + this.timeoutMs,
      op: OP.refund,
      keys,
      specs,
      alone,
      cost: 1,
      now: checked.now,
      chargedAt: checked.chargedAt,
      charged: checked.charged,
      lease: checked.lease,
      group: this.#cluster ? signatureOf(keys) : '',
      slot,
      quiet: true,
      signature: undefined,
      invalidations: this.#invalidations,
    })
    let releases = this.#releases
    if (releases === undefined) {
      releases = this.#releases = new ReleaseGroup()
      process.nextTick(this.#sealReleases)
    }
    const group = releases
    group.add()
    call.resolve = group.settled
    call.reject = (error) => {
      // Told on a later microtask (never inside the store's own loop), before the group's promise fulfils.
      queueMicrotask(() => this.#tell(failed, error))
      group.settled()
    }
    this.#queue(call, wait)
    return group.promise
  }

  /** A queued release's failure, told to its caller; a `failed` that throws is a warning, never an uncaught error. */
  #tell(failed: (error: unknown) => void, error: unknown): void {
    try {
      failed(error)
    } catch (thrown) {
      const message = `RedisStore.queueRelease(): its failed() callback threw: ${thrown instanceof Error ? thrown.message : String(thrown)}`
      if (this.#events?.warn !== undefined) this.#events.warn({ code: 'RK_RELEASE_FAILED', message })
      else process.emitWarning(message, { code: 'RK_RELEASE_FAILED' })
    }
  }

  #sealReleases = (): void => {
    const releases = this.#releases
    this.#releases = undefined
    releases?.seal()
  }

  /** Stops using the client (which stays open: it is yours). Calls after close reject with `ERR_RK_CLOSED`. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    unwatch(this.client, this.#listener)
    this.#denied?.clearAll()
  }

  /** One request: answered by the deny cache, failed at once, or queued for its script call. */
  #run(op: Op, request: StoreRequest, chargedAt: number): StoreResult | Promise<StoreResult> {
    if (this.#closed) return Promise.reject(fail.closed())
    const caller = this.clock === 'caller'
    const checked = checkArguments(op, request, chargedAt, caller)
    if (checked instanceof Error) return Promise.reject(checked)
    const { now } = checked
    const { cost } = request
    const { keys, specs, alone } = checksOf(this.prefix, this.#cluster, request)

    const denied = this.#denied
    let signature: string | undefined
    const group = this.#cluster ? signatureOf(keys) : ''
    if (denied !== undefined) {
      if (op === OP.refund || op === OP.reset || op === OP.charge) this.#forget(keys)
      else if (cost > 0) {
        // The specs too: two requests on the same keys may hold them to different numbers (load
        // shedding's views of one budget share its state), and one's denial says nothing of the other.
        signature = denySignatureOf(this.#cluster ? group : signatureOf(keys), specs)
        // On the Redis clock a denial is timed on the monotonic clock: a wall clock stepped back would stretch it.
        const hit = denied.get(signature, cost, caller ? now : performance.now(), caller ? now : undefined)
        if (hit !== undefined) {
          this.#events?.measured?.('deny-cache-hit', 1)
          return hit
        }
      }
    }

    const status = this.client.status
    // The first connection is being made: wait for it (within the deadline) rather than bypass Redis.
    const wait = status !== 'ready' && this.#connection.waits(status)
    const slot = this.#cluster ? keySlot(keys[0]) : -1
    const refused = this.#refusal(status, wait, slot)
    if (refused !== undefined) return Promise.reject(refused)

    const { call, promise } = newCall({
      expires: performance.now() + this.timeoutMs,
      op,
      keys,
      specs,
      alone,
      cost,
      now,
      chargedAt: checked.chargedAt,
      charged: checked.charged,
      lease: checked.lease,
      group,
      slot,
      quiet: false,
      signature,
      invalidations: this.#invalidations,
    })
    this.#queue(call, wait)
    return promise
  }

  /** Why a call can't go now: the client is not connected (nor making its first connection), or its node fails fast. */
  #refusal(status: string, wait: boolean, slot: number): StoreError | undefined {
    // Fail fast: never hand a command to ioredis's offline queue, which would replay it later.
    if (status !== 'ready' && !wait) return fail.notConnected(status)
    if (this.#health.failsFast(slot)) return fail.notAnswering()
    return undefined
  }

  /** A call under its deadline, waiting for the first connection or for its batch. */
  #queue(call: Call, wait: boolean): void {
    this.#deadlines.add(call)
    if (wait) this.#connection.add(call)
    else this.#batcher.enqueue(call)
  }

  /** Settles a call (it succeeded or failed). */
  #settle(call: Call): void {
    this.#deadlines.settle(call)
    this.#batcher.release(call)
  }

  /** Fails every call of `calls` not settled yet. */
  #rejectAll(calls: readonly Call[], error: StoreError): void {
    for (const call of calls) {
      if (call.done) continue
      this.#settle(call)
      call.reject(error)
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
        call.reject(fail.notConnected(status))
        continue
      }
      calls.push(call)
      if (call.expires < expires) expires = call.expires
    }
    if (calls.length === 0) return
    const nodeKey = this.#health.nodeOf(calls[0].slot)
    const node = this.#health.node(nodeKey)
    let probe = false
    if (node.down) {
      // Nothing more is queued for a node that is down: one probe at a time finds out when it is
      // back; every other call fails at once.
      if (node.probing || performance.now() < node.probeAt) {
        this.#rejectAll(calls, fail.notAnswering())
        return
      }
      node.probing = probe = true
    }
    const wall = Date.now()
    // The script refuses to run after the earliest deadline of the batch, in Redis time.
    const deadline = this.#offset.deadline(wall, expires)
    const args = encodeBatch(calls, this.clock === 'caller', deadline, this.extraTtlMs)
    const batch = newBatch(calls, { args, expires, sentAt: wall, node: nodeKey, probe })
    this.#events?.measured?.('batch-size', calls.length)
    this.#batcher.open(batch)
    this.#send(batch, false)
  }

  /** Sends a batch's script call (`whole`: the script's text, after NOSCRIPT). */
  #send(batch: Batch, whole: boolean): void {
    const node = this.#health.node(batch.node)
    node.unanswered++
    batch.seq = ++node.sent
    batch.back = false
    const handlers: ScriptHandlers = {
      reply: (reply, unreplicated) => {
        this.#back(batch, node, true)
        this.#reply(batch, reply, unreplicated)
      },
      error: (error, answered) => {
        this.#back(batch, node, answered)
        this.#fail(batch, error)
      },
    }
    // WAIT only for a batch that may write (a peek alone writes nothing).
    const waitUntil = this.replicas > 0 && batch.calls.some(mayWrite) ? batch.expires : undefined
    this.#transport.run(batch.args, whole, waitUntil, handlers)
  }

  /** A batch came back (a reply or an error): its node learns of it. */
  #back(batch: Batch, node: NodeState, answered: boolean): void {
    batch.back = true
    this.#health.back(batch, node, answered)
  }

  /** Settles a batch's calls with its reply (or queues them once more if Redis judged it late too early). */
  #reply(batch: Batch, reply: unknown, unreplicated: boolean): void {
    this.#batcher.close(batch)
    const calls = batch.calls
    const decoded = decodeReply(reply, calls)
    if (decoded === undefined) {
      this.#rejectAll(calls, fail.unexpectedReply())
      return
    }
    // A reply after every deadline was delayed (a pause, a backlog): it says nothing about the clocks.
    if (calls.every((call) => call.done)) return
    this.#offset.sample(decoded.redisNow, batch.sentAt, decoded.late)
    if (decoded.late) {
      this.#late(calls)
      return
    }
    if (this.#health.outage) this.#health.healthy()
    for (let c = 0; c < calls.length; c++) {
      const call = calls[c]
      const answer = decoded.answers[c]
      if (answer === undefined) {
        this.#rejectAll(calls.slice(c), fail.unexpectedReply())
        return
      }
      if (call.done) continue
      this.#settle(call)
      if ('failed' in answer) {
        this.#health.failedInside(String(answer.failed))
        call.reject(fail.requestFailed(answer.failed))
      } else if (unreplicated && wrote(call, answer.allowed)) call.reject(fail.notReplicated(this.replicas))
      else this.#answer(call, answer)
    }
  }

  /** A refund, reset or charge of `keys`: the deny cache drops their denials, and those in flight are not cached. */
  #forget(keys: readonly string[]): void {
    if (this.#denied === undefined) return
    this.#invalidations++
    this.#denied.clear(keys)
  }

  /** Resolves a call with its result, and remembers a denial in the deny cache (or forgets those a refund or reset made stale). */
  #answer(call: Call, result: StoreResult): void {
    const denied = this.#denied
    if (denied !== undefined) {
      if (!result.allowed && call.signature !== undefined && call.invalidations === this.#invalidations) {
        // Timed from when the call was made (monotonic, before Redis decided: the denial ends no later than Redis's).
        denied.set(call.signature, call.keys, call.specs, call.cost, call.now >= 0 ? call.now : call.expires - this.timeoutMs, result)
      } else if (call.op === OP.refund || call.op === OP.reset || call.op === OP.charge) {
        // Landed only now: a denial of its keys may have reached Redis first (on a Cluster a batch of
        // other keys doesn't wait for this one's) and been cached since the call was made.
        this.#forget(call.keys)
      }
    }
    call.resolve(result)
  }

  /**
   * Redis judged a batch late although a deadline hasn't passed: its clock moved against ours.
   * Nothing was read or written, so sending those calls once more (with the corrected offset) is safe.
   */
  #late(calls: readonly Call[]): void {
    for (const call of calls) {
      if (call.done) continue
      if (!call.resent && this.client.status === 'ready') {
        call.resent = true
        this.#batcher.enqueue(call)
      } else {
        this.#settle(call)
        call.reject(fail.noAnswerWithin(this.timeoutMs))
      }
    }
  }

  #fail(batch: Batch, error: unknown): void {
    const message = error instanceof Error ? error.message : ''
    if (!batch.resent && message.startsWith('NOSCRIPT') && this.client.status === 'ready' && batch.calls.some((call) => !call.done)) {
      // Redis restarted or its scripts were flushed, so the script did not run: load it by
      // sending it whole, once. No other error is retried (a retried decision may double count).
      batch.resent = true
      this.#send(batch, true)
      return
    }
    this.#batcher.close(batch)
    if (isOutage(error) && batch.calls.some((call) => !call.done)) {
      // A lost connection, a cluster without a master for a slot, a server still loading: an
      // outage whether or not the client also emitted an error event for it.
      this.#health.trouble(`the Redis call failed: ${message.slice(0, 80)}`)
      if (!isReplyError(error)) this.#health.markDown(batch.node, this.timeoutMs)
    }
    this.#rejectAll(batch.calls, fail.callFailed(error))
  }

  /** Learns the clock offset with an empty batch (no requests). */
  #calibrate(): void {
    this.#transport.readClock((redisNow, sentAt) => this.#offset.sample(redisNow, sentAt, false))
    this.#transport.readMemoryPolicy(this.prefix, (maxmemory, policy) => {
      const message = evictionWarning(maxmemory, policy)
      if (message === this.#memoryTold || this.#closed) return
      this.#memoryTold = message
      if (message === '') return
      if (this.#events === undefined) this.#memoryWarning = message
      else this.#events.warn?.({ code: 'RK_REDIS_EVICTION', message })
    })
  }

  #listener: ClientListener = {
    error: (error, address) => {
      if (address === undefined) {
        // Calls waiting for the first connection fail with it, rather than at their deadline.
        const status = this.client.status
        for (const call of this.#connection.failed()) {
          if (call.done) continue
          this.#settle(call)
          call.reject(fail.notConnected(status))
        }
      } else {
        this.#health.markDown(address, this.timeoutMs)
      }
      const code = errorCode(error)
      this.#health.trouble(address === undefined ? `connection failed: ${code}` : `node ${address}: ${code}`)
    },
    ready: () => {
      const waiting = this.#connection.ready()
      // A new connection: nothing of ours is stuck behind an old one.
      this.#health.markAllUp()
      this.#calibrate()
      for (const call of waiting) if (!call.done) this.#batcher.enqueue(call)
      this.#health.reconnected()
    },
    lost: () => {
      // Sent and unanswered: Redis may have run them, and the client's resent copies are refused.
      const lost: Call[] = []
      this.#deadlines.forEachPending((call) => {
        if (call.batch !== undefined && !call.batch.back) lost.push(call)
      })
      if (lost.length === 0) return
      this.#health.trouble('the connection closed with calls in flight')
      this.#rejectAll(lost, fail.connectionLost())
    },
  }
}
