// Concurrency leases and reserve-then-settle, the same on every adapter: a lease is released
// exactly once however the request ends (finished, client hang-up, handler failure, streamed
// body), and the estimate is settled at the actual cost from a header, a hook or the handler.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { concurrency, createLimiter, type Limiter, tokenBucket } from '../../src/index.js'
import { clock } from '../helpers/clock.js'
import { Gates, IN_FLIGHT_FRAMEWORKS, type InFlightApp, inFlightApp, type Options } from './in-flight-apps.js'

const T0 = 1_700_000_000_000
const KEY = 'client-1'

let app: InFlightApp | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

function limits(extra: object = {}): { limiter: Limiter; options: Options; time: ReturnType<typeof clock> } {
  const time = clock(T0)
  const limiter = createLimiter({
    policies: [concurrency({ name: 'in-flight', limit: 2 }), tokenBucket({ name: 'tokens', limit: 1000, window: '1m' })],
    now: time.now,
  })
  return { limiter, time, options: { limiter, key: () => KEY, cost: 100, headers: { retryJitter: () => 0 }, ...extra } as Options }
}

/** Time for a server to notice a hang-up (a negative check needs some wait: nothing to wait for). */
const noticed = () => new Promise((resolve) => setTimeout(resolve, 100))

/** What is left of each policy (peeked: nothing charged). */
async function left(limiter: Limiter): Promise<{ slots: number; tokens: number }> {
  const d = await limiter.peek(KEY, { cost: 0 })
  const of = (name: string) => d.policies.find((p) => p.name === name)?.remaining
  return { slots: of('in-flight') ?? -1, tokens: of('tokens') ?? -1 }
}

const until = (check: () => Promise<unknown>) => vi.waitFor(check, { timeout: 5000, interval: 5 })

describe.each(IN_FLIGHT_FRAMEWORKS)('%s: concurrency leases', (framework) => {
  it('admits `limit` requests in flight, denies the next with a short jittered Retry-After, admits again once they finish', async () => {
    const { limiter, options } = limits()
    const gates = new Gates()
    app = inFlightApp(framework, options, gates)
    const a = app.open('/slow')
    const b = app.open('/slow')
    await until(async () => expect(gates.count).toBe(2))
    expect(await left(limiter)).toEqual({ slots: 0, tokens: 800 })
    const denied = await app.send('/fast')
    expect(denied.status).toBe(429)
    expect(denied.headers.get('retry-after')).toBe('1')
    expect(denied.headers.get('ratelimit-policy')).toBe('"in-flight";q=2;qu="concurrent-requests", "tokens";q=1000;w=60')
    expect(denied.headers.get('ratelimit')).toBe('"in-flight";r=0;t=1, "tokens";r=800;t=1')
    gates.open()
    expect((await a.done)?.status).toBe(200)
    expect((await b.done)?.status).toBe(200)
    await until(async () => expect((await left(limiter)).slots).toBe(2))
    const again = await app.send('/fast')
    expect(again.status).toBe(200)
    expect(again.headers.get('ratelimit')).toBe('"in-flight";r=1, "tokens";r=700;t=1')
    await until(async () => expect((await left(limiter)).slots).toBe(2))
  })

  it('a hang-up while the handler runs: the slot is held until the handler is done', async () => {
    const { limiter, options } = limits()
    const gates = new Gates()
    app = inFlightApp(framework, options, gates)
    const slow = app.open('/slow')
    await until(async () => expect(gates.count).toBe(1))
    slow.abort()
    await slow.done
    await noticed()
    expect((await left(limiter)).slots).toBe(1)
    gates.open()
    await until(async () => expect((await left(limiter)).slots).toBe(2))
    expect((await left(limiter)).tokens).toBe(900)
  })

  it('a handler that never ends after a hang-up holds its slot until the lease expires (leaseMs)', async () => {
    const { limiter, options, time } = limits()
    app = inFlightApp(framework, options, new Gates())
    const stuck = app.open('/stuck')
    await until(async () => expect((await left(limiter)).slots).toBe(1))
    stuck.abort()
    await stuck.done
    await noticed()
    time.advance(59_999)
    expect((await left(limiter)).slots).toBe(1)
    time.advance(1)
    expect((await left(limiter)).slots).toBe(2)
  })

  it('releases when the client hangs up on a response under way: many aborted requests leak no slot', async () => {
    const { limiter, options } = limits({ cost: 1 })
    const gates = new Gates()
    app = inFlightApp(framework, options, gates)
    for (let round = 0; round < 5; round++) {
      const pending = [app.open('/hang'), app.open('/hang'), app.open('/hang')]
      await until(async () => expect((await left(limiter)).slots).toBe(0))
      for (const p of pending) p.abort()
      await Promise.all(pending.map((p) => p.done))
      await until(async () => expect((await left(limiter)).slots).toBe(2))
    }
    expect((await app.send('/fast')).status).toBe(200)
  })

  it.each(['/throw-sync', '/throw-async'])('releases when the handler fails (%s)', async (path) => {
    const { limiter, options } = limits()
    app = inFlightApp(framework, options, new Gates())
    expect((await app.send(path)).status).toBe(500)
    await until(async () => expect((await left(limiter)).slots).toBe(2))
    expect((await left(limiter)).tokens).toBe(900)
  })

  it('holds the lease while a streamed body is sent, releases when it ends', async () => {
    const { limiter, options } = limits()
    const gates = new Gates()
    app = inFlightApp(framework, options, gates)
    const stream = app.open('/stream?n=100')
    await until(async () => expect(gates.count).toBe(1))
    expect((await left(limiter)).slots).toBe(1)
    gates.open()
    expect((await stream.done)?.body).toBe('ab')
    await until(async () => expect((await left(limiter)).slots).toBe(2))
  })

  it('HEAD and GET each take and give back one lease', async () => {
    const { limiter, options } = limits()
    app = inFlightApp(framework, options, new Gates())
    expect((await app.send('/fast', 'HEAD')).status).toBe(200)
    expect((await app.send('/fast', 'GET')).status).toBe(200)
    await until(async () => expect((await left(limiter)).slots).toBe(2))
    expect((await left(limiter)).tokens).toBe(800)
  })

  it('mounted twice, a request takes one lease and gives it back once', async () => {
    const { limiter, options } = limits()
    const gates = new Gates()
    app = inFlightApp(framework, options, gates, 2)
    const a = app.open('/slow')
    await until(async () => expect(gates.count).toBe(1))
    expect(await left(limiter)).toEqual({ slots: 1, tokens: 900 })
    const b = app.open('/slow')
    await until(async () => expect(gates.count).toBe(2))
    expect((await left(limiter)).slots).toBe(0)
    gates.open()
    await Promise.all([a.done, b.done])
    await until(async () => expect((await left(limiter)).slots).toBe(2))
    expect((await left(limiter)).tokens).toBe(800)
  })

  it('two limiters of their own on one response: each lease goes back once, finished or hung up', async () => {
    const first = limits()
    const second = limits()
    const gates = new Gates()
    app = inFlightApp(framework, [first.options, second.options], gates)
    const both = async () => [(await left(first.limiter)).slots, (await left(second.limiter)).slots]
    expect((await app.send('/fast')).status).toBe(200)
    await until(async () => expect(await both()).toEqual([2, 2]))
    const slow = app.open('/slow')
    await until(async () => expect(gates.count).toBe(1))
    expect(await both()).toEqual([1, 1])
    slow.abort()
    await slow.done
    await noticed()
    expect(await both()).toEqual([1, 1])
    gates.open()
    await until(async () => expect(await both()).toEqual([2, 2]))
    expect((await app.send('/throw-sync')).status).toBe(500)
    await until(async () => expect(await both()).toEqual([2, 2]))
    expect([(await left(first.limiter)).tokens, (await left(second.limiter)).tokens]).toEqual([700, 700])
  })
})

