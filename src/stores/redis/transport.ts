import { directCalls, isCluster, isReplyError, noop, type PipelineClient, type RedisClient, type ScriptCall } from './client.js'
import { clusterCalls } from './cluster-calls.js'
import { CLOCK_ONLY_ARGS } from './protocol.js'
import { DECIDE_SCRIPT, DECIDE_SHA } from './script.js'

/** Redis's maxmemory and eviction policy, read by a script (the store asks a client for scripts only). */
const MEMORY_SCRIPT =
  "local i = redis.call('INFO', 'memory') return { string.match(i, 'maxmemory:(%d+)') or '', string.match(i, 'maxmemory_policy:([%w-]+)') or '' }"

/**
 * What an eviction policy does to a limiter, said once; '' when Redis never evicts (no
 * maxmemory, or `noeviction`, under which a full Redis fails writes: store errors, heard).
 * Every key of the store has a TTL, so the volatile-* policies evict them too.
 */
export function evictionWarning(maxmemory: number, policy: string): string {
  if (!(maxmemory > 0) || policy === '' || policy === 'noeviction') return ''
  return `RedisStore: Redis evicts keys once it reaches maxmemory (maxmemory-policy ${policy}): a limit whose key is evicted starts over, so its client gets past it, and a flood of new keys can push out the keys of busy clients; give the limiter a Redis with maxmemory-policy noeviction (or no maxmemory)`
}

/** How a script call ended. */
export interface ScriptHandlers {
  /** The script ran; `unreplicated`: its writes did not reach the replicas asked for in time. */
  reply(reply: unknown, unreplicated: boolean): void
  /** It failed; `answered`: the node itself answered (an error reply), so it is up. */
  error(error: unknown, answered: boolean): void
}

/**
 * Sends the decide script to Redis: by its SHA1, or whole (after `NOSCRIPT`); with a `WAIT` for
 * `replicas` in the same round trip when a batch may write; past ioredis's auto-pipelining where
 * that is safe (see `directCalls`).
 */
export class ScriptTransport {
  readonly #client: RedisClient
  readonly #replicas: number
  #evalsha: ScriptCall
  #eval: ScriptCall
  /** What makes the pipelines of `replicas` (the client, or a Cluster's view of it: see `clusterCalls`). */
  #pipelines: PipelineClient

  constructor(client: RedisClient, replicas: number) {
    this.#client = client
    this.#replicas = replicas
    this.#evalsha = client.evalsha as ScriptCall
    this.#eval = client.eval as ScriptCall
    this.#pipelines = client as unknown as PipelineClient
    if (!isCluster(client)) {
      directCalls(client).then((direct) => {
        if (direct === undefined) return
        this.#evalsha = direct.evalsha
        this.#eval = direct.eval
      }, noop)
    } else {
      const calls = clusterCalls(client)
      if (calls !== undefined) {
        this.#evalsha = calls.evalsha
        this.#eval = calls.eval
        this.#pipelines = calls.pipelines
      }
    }
  }

  /**
   * Runs the script with `args` (`[sha, numKeys, …]`, see `encodeBatch`); `whole` sends the
   * script's text in place of its SHA1 (written into `args`). With `waitUntil` (the batch's
   * earliest deadline, `performance.now()` ms), the call is followed by a `WAIT` for the replicas.
   */
  run(args: unknown[], whole: boolean, waitUntil: number | undefined, handlers: ScriptHandlers): void {
    if (whole) args[0] = DECIDE_SCRIPT
    if (waitUntil !== undefined) {
      this.#runReplicated(args, whole ? 'eval' : 'evalsha', waitUntil, handlers)
      return
    }
    const command = whole ? this.#eval : this.#evalsha
    command.apply(this.#client, args).then(
      (reply) => handlers.reply(reply, false),
      (error) => handlers.error(error, isReplyError(error)),
    )
  }

  /**
   * The script call and a `WAIT` in one pipeline (one round trip, one node: the pipeline goes to
   * the slot of the script's keys). The `WAIT` lasts at most until shortly before `expires`. An
   * `ASK` (the slot is migrating and the keys have moved) is followed once, to `asked`: `ASKING`
   * first, in the same pipeline, as it holds for the next command only. The Cluster itself follows
   * a pipeline's `ASK` only when every command got it, and the `WAIT` succeeds where it is sent.
   * `ASK` means the source ran nothing, so the script runs once.
   */
  #runReplicated(args: unknown[], name: 'eval' | 'evalsha', expires: number, handlers: ScriptHandlers, asked?: PipelineClient): void {
    // WAIT should give up before the deadline, so that a shortfall is reported as such rather than
    // as a timeout; Redis times it out on its cron (every 100 ms at the default hz), hence the margin.
    const remaining = expires - performance.now()
    const waitMs = Math.max(1, Math.floor(remaining > 200 ? remaining - 110 : remaining / 2))
    const commands = [
      [name, ...args],
      ['wait', this.#replicas, waitMs],
    ]
    if (asked !== undefined) commands.unshift(['asking'])
    const first = asked === undefined ? 0 : 1
    ;(asked ?? this.#pipelines)
      .pipeline(commands)
      .exec()
      .then(
        (results) => {
          const script = results?.[first]
          const wait = results?.[first + 1]
          if (script === undefined || script[0] !== null) {
            const error = script?.[0] ?? new Error('no reply')
            const node = asked === undefined ? this.#askedNode(error) : undefined
            if (node !== undefined) this.#runReplicated(args, name, expires, handlers, node)
            else handlers.error(error, isReplyError(error))
            return
          }
          const acked = wait !== undefined && wait[0] === null && typeof wait[1] === 'number' ? wait[1] : 0
          handlers.reply(script[1], acked < this.#replicas)
        },
        (error) => handlers.error(error, false),
      )
  }

  /** The node an `ASK` error sends the call to, when the client can reach it safely. */
  #askedNode(error: Error): PipelineClient | undefined {
    const message = error.message
    if (!message.startsWith('ASK ') || this.#pipelines.atNode === undefined) return undefined
    return this.#pipelines.atNode(message.slice(message.lastIndexOf(' ') + 1))
  }

  /**
   * Reads Redis's maxmemory (bytes) and eviction policy; nothing when it can't (an ACL without
   * INFO, say). The call names `key` (it reads no key): on a Cluster it goes to that key's master,
   * not to a node picked at random (node-redis 4 spins for ever picking one before it knows any).
   */
  readMemoryPolicy(key: string, report: (maxmemory: number, policy: string) => void): void {
    this.#eval.call(this.#client, MEMORY_SCRIPT, 1, key).then((reply: unknown) => {
      const r = reply as unknown[]
      if (Array.isArray(r) && r.length === 2) report(Number(String(r[0])), String(r[1]))
    }, noop)
  }

  /** Reads Redis's clock with an empty batch: `sample(redisNow, sentAt)` when it answers. */
  readClock(sample: (redisNow: number, sentAt: number) => void): void {
    const sentAt = Date.now()
    const done = (reply: unknown) => {
      const r = reply as number[]
      if (Array.isArray(r) && typeof r[1] === 'number') sample(r[1], sentAt)
    }
    this.#evalsha.call(this.#client, DECIDE_SHA, ...CLOCK_ONLY_ARGS).then(done, (error: unknown) => {
      if (error instanceof Error && error.message.startsWith('NOSCRIPT'))
        this.#eval.call(this.#client, DECIDE_SCRIPT, ...CLOCK_ONLY_ARGS).then(done, noop)
    })
  }
}
