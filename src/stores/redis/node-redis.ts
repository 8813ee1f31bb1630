/**
 * node-redis (the `redis` package, v4, v5 and v6) behind the store's client interface: a client
 * from `createClient` or a cluster from `createCluster`, wrapped once at construction so that the
 * store talks to every client alike (see {@link RedisClient}).
 */
import type { RedisClient } from './client.js'
import { NEVER_CONNECTED } from './failures.js'

/** The part of a node-redis client (`createClient`, v4–v6) that the store uses. */
interface NodeRedisSingle {
  /** Absent on a client pool (`createClientPool`), which only says whether it is open. */
  readonly isReady?: boolean
  readonly isOpen: boolean
  readonly options?: {
    readonly disableOfflineQueue?: unknown
    readonly legacyMode?: unknown
    readonly socket?: { readonly reconnectStrategy?: unknown }
  }
  /** node-redis 4 in `legacyMode`: the promise-returning commands. */
  readonly v4?: { sendCommand(args: string[]): Promise<unknown> }
  sendCommand(args: string[]): Promise<unknown>
  on(event: string, listener: (...args: unknown[]) => void): unknown
  /** A Sentinel client (`createSentinel`, node-redis 5 and 6) has these. */
  readonly getMasterNode?: unknown
  readonly getSentinelNode?: unknown
}

/** A node-redis Sentinel client's command sender: whether the command only reads comes first. */
interface NodeRedisSentinel {
  sendCommand(isReadonly: boolean, args: string[]): Promise<unknown>
}

/** A master of a node-redis cluster's slot table. */
interface NodeRedisShard {
  readonly master?: { readonly host?: unknown; readonly port?: unknown }
}

/** A node client of a node-redis cluster, enough to send commands in one write (a pipeline). */
interface NodeRedisNodeClient {
  multi(): { addCommand(args: string[]): unknown; execAsPipeline(): Promise<unknown[]> }
}

/** The part of a node-redis cluster (`createCluster`, v4–v6) that the store uses. */
interface NodeRedisCluster {
  readonly isOpen: boolean
  readonly isReady?: boolean
  readonly slots: readonly (NodeRedisShard | undefined)[]
  readonly options?: { readonly defaults?: { readonly disableOfflineQueue?: unknown } }
  /** The cluster's nodes by `host:port` (v4–v6). */
  readonly nodeByAddress?: ReadonlyMap<string, unknown>
  sendCommand(firstKey: string | undefined, isReadonly: boolean, args: string[]): Promise<unknown>
  getSlotMaster(slot: number): unknown
  /** A node's client, connected (v4–v6). */
  nodeClient?(node: unknown): NodeRedisNodeClient | Promise<NodeRedisNodeClient>
  /** The slot table's keeper (v5, v6): rereads the topology through a node's client. */
  readonly _slots?: {
    readonly masters?: readonly { readonly address?: unknown; readonly client?: { readonly isReady?: unknown } }[]
    rediscover?(startWith: unknown): Promise<unknown>
  }
  on(event: string, listener: (...args: unknown[]) => void): unknown
}

/**
 * A connection that was up went down (writes may have been on it), rather than a connection attempt
 * that failed (nothing was written to it: the calls waiting for the next master must not be refused).
 */
function dropped(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  return error.constructor.name === 'SocketClosedUnexpectedlyError' || code === 'ECONNRESET' || code === 'EPIPE'
}

/** A node-redis node (or shard master) as `host:port`; '' when there is none. */
function addressOf(node: { readonly host?: unknown; readonly port?: unknown } | undefined): string {
  return node === undefined ? '' : `${String(node.host)}:${String(node.port)}`
}

/** How often a cluster's slot table may be reread while a master's connection keeps failing. */
const REDISCOVER_EVERY_MS = 1000

/** A node-redis client or cluster: it sends raw commands and says whether it is open, and has no ioredis `status`. */
export function isNodeRedis(client: unknown): boolean {
  if (typeof client !== 'object' || client === null) return false
  const c = client as { sendCommand?: unknown; isOpen?: unknown; status?: unknown }
  return typeof c.sendCommand === 'function' && typeof c.isOpen === 'boolean' && typeof c.status !== 'string'
}