describe.each(IN_FLIGHT_FRAMEWORKS)('%s: reserve-then-settle', (framework) => {
  it('settles at the response header: less refunds, more charges', async () => {
    const { limiter, options } = limits({ actualCost: 'X-Usage-Tokens' })
    app = inFlightApp(framework, options, new Gates())
    expect((await app.send('/header?n=30')).status).toBe(200)
    await until(async () => expect((await left(limiter)).tokens).toBe(970))
    expect((await app.send('/header?n=250')).status).toBe(200)
    await until(async () => expect((await left(limiter)).tokens).toBe(720))
  })

  it('settles at what the handler reported with setActualCost (before the header)', async () => {
    const { limiter, options } = limits({ actualCost: 'x-usage-tokens' })
    app = inFlightApp(framework, options, new Gates())
    expect((await app.send('/report?n=7')).status).toBe(200)
    await until(async () => expect((await left(limiter)).tokens).toBe(993))
  })

  it('settles at what the hook returns', async () => {
    const hook = vi.fn((response: { status: number; headers: { get(n: string): string | undefined } }) => {
      return 2 * Number(response.headers.get('x-usage-tokens'))
    })
    const { limiter, options } = limits({ actualCost: hook })
    app = inFlightApp(framework, options, new Gates())
    expect((await app.send('/header?n=20')).status).toBe(200)
    await until(async () => expect((await left(limiter)).tokens).toBe(960))
    expect(hook).toHaveBeenCalledTimes(1)
    expect(hook.mock.calls[0][0].status).toBe(200)
  })

  it('settles a streamed response when its body ends, at the cost reported before the end', async () => {
    const { limiter, options } = limits({ actualCost: 'x-usage-tokens' })
    const gates = new Gates()
    app = inFlightApp(framework, options, gates)
    const stream = app.open('/stream?n=400')
    await until(async () => expect(gates.count).toBe(1))
    expect((await left(limiter)).tokens).toBe(900)
    gates.open()
    await stream.done
    await until(async () => expect((await left(limiter)).tokens).toBe(600))
  })

  it('a client that hangs up is settled at the estimate', async () => {
    const { limiter, options } = limits({ actualCost: () => 0 })
    app = inFlightApp(framework, options, new Gates())
    const hung = app.open('/hang')
    await until(async () => expect((await left(limiter)).slots).toBe(1))
    hung.abort()
    await hung.done
    await until(async () => expect((await left(limiter)).slots).toBe(2))
    expect((await left(limiter)).tokens).toBe(900)
  })

  it('settles exactly under concurrency', async () => {
    const limiter = createLimiter({ policies: [tokenBucket({ name: 'tokens', limit: 1000, window: '1m' })], now: clock(T0).now })
    app = inFlightApp(framework, { limiter, key: () => KEY, cost: 50, actualCost: 'x-usage-tokens' } as Options, new Gates())
    const sent = await Promise.all(Array.from({ length: 10 }, (_, i) => app?.send(`/header?n=${i}`)))
    expect(sent.map((s) => s?.status)).toEqual(Array(10).fill(200))
    await until(async () => expect((await limiter.peek(KEY, { cost: 0 })).remaining).toBe(1000 - 45))
  })
})
