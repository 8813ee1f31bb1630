import { isOutageReply, masterOf, mastersOf, type RedisClient } from './client.js'

/** An outage is over (the recovery is reported) after this long without a failure. */
const QUIET_MS = 1000

/** Down nodes that a failover replaced are looked for at most this often. */
const PRUNE_EVERY_MS = 100

/** A warning for the limiters using the store. */
type Warning = { readonly code: string; readonly message: string }

/** One Redis server as the store sees it ('' on a single node; `host:port` of a Cluster master). */
export interface NodeState {
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

/** What {@link Health} hears about a script call it tracks. */
export interface SentCall {
  /** The node it went to. */
  readonly node: string
  /** Its number among the calls sent to that node. */
  readonly seq: number
  /** It went to a down node as a probe. */
  probe: boolean
}

/**
 * Which Redis servers answer, and whether an outage is on. A node that fails (its connection, or
 * a call left unanswered past its deadline) is down: calls for it fail at once, and one probe at
 * a time finds out when it is back. An outage is reported once, at its first failure
 * (`RK_REDIS_CONNECTION`), and its end once (`RK_REDIS_RECOVERED`), after {@link QUIET_MS} without a
 * failure and with no node down.
 */
export class Health {
  readonly #client: RedisClient
  readonly #cluster: boolean
  readonly #timeoutMs: number
  readonly #warn: (warning: Warning) => void
  /** Servers by node key, and how many of them are down. */
  #nodes = new Map<string, NodeState>()
  #downCount = 0
  /** `performance.now()` of the last look for down nodes that a failover replaced. */
  #prunedAt = Number.NEGATIVE_INFINITY
  /** An outage was reported and its recovery not yet. */
  #outage = false
  /** `performance.now()` of the latest failure (an error event, a call left unanswered). */
  #troubleAt = 0

  constructor(client: RedisClient, cluster: boolean, timeoutMs: number, warn: (warning: Warning) => void) {
    this.#client = client
    this.#cluster = cluster
    this.#timeoutMs = timeoutMs
    this.#warn = warn
  }

  /** An outage was reported and its recovery not yet. */
  get outage(): boolean {
    return this.#outage
  }

  /** The node a slot's calls go to: '' on a single node, the slot's master on a Cluster (or '' if unknown). */
  nodeOf(slot: number): string {
    return masterOf(this.#client, slot)
  }

  node(key: string): NodeState {
    let node = this.#nodes.get(key)
    if (node === undefined) {
      node = { unanswered: 0, sent: 0, answeredUpTo: 0, down: false, probing: false, probeAt: 0 }
      this.#nodes.set(key, node)
    }
    return node
  }

  /** A call for `slot` would wait behind a probe of its down node: it should fail at once. */
  failsFast(slot: number): boolean {
    if (this.#downCount === 0) return false
    const node = this.#nodes.get(this.nodeOf(slot))
    return node?.down === true && (node.probing || performance.now() < node.probeAt)
  }

  /** A node is down: probed at once (`probeDelay` 0) or after `probeDelay` ms. */
  markDown(key: string, probeDelay: number): void {
    const node = this.node(key)
    const probeAt = performance.now() + probeDelay
    if (node.down) {
      if (probeAt > node.probeAt) node.probeAt = probeAt
      return
    }
    node.down = true
    node.probeAt = probeAt
    this.#downCount++
  }

  /** Every node is up (a new connection: nothing of ours is stuck behind an old one). */
  markAllUp(): void {
    for (const node of this.#nodes.values()) this.#markUp(node)
  }

  /** A script call came back; a node that answered (a reply, or an error from Redis itself) is up. */
  back(call: SentCall, node: NodeState, answered: boolean): void {
    node.unanswered--
    if (call.probe) {
      call.probe = false
      node.probing = false
      if (!answered) node.probeAt = performance.now() + this.#timeoutMs
    }
    if (answered) {
      if (call.seq > node.answeredUpTo) node.answeredUpTo = call.seq
      this.#markUp(node)
    }
  }

  /**
   * A script call passed a deadline with no reply: its node is down until it answers, unless the
   * node answered a call sent after this one (then only this call's slot is slow: ioredis retrying
   * a TRYAGAIN, say, and the node's other slots are fine). The next call for a down node goes at
   * once as a probe; a frozen node leaves it unanswered too, and everything else fails fast.
   */
  unanswered(call: SentCall): void {
    if (call.probe) return
    const node = this.#nodes.get(call.node)
    if (node !== undefined && node.answeredUpTo > call.seq) return
    this.trouble(`no answer within ${this.#timeoutMs} ms`)
    this.markDown(call.node, 0)
  }

  /** A failure: reported once per outage. */
  trouble(what: string): void {
    this.#troubleAt = performance.now()
    if (this.#outage) return
    this.#outage = true
    this.#warn({
      code: 'RK_REDIS_CONNECTION',
      message: `RedisStore: Redis is unavailable (${what}); calls fail fast and the limiter applies onStoreError until it is back`,
    })
  }

  /**
   * A request failed inside the script with Redis's `text`: one that says the server can't serve
   * (READONLY from a demoted master, say) is the outage a whole call's error reports too.
   */
  failedInside(text: string): void {
    if (isOutageReply(text)) this.trouble(`the Redis call failed: ${text.slice(0, 80)}`)
  }

  /** Redis decided a call: reports the recovery once the outage is over. */
  healthy(): void {
    if (!this.#outage || performance.now() - this.#troubleAt < QUIET_MS) return
    if (this.#downCount > 0) {
      this.#prune()
      if (this.#downCount > 0) return
    }
    this.#outage = false
    this.#warn({ code: 'RK_REDIS_RECOVERED', message: 'RedisStore: Redis is answering again' })
  }

  /** The client reconnected (after {@link markAllUp}): an outage is over now. */
  reconnected(): void {
    if (this.#outage) {
      this.#troubleAt = Number.NEGATIVE_INFINITY
      this.healthy()
    }
  }

  #markUp(node: NodeState): void {
    if (!node.down) return
    node.down = false
    this.#downCount--
  }

  /** Forgets down nodes that no longer serve a slot (a failover replaced them); at most every 100 ms. */
  #prune(): void {
    if (!this.#cluster) return
    const now = performance.now()
    if (now - this.#prunedAt < PRUNE_EVERY_MS) return
    const masters = mastersOf(this.#client)
    if (masters === undefined) return
    this.#prunedAt = now
    for (const [key, node] of this.#nodes) {
      if (masters.has(key)) continue
      this.#markUp(node)
      if (node.unanswered === 0) this.#nodes.delete(key)
    }
  }
}