/** The node-redis `client` is a cluster (`createCluster`). */
function isNodeRedisCluster(client: unknown): client is NodeRedisCluster {
  return typeof (client as { getSlotMaster?: unknown }).getSlotMaster === 'function'
}

/** Every argument as text: node-redis sends strings and buffers only. */
function texts(args: readonly unknown[], from: number, into: string[]): string[] {
  for (let i = from; i < args.length; i++) into.push(typeof args[i] === 'string' ? (args[i] as string) : String(args[i]))
  return into
}

/**
 * Its status as ioredis would say it: 'ready', 'connecting' (never ready yet), 'reconnecting' or
 * 'end'; or NEVER_CONNECTED for a client its owner has not connected yet (node-redis clients are
 * connected by their owner), which fails calls at once with a message saying so.
 */
function statusOf(ready: boolean, open: boolean, everReady: boolean, everOpen: boolean): string {
  if (ready) return 'ready'
  if (!open) return everOpen ? 'end' : NEVER_CONNECTED
  return everReady ? 'reconnecting' : 'connecting'
}

/**
 * A node-redis client (`createClient`) as the store's client. Commands go only while it is
 * ready (the store checks `status` before each call), so its offline queue never holds one of
 * the store's calls; and the script refuses to run past a call's deadline in any case.
 */
class NodeRedisSingleClient implements RedisClient {
  readonly raw: NodeRedisSingle
  /** What sends the commands: the client, or its `v4` commands in node-redis 4's `legacyMode` (callbacks otherwise). */
  readonly #sender: { sendCommand(args: string[]): Promise<unknown> }
  #everReady: boolean
  /** Seen open (or ready) at least once: closed after that is 'end', not NEVER_CONNECTED. */
  #everOpen: boolean
  /** A Sentinel client's script calls not answered yet (see {@link #refuseRetries}); undefined for any other client. */
  readonly #inFlight: Set<string[]> | undefined
  /** Calls whose retry was refused: they fail as a lost connection. */
  readonly #refused = new WeakSet<string[]>()

  constructor(raw: NodeRedisSingle) {
    this.raw = raw
    // A Sentinel client (createSentinel) takes whether the command only reads first: the script
    // writes, so it goes to the master the sentinels name.
    const sentinel = typeof raw.getMasterNode === 'function' && typeof raw.getSentinelNode === 'function'
    this.#sender = sentinel
      ? { sendCommand: (args) => (raw as unknown as NodeRedisSentinel).sendCommand(false, args) }
      : raw.options?.legacyMode === true && raw.v4 !== undefined
        ? raw.v4
        : raw
    this.#everReady = raw.isReady ?? raw.isOpen
    this.#everOpen = raw.isOpen
    raw.on('ready', () => {
      this.#everReady = true
      this.#everOpen = true
    })
    if (sentinel) {
      this.#inFlight = new Set()
      // node-redis 6 tells of a master connection's failure as a 'client-error'; node-redis 5 only
      // as an 'error', with passthroughClientErrorEvents.
      raw.on('client-error', (event: unknown) => {
        const e = event as { type?: unknown; error?: unknown } | undefined
        if (e?.type === 'MASTER' && dropped(e.error)) this.#refuseRetries()
      })
      raw.on('error', (error: unknown) => {
        if (error instanceof Error && error.message.startsWith('Master Client (') && dropped(error.cause)) this.#refuseRetries()
      })
    }
  }

