/**
 * `ratekeeper/redis`: the Redis store (ioredis 5 or 6, iovalkey, node-redis 4 to 6; single node or Cluster).
 * @packageDocumentation
 */
export type { RedisClient } from './client.js'
export type { DenyCacheOptions, NodeRedisClient, RedisClock, RedisStoreOptions } from './options.js'
export { RedisStore } from './store.js'
