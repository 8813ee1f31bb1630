// Every RedisStore made on one node-redis client wrapped it anew, and each wrapper added its own
// listeners to the client: a dozen stores on one client (one per limiter, say) passed Node's
// limit of ten listeners per event and printed MaxListenersExceededWarning. One wrapper per
// client now serves every store on it, so the client's listeners do not grow with the stores.

import { createClient, createCluster } from 'redis'
import { afterEach, describe, expect, it } from 'vitest'
import { RedisStore } from '../../src/stores/redis/index.js'

type Emitter = { listenerCount(event: string): number }

const events = ['error', 'ready', 'connect', 'node-error']

/** Listeners per event on the client after `n` stores were made on it. */
function listenersAfter(client: unknown, n: number): Record<string, number> {
  const stores = Array.from({ length: n }, () => new RedisStore({ client: client as never }))
  for (const store of stores) store.close()
  return Object.fromEntries(events.map((e) => [e, (client as Emitter).listenerCount(e)]))
}

describe('a node-redis client shared by many stores', () => {
  const warnings: string[] = []
  const onWarning = (w: Error) => warnings.push(w.name)
  process.on('warning', onWarning)
  afterEach(() => {
    warnings.length = 0
  })

  it.each([
    ['createClient', () => createClient({ url: 'redis://127.0.0.1:1' })],
    ['createCluster', () => createCluster({ rootNodes: [{ url: 'redis://127.0.0.1:1' }] })],
  ])('%s: listeners do not grow with the stores', async (_name, make) => {
    const client = make()
    const one = listenersAfter(client, 1)
    const many = listenersAfter(client, 15)
    expect(many).toEqual(one)
    await new Promise((resolve) => setImmediate(resolve))
    expect(warnings).not.toContain('MaxListenersExceededWarning')
  })
})