  /**
   * A master connection failed. The Sentinel client sends every write that was on it again, to the
   * master it finds next, but Redis may have run it (the reply was lost, not the command): each
   * call in flight gets a key count of -1, so that Redis refuses its copy and runs nothing, and it
   * fails as a lost connection. (Told synchronously, before the client retries after its rediscovery.)
   */
  #refuseRetries(): void {
    const inFlight = this.#inFlight
    if (inFlight === undefined) return
    for (const command of inFlight) {
      command[2] = '-1'
      this.#refused.add(command)
    }
    inFlight.clear()
  }

  #send(command: string[]): Promise<unknown> {
    const inFlight = this.#inFlight
    if (inFlight === undefined) return this.#sender.sendCommand(command)
    inFlight.add(command)
    return this.#sender.sendCommand(command).then(
      (reply) => {
        inFlight.delete(command)
        return reply
      },
      (error: unknown) => {
        inFlight.delete(command)
        if (!this.#refused.has(command)) throw error
        throw new Error('Socket closed unexpectedly with the call in flight (not sent again: Redis may have run it)', { cause: error })
      },
    )
  }

  get status(): string {
    const raw = this.raw
    if (raw.isOpen) this.#everOpen = true
    // A pool can't say whether a connection is up: open is as ready as it gets (a call it queues
    // meanwhile still has its deadline, and the script refuses to run it late).
    return statusOf(raw.isReady ?? raw.isOpen, raw.isOpen, this.#everReady, this.#everOpen)
  }

  evalsha(...args: (string | number)[]): Promise<unknown> {
    return this.#send(texts(args, 0, ['EVALSHA']))
  }

  eval(...args: (string | number)[]): Promise<unknown> {
    return this.#send(texts(args, 0, ['EVAL']))
  }

  on(event: 'error' | 'ready' | 'node error', listener: (...args: unknown[]) => void): unknown {
    if (event === 'node error') return this
    return this.raw.on(event, listener)
  }
}

/**
 * A node-redis cluster (`createCluster`) as the store's client: a script call goes to the master
 * of its first key's slot (node-redis follows MOVED and ASK), and the slot table says which
 * master that is, so that a node that stops answering fails only its own slots.
 */
class NodeRedisClusterClient implements RedisClient {
  readonly raw: NodeRedisCluster
  readonly isCluster = true

  /** `performance.now()` before which no other reread of the slot table starts. */
  #rediscoverAfter = 0
  /** Seen open at least once (see NodeRedisSingleClient). */
  #everOpen = false

