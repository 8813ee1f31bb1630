import { Cluster as Cluster5, Redis as Redis5 } from 'ioredis'
import { Cluster as Cluster6, Redis as Redis6 } from 'ioredis6'
import type { RedisClient } from '../../../src/stores/redis/index.js'

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
