// Every client library's own types fit `RedisStoreOptions['client']` as they are, without a cast:
// checked by the compiler (npm run typecheck), and each store made here from an unconnected
// client is one the store accepts at run time.

import { Cluster as Cluster5, Redis as Redis5 } from 'ioredis'
import { Cluster as Cluster6, Redis as Redis6 } from 'ioredis6'
import { Valkey, Cluster as ValkeyCluster } from 'iovalkey'
import { createClient as createClient6, createCluster as createCluster6 } from 'redis'
import { createClient as createClient4, createCluster as createCluster4 } from 'redis4'
import { createClient as createClient5, createCluster as createCluster5 } from 'redis5'
import { describe, expect, it } from 'vitest'
import { RedisStore, type RedisStoreOptions } from '../../../src/stores/redis/index.js'

describe('RedisStore client types', () => {
  it('takes every library’s single-node and cluster clients without a cast', () => {
    const lazy = { lazyConnect: true } as const
    const nodes = [{ host: '127.0.0.1', port: 1 }]
    const rootNodes = [{ url: 'redis://127.0.0.1:1' }]
    const clients: RedisStoreOptions['client'][] = [
      new Redis5(lazy),
      new Cluster5(nodes, lazy),
      new Redis6(lazy),
      new Cluster6(nodes, lazy),
      new Valkey(lazy),
      new ValkeyCluster(nodes, lazy),
      createClient4(),
      createCluster4({ rootNodes }),
      createClient5(),
      createCluster5({ rootNodes }),
      createClient6(),
      createCluster6({ rootNodes }),
    ]
    for (const client of clients) {
      const store = new RedisStore({ client })
      expect(store.client.status).not.toBe('ready')
      store.close()
      const raw = client as { disconnect?: () => unknown; destroy?: () => unknown }
      if (typeof raw.destroy !== 'function') void Promise.resolve(raw.disconnect?.()).catch(() => {})
    }
  })
})