  constructor(raw: NodeRedisCluster) {
    this.raw = raw
    // node-redis rereads its slot table on a MOVED reply, which a dead master never sends (v6.4
    // also 5 s after a node starts reconnecting): its slots would keep going to the dead address
    // after a replica took over. While a master's connection fails, the store has it reread the
    // topology through a live master, at most once a second (v5, v6; v4 keeps its table private).
    if (typeof raw._slots?.rediscover === 'function') {
      raw.on('node-error', (_error: unknown, node: unknown) => this.#masterFailing(node))
    }
  }

  #masterFailing(node: unknown): void {
    const address = addressOf(node as { host?: unknown; port?: unknown } | undefined)
    const slots = this.raw._slots
    if (slots?.rediscover === undefined || !this.raw.isOpen || !this.masters().has(address)) return
    const now = performance.now()
    if (now < this.#rediscoverAfter) return
    const live = slots.masters?.find((m) => m.client?.isReady === true && String(m.address) !== address)
    if (live === undefined) return
    this.#rediscoverAfter = now + REDISCOVER_EVERY_MS
    // A failed reread changes nothing: the next error of the failing master tries again.
    slots.rediscover(live.client).catch(() => {})
  }

  get status(): string {
    const raw = this.raw
    // v4 and v5 clusters say only whether they are open; a closed node shows in its slots' calls.
    if (raw.isOpen) this.#everOpen = true
    return statusOf(raw.isReady ?? raw.isOpen, raw.isOpen, true, this.#everOpen)
  }

  evalsha(...args: (string | number)[]): Promise<unknown> {
    return this.#send(Number(args[1]) > 0 ? String(args[2]) : undefined, texts(args, 0, ['EVALSHA']))
  }

  eval(...args: (string | number)[]): Promise<unknown> {
    return this.#send(Number(args[1]) > 0 ? String(args[2]) : undefined, texts(args, 0, ['EVAL']))
  }

  #send(firstKey: string | undefined, command: string[]): Promise<unknown> {
    return this.raw.sendCommand(firstKey, false, command).catch((error: unknown) => this.#ask(error, command))
  }

  /**
   * An ASK the cluster gave up on: followed once more, with ASKING and the call in one pipeline.
   * ASKING holds only for the next command on its connection; node-redis 4 sends it on its own
   * and awaits its reply before the call, so under concurrent traffic another command can take it,
   * and the call bounces (MOVED from the target, ASK from the source) until the redirections run
   * out. ASK means the source ran nothing, so following it runs the script once. (node-redis 5 and
   * 6 send the two together, and only give up after their own redirections.)
   */
  async #ask(error: unknown, command: string[]): Promise<unknown> {
    const message = error instanceof Error ? error.message : ''
    const node = message.startsWith('ASK ') ? this.raw.nodeByAddress?.get(message.slice(message.lastIndexOf(' ') + 1)) : undefined
    if (node === undefined || this.raw.nodeClient === undefined) throw error
    const client = await this.raw.nodeClient(node)
    const pipeline = client.multi()
    pipeline.addCommand(['ASKING'])
    pipeline.addCommand(command)
    const replies = await pipeline.execAsPipeline()
    return replies[1]
  }

  /** The master that serves `slot`, `host:port`, or '' when unknown. */
  masterOf(slot: number): string {
    return addressOf(this.raw.slots[slot]?.master)
  }

  /** Every master that serves a slot now. */
  masters(): Set<string> {
    const masters = new Set<string>()
    for (const shard of new Set(this.raw.slots)) {
      if (shard?.master !== undefined) masters.add(addressOf(shard.master))
    }
    return masters
  }

  on(event: 'error' | 'ready' | 'node error', listener: (...args: unknown[]) => void): unknown {
    if (event === 'ready') return this.raw.on('connect', listener)
    if (event === 'error') return this.raw.on('error', listener)
    // v5 and v6 report a node's connection errors apart, with the node (v4 reports them as 'error').
    return this.raw.on('node-error', (error: unknown, node: unknown) =>
      listener(error, addressOf(node as { host?: unknown; port?: unknown } | undefined)),
    )
  }
}

/** One wrapper per node-redis client, shared by every store made on it (so its listeners are added once). */
const wrappers = new WeakMap<object, RedisClient>()

/** A node-redis client or cluster as the store's client (see {@link isNodeRedis}). */
export function wrapNodeRedis(client: unknown): RedisClient {
  let wrapped = wrappers.get(client as object)
  if (wrapped === undefined) {
    wrapped = isNodeRedisCluster(client) ? new NodeRedisClusterClient(client) : new NodeRedisSingleClient(client as NodeRedisSingle)
    wrappers.set(client as object, wrapped)
  }
  return wrapped
}

/**
 * What a client's settings would break, said once at construction; '' when nothing. An ioredis or
 * iovalkey Sentinel client without `failoverDetector` stays on a master that froze and came back
 * after its replica took over, until the sentinels demote it (seconds later): every charge admitted
 * there meanwhile is dropped by its resync.
 */
export function clientWarning(client: RedisClient): string {
  const options = (client as { options?: { sentinels?: unknown; failoverDetector?: unknown } }).options
  if (Array.isArray(options?.sentinels) && options.sentinels.length > 0 && options.failoverDetector !== true) {
    return 'RedisStore: this Sentinel client has no failoverDetector: a master that froze and came back after its replica took over keeps the client, and everything admitted there until the sentinels demote it is lost; create the client with failoverDetector: true'
  }
  return nodeRedisWarning(client)
}

/** What a node-redis client's settings would break; '' when nothing. */
function nodeRedisWarning(client: RedisClient): string {
  if (client instanceof NodeRedisClusterClient && typeof client.raw._slots?.rediscover !== 'function') {
    return 'RedisStore: this node-redis Cluster client (node-redis 4) learns of a new master only from a MOVED reply, which a dead master never sends: after a master dies, its slots fail until its address answers again, however long after its replica took over; for a Cluster use node-redis 5 or 6, ioredis or iovalkey'
  }
  if (!(client instanceof NodeRedisSingleClient)) return ''
  if (client.raw.options?.socket?.reconnectStrategy === false) {
    return 'RedisStore: the node-redis client has reconnectStrategy: false, so after its first connection failure it never reconnects and every call fails; use the default strategy or a function'
  }
  return ''
}
