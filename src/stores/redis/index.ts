/**
 * `ratekeeper/redis`: the Redis store (ioredis 5 or 6, single node or Cluster).
 * @packageDocumentation
 */
export { type DenyCacheOptions, type RedisClient, type RedisClock, RedisStore, type RedisStoreOptions } from './store.js'
