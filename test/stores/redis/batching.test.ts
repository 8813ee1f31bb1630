// RedisStore batching on a real Redis: requests made while others are on their way share one
// script call, and each is still decided on its own, atomically, in the order it was made.

import { Redis } from 'ioredis'
import { Valkey } from 'iovalkey'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { concurrency, createLimiter, fixedWindow, slidingWindow, tokenBucket } from '../../../src/index.js'
import type { Decision } from '../../../src/limiter/decision.js'
import { RedisStore } from '../../../src/stores/redis/index.js'
import { keyHead, policyPart, stateKey } from '../../../src/stores/redis/keys.js'
import { deleteUnder, describeRedis, REDIS_URL, uniquePrefix } from '../../helpers/redis.js'
import { IOREDIS, ready, STORE_CLIENTS, type StoreClient } from './clients.js'

const T0 = Date.UTC(2030, 4, 17, 12, 0, 0)

describeRedis('RedisStore batching', () => {
  const prefix = uniquePrefix('batch')
  const admin = new Redis(REDIS_URL)

  afterAll(async () => {
    await deleteUnder(admin, prefix)
    admin.disconnect()
  })

  // Every library the store takes: ioredis 5 and 6 (with the auto-pipelining case below too),
  // iovalkey and node-redis 4, 5 and 6.
  describe.each(STORE_CLIENTS)('$name', (library) => {
    const version = IOREDIS.find((v) => v.name === library.name)
    let made: StoreClient
    /** Script calls with keys (decisions) sent since the last reset (EVALSHA and EVAL). */
    const counting = { scriptCalls: 0 }
    const p = `${prefix}:${library.name.replace(/\W/g, '')}`
    beforeAll(async () => {
      made = library.single(REDIS_URL)
      await made.ready
      // Counted where the store sends them: the script calls of ioredis and iovalkey, the raw
      // commands of node-redis (patched on the instance, before any store takes it).
      const target = made.client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>
      const raw = typeof target.sendCommand === 'function' && 'isOpen' in target
      for (const name of raw ? ['sendCommand'] : ['evalsha', 'eval']) {
        const original = target[name]
        target[name] = function (this: unknown, ...args: unknown[]) {
          // The command as Redis gets it: [EVALSHA|EVAL, sha or script, numKeys, …].
          const command = !raw ? [name, ...args] : Array.isArray(args[0]) ? args[0] : Array.isArray(args[2]) ? args[2] : []
          // A call without keys is the store reading Redis's clock (at start and after a reconnect,
          // whenever the connection gets ready on a loaded machine): not a decision.
          if (/^EVAL/i.test(String(command[0])) && Number(command[2]) > 0) counting.scriptCalls++
          return original.apply(this, args)
        }
      }
    })
    afterAll(() => made.close())

    /** A store on the client, its script calls counted from zero (after the clock calibration). */
    const countedStore = async (options: Partial<ConstructorParameters<typeof RedisStore>[0]> = {}) => {
      const store = new RedisStore({ client: made.client, prefix: p, clock: 'caller', ...options })
      // Let the calibration call go out and come back: it is not a decision.
      await new Promise((resolve) => setTimeout(resolve, 20))
      counting.scriptCalls = 0
      return { store, counting }
    }

    it('decides requests made in one tick in one script call, in the order they were made', async () => {
      const { store, counting } = await countedStore()
      const limiter = createLimiter({ store, policies: [tokenBucket({ name: 'five', limit: 5, window: '1h' })], now: () => T0 })
      const key = `order-${Math.random()}`
      const decisions = await Promise.all(Array.from({ length: 12 }, () => limiter.consume(key)))
      expect(counting.scriptCalls).toBe(1)
      expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false, false, false, false, false, false])
      expect(decisions.slice(0, 5).map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0])
      store.close()
    })

    it('carries each request its own lease, and charges, in one call: acquires, releases and settles', async () => {
      const { store, counting } = await countedStore()
      const limiter = createLimiter({
        store,
        policies: [concurrency({ name: 'in-flight', limit: 2, leaseMs: '1m' }), tokenBucket({ name: 'tokens', limit: 10, window: '1h' })],
        now: () => T0,
      })
      const key = `leases-${Math.random()}`
      const [d1, d2, d3] = await Promise.all([limiter.consume(key), limiter.consume(key), limiter.consume(key)])
      expect(counting.scriptCalls).toBe(1)
      expect([d1, d2, d3].map((d) => d.allowed)).toEqual([true, true, false])
      expect(d3.violated).toEqual(['in-flight'])
      // Two releases (each its own lease) and a settle that charges 4 more, together.
      await Promise.all([limiter.release(d1), limiter.release(d2), limiter.settle(d2, 5)])
      expect(counting.scriptCalls).toBe(2)
      const after = await limiter.peek(key, { cost: 0 })
      expect(after.policies.map((p) => [p.name, p.remaining])).toEqual([
        ['in-flight', 2],
        ['tokens', 4],
      ])
      store.close()
    })

    it('keeps consume, peek, refund and reset of one key in call order within a call', async () => {
      const { store, counting } = await countedStore()
      const limiter = createLimiter({ store, policies: [fixedWindow({ name: 'three', limit: 3, window: '1h' })], now: () => T0 })
      const key = `mixed-${Math.random()}`
      const pending: Promise<unknown>[] = [
        limiter.consume(key),
        limiter.consume(key),
        limiter.consume(key),
        limiter.peek(key),
        limiter.consume(key),
        limiter.refund(key, { at: T0 }),
        limiter.consume(key),
        limiter.reset(key),
        limiter.peek(key),
      ]
      const [c1, c2, c3, look, denied, refunded, again, , fresh] = (await Promise.all(pending)) as Decision[]
      expect(counting.scriptCalls).toBe(1)
      expect([c1, c2, c3].map((d) => d.remaining)).toEqual([2, 1, 0])
      expect(look.remaining).toBe(0)
      expect(denied.allowed).toBe(false)
      expect(refunded.remaining).toBe(1)
      expect(again.allowed).toBe(true)
      expect(again.remaining).toBe(0)
      expect(fresh.remaining).toBe(3)
      store.close()
    })

    it('fails only the request whose script step failed; the others in the call are decided', async () => {
      const { store, counting } = await countedStore()
      const policy = tokenBucket({ name: 'tb', limit: 10, window: '1m' })
      const limiter = createLimiter({ store, policies: [policy], now: () => T0, onStoreError: 'deny' })
      const errors: unknown[] = []
      limiter.on('store-error', ({ error }) => errors.push(error))
      const bad = `wrongtype-${Math.random()}`
      // Someone else's data under the key the store would use: GET fails with WRONGTYPE.
      await admin.hset(stateKey(keyHead(p, bad), policyPart(policy), bad, bad), 'field', 'value')
      await admin.pexpire(stateKey(keyHead(p, bad), policyPart(policy), bad, bad), 60_000)
      const decisions = await Promise.all([`ok1-${Math.random()}`, bad, `ok2-${Math.random()}`].map((key) => limiter.consume(key)))
      expect(counting.scriptCalls).toBe(1)
      expect(decisions.map((d) => d.reason)).toEqual(['ok', 'store-error', 'ok'])
      expect(decisions[1].allowed).toBe(false)
      // Redis's text is the cause, never the message (which may reach logs shown to clients).
      expect((errors[0] as Error).message).not.toMatch(/WRONGTYPE/)
      expect(String(((errors[0] as Error).cause as Error).message)).toMatch(/WRONGTYPE/)
      store.close()
    })

    it('sends at most 128 requests per call', async () => {
      const { store, counting } = await countedStore()
      const limiter = createLimiter({
        store,
        policies: [tokenBucket({ name: 'tb', limit: 100, window: '1m' }), slidingWindow({ name: 'sw', limit: 100, window: '1m' })],
        now: () => T0,
      })
      const decisions = await Promise.all(Array.from({ length: 300 }, (_, i) => limiter.consume(`many-${i}-${Math.random()}`)))
      expect(decisions.every((d) => d.reason === 'ok' && d.remaining === 99)).toBe(true)
      expect(counting.scriptCalls).toBe(3)
      store.close()
    })

    it('with nothing in flight, sends at the end of the tick; requests made meanwhile join the next call', async () => {
      const { store, counting } = await countedStore()
      const limiter = createLimiter({ store, policies: [tokenBucket({ name: 'tb', limit: 100, window: '1m' })], now: () => T0 })
      const key = `flow-${Math.random()}`
      const first = limiter.consume(key)
      await new Promise((resolve) => setImmediate(resolve))
      // The first call is on its way (sent at the end of its tick); these wait for the next turn.
      const rest = Promise.all([limiter.consume(key), limiter.consume(key)])
      const [a, [b, c]] = await Promise.all([first, rest])
      expect([a.remaining, b.remaining, c.remaining]).toEqual([99, 98, 97])
      expect(counting.scriptCalls).toBe(2)
      store.close()
    })

    // Without a key prefix the direct call sets the command's arguments after making it (the
    // constructor's copy of them is the costly part): numbers among them must still go as text.
    // ioredis 5 (the `ioredis` the store resolves) and iovalkey (its fork, resolved alike).
    const directLibrary =
      version?.name === 'ioredis 5'
        ? (options: Record<string, unknown>) => version.single(REDIS_URL, options)
        : library.name === 'iovalkey'
          ? (options: Record<string, unknown>) => new Valkey(REDIS_URL, options) as unknown as Redis
          : undefined
    if (directLibrary !== undefined)
      it.each([true, false])(
        'with auto-pipelining %s and no keyPrefix, hands sendCommand a command whose arguments are all text, and decides right',
        async (enableAutoPipelining) => {
          const piped = directLibrary({ enableAutoPipelining })
          await ready(piped)
          const sent: unknown[][] = []
          const spy = Object.create(piped) as typeof piped
          spy.sendCommand = ((command: { name: string; args: unknown[] }, stream?: unknown) => {
            if (stream === undefined && command.name === 'evalsha') sent.push([...command.args])
            return piped.sendCommand(command as never, stream as never)
          }) as typeof piped.sendCommand
          const store = new RedisStore({ client: spy, prefix: p, clock: 'caller' })
          await new Promise((resolve) => setTimeout(resolve, 20)) // the clock calibration call
          sent.length = 0
          const limiter = createLimiter({
            store,
            policies: [tokenBucket({ name: 'two', limit: 2, window: '1h' }), concurrency({ name: 'one', limit: 1, leaseMs: '1m' })],
            now: () => T0,
          })
          const key = `direct-${Math.random()}`
          const [first, second] = await Promise.all([limiter.consume(key), limiter.consume(key)])
          expect([first.allowed, second.allowed, second.reason]).toEqual([true, false, 'limited'])
          await limiter.release(first)
          const third = await limiter.consume(key)
          expect([third.allowed, third.remaining]).toEqual([true, 0])
          expect(sent.length).toBeGreaterThanOrEqual(3)
          for (const args of sent) {
            expect(args.every((a) => typeof a === 'string')).toBe(true)
            expect(args[1], 'numKeys, as text').toMatch(/^\d+$/)
          }
          store.close()
          piped.disconnect()
        },
      )

    // The store sends past auto-pipelining only clients of the `ioredis` package it resolves itself
    // (ioredis 5 here; ioredis 6 is installed under another name): others keep their own methods.
    const direct = version?.name === 'ioredis 5'
    // Only the ioredis-family libraries have auto-pipelining: no test is made for the others.
    if (version !== undefined)
      it(`with auto-pipelining on, ${direct ? 'hands each batch to sendCommand itself (no pipeline per call)' : 'keeps the client methods (another copy of ioredis)'}, under the client's keyPrefix`, async () => {
        if (version === undefined) return
        const piped = version.single(REDIS_URL, { enableAutoPipelining: true, keyPrefix: `${p}:kp:` })
        await ready(piped)
        const sent: string[] = []
        const spy = Object.create(piped) as typeof piped
        spy.sendCommand = ((command: { name: string }, stream?: unknown) => {
          // An auto-pipeline passes the stream it writes its commands into; a direct call passes none.
          sent.push(stream === undefined ? command.name : `${command.name} (pipelined)`)
          return piped.sendCommand(command as never, stream as never)
        }) as typeof piped.sendCommand
        const store = new RedisStore({ client: spy, prefix: 'rk', clock: 'caller' })
        await new Promise((resolve) => setTimeout(resolve, 20)) // the clock calibration call
        sent.length = 0
        const policy = tokenBucket({ name: 'five', limit: 5, window: '1h' })
        const limiter = createLimiter({ store, policies: [policy], now: () => T0 })
        const key = `piped-${Math.random()}`
        const decisions = await Promise.all(Array.from({ length: 8 }, () => limiter.consume(key)))
        expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false, false])
        expect(sent).toEqual([direct ? 'evalsha' : 'evalsha (pipelined)'])
        // ioredis put the client's keyPrefix in front of the store's key, as its own evalsha would.
        expect(await admin.exists(`${p}:kp:${stateKey(keyHead('rk', key), policyPart(policy), key, key)}`)).toBe(1)
        store.close()
        piped.disconnect()
      })
  })
})
