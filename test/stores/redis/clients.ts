import { Cluster as Cluster5, Redis as Redis5 } from 'ioredis'
import { Cluster as Cluster6, Redis as Redis6 } from 'ioredis6'
import { Valkey, Cluster as ValkeyCluster } from 'iovalkey'
import { createClient as createClient6, createCluster as createCluster6 } from 'redis'
import { createClient as createClient4, createCluster as createCluster4 } from 'redis4'
import { createClient as createClient5, createCluster as createCluster5 } from 'redis5'
import type { NodeRedisClient, RedisClient } from '../../../src/stores/redis/index.js'

/** The ioredis major versions the store supports; suites run once per version. */
export const IOREDIS = [
  {
    name: 'ioredis 5',
    single: (url: string, options: Record<string, unknown> = {}) => new Redis5(url, options),
    cluster: (nodes: readonly { host: string; port: number }[], options: Record<string, unknown> = {}) => new Cluster5([...nodes], options),
  },
  {
    name: 'ioredis 6',
    single: (url: string, options: Record<string, unknown> = {}) => new Redis6(url, options),
    cluster: (nodes: readonly { host: string; port: number }[], options: Record<string, unknown> = {}) => new Cluster6([...nodes], options),
  },
] as const

/** What the suites need of a client beyond the store's own interface. */
export type TestClient = RedisClient & {
  ping(): Promise<string>
  pttl(key: string): Promise<number>
  get(key: string): Promise<string | null>
  quit(): Promise<unknown>
  disconnect(): void
}

/** Waits until a client is ready (the store fails fast before that, by design). */
export async function ready(client: { status: string; once(event: string, listener: () => void): unknown }): Promise<void> {
  if (client.status === 'ready') return
  await new Promise<void>((resolve) => client.once('ready', resolve))
}

/** A client made for a store, whatever its library: what to hand the store, when it is ready, how to close it. */
export interface StoreClient {
  /** What `new RedisStore({ client })` takes. */
  readonly client: RedisClient | NodeRedisClient
  /** Resolves once the client is connected. */
  readonly ready: Promise<void>
  close(): void
}

/** How a suite wants its client: reconnect every `reconnectMs` (the library's default when undefined). */
export interface StoreClientOptions {
  reconnectMs?: number
  /**
   * ioredis and iovalkey: made with `lazyConnect: true`, so it connects on its first command (the
   * store connects it). node-redis has no such option: its `connect()` is always called at once
   * and not awaited, so the client is connecting when the suite gets it.
   */
  lazy?: boolean
}

type NodeRedisLike = {
  isReady: boolean
  on(event: string, listener: (...args: unknown[]) => void): unknown
  connect(): Promise<unknown>
  destroy?(): void
  disconnect?(): Promise<void>
}

/** A node-redis client or cluster, connecting; errors go to a listener (node-redis throws them otherwise). */
function nodeRedis(raw: unknown): StoreClient {
  const c = raw as NodeRedisLike
  c.on('error', () => {})
  const ready = c.connect().then(
    () => undefined,
    () => new Promise<void>((resolve) => c.on('ready', () => resolve())),
  )
  return {
    client: raw as NodeRedisClient,
    ready,
    close: () => {
      try {
        if (typeof c.destroy === 'function') c.destroy()
        else c.disconnect?.().catch(() => {})
      } catch {
        // Closed already.
      }
    },
  }
}

function ioredisLike(client: RedisClient & { disconnect(): void; once(event: string, listener: () => void): unknown }): StoreClient {
  return { client, ready: ready(client), close: () => client.disconnect() }
}

const reconnect = (ms: number | undefined, lazy = false) => ({
  ...(ms === undefined ? {} : { retryStrategy: () => ms }),
  ...(lazy ? { lazyConnect: true } : {}),
})
const nodeReconnect = (ms: number | undefined) => (ms === undefined ? {} : { reconnectStrategy: () => ms })
const nodeRedisCluster = (make: (options: never) => unknown, nodes: readonly { host: string; port: number }[], options = {}) =>
  nodeRedis(make({ rootNodes: nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })), ...options } as never))

/**
 * Every client library the store takes; suites that run per client iterate this list. `cluster`
 * is there for the libraries whose cluster client the store supports.
 */
export const STORE_CLIENTS: readonly {
  name: string
  single(url: string, options?: StoreClientOptions): StoreClient
  cluster(nodes: readonly { host: string; port: number }[]): StoreClient
}[] = [
  {
    name: 'ioredis 5',
    single: (url, o = {}) => ioredisLike(new Redis5(url, reconnect(o.reconnectMs, o.lazy))),
    cluster: (nodes) => ioredisLike(new Cluster5([...nodes])),
  },
  {
    name: 'ioredis 6',
    single: (url, o = {}) => ioredisLike(new Redis6(url, reconnect(o.reconnectMs, o.lazy))),
    cluster: (nodes) => ioredisLike(new Cluster6([...nodes])),
  },
  {
    name: 'iovalkey',
    single: (url, o = {}) => ioredisLike(new Valkey(url, reconnect(o.reconnectMs, o.lazy)) as never),
    cluster: (nodes) => ioredisLike(new ValkeyCluster([...nodes]) as never),
  },
  {
    name: 'node-redis 4',
    single: (url, o = {}) => nodeRedis(createClient4({ url, socket: nodeReconnect(o.reconnectMs) })),
    cluster: (nodes) => nodeRedisCluster(createCluster4 as never, nodes),
  },
  {
    name: 'node-redis 5',
    single: (url, o = {}) => nodeRedis(createClient5({ url, socket: nodeReconnect(o.reconnectMs) })),
    cluster: (nodes) => nodeRedisCluster(createCluster5 as never, nodes),
  },
  {
    name: 'node-redis 6',
    single: (url, o = {}) => nodeRedis(createClient6({ url, socket: nodeReconnect(o.reconnectMs) })),
    // node-redis's own defaults: the store has the slot table reread when a master dies.
    cluster: (nodes) => nodeRedisCluster(createCluster6 as never, nodes),
  },
]

/**
 * Counts the script calls (`EVALSHA` only: the script loaded by `EVAL` after `NOSCRIPT` is not
 * counted) that go out through a client, whatever its library: the script methods of ioredis and
 * iovalkey, the raw commands of node-redis (`sendCommand`), patched on the instance before any
 * store takes it.
 */
export function countScriptCalls(client: StoreClient['client']): { calls: number } {
  const counter = { calls: 0 }
  const target = client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>
  const raw = typeof target.sendCommand === 'function' && 'isOpen' in target
  const name = raw ? 'sendCommand' : 'evalsha'
  const original = target[name]
  target[name] = function (this: unknown, ...args: unknown[]) {
    // node-redis: `sendCommand(args)` on a client, `sendCommand(firstKey, isReadonly, args)` on a cluster.
    const command = raw ? (Array.isArray(args[0]) ? args[0] : args[2]) : undefined
    if (!raw || (Array.isArray(command) && String(command[0]).toUpperCase() === 'EVALSHA')) counter.calls++
    return original.apply(this, args)
  }
  return counter
}
