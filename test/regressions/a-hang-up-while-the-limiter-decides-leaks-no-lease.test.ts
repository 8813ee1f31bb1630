// A request whose client hangs up while the limiter is still deciding (an async key function, a
// store answering over the network) took its lease after the connection had closed. The Node
// adapters then watched the response for a 'close' that had already been emitted: the lease was
// never released, and the client was locked out of that slot until the lease expired (`leaseMs`).
// Seen failing on Express 4/5, Koa 2/3 and Fastify 4/5 before the fix.
//
// Fixed in the shared Node watch (src/http/node.ts): a response already closed when it is watched
// is a hang-up, released once the handler is done, like any hang-up before the handler answered.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { concurrency, createLimiter, tokenBucket } from '../../src/index.js'
import { Gates, IN_FLIGHT_FRAMEWORKS, type InFlightApp, inFlightApp, type Options } from '../adapters/in-flight-apps.js'
import { clock } from '../helpers/clock.js'

let app: InFlightApp | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

/** The connection of a request (Express `req`, Koa `ctx`, Fastify `request`, a Fetch `Request`) is gone. */
function gone(raw: unknown): Promise<void> {
  if (raw instanceof Request) {
    const signal = raw.signal
    return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve()))
  }
  const r = raw as { req?: { socket: NodeJS.Socket }; raw?: { socket: NodeJS.Socket }; socket?: NodeJS.Socket }
  const socket = (r.req ?? r.raw ?? r).socket as NodeJS.Socket & { destroyed: boolean }
  return socket.destroyed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()))
}

describe.each(IN_FLIGHT_FRAMEWORKS)('%s: a hang-up while the limiter decides', (framework) => {
  it('the lease taken after the hang-up goes back once the handler is done', async () => {
    const time = clock(1_700_000_000_000)
    const limiter = createLimiter({
      policies: [concurrency({ name: 'in-flight', limit: 2 }), tokenBucket({ name: 'tokens', limit: 1000, window: '1m' })],
      now: time.now,
    })
    let deciding = 0
    // The key is known only once the client has hung up: the decision comes after the hang-up.
    const key = async (raw: unknown) => {
      deciding++
      await gone(raw)
      return 'k'
    }
    app = inFlightApp(framework, { limiter, key, cost: 100 } as unknown as Options, new Gates())
    const pending = app.open('/fast')
    await vi.waitFor(() => expect(deciding).toBe(1), { timeout: 5000, interval: 5 })
    pending.abort()
    await pending.done
    const left = async (name: string) => (await limiter.peek('k', { cost: 0 })).policies.find((p) => p.name === name)?.remaining
    await vi.waitFor(async () => expect(await left('tokens')).toBe(900), { timeout: 5000, interval: 5 })
    await vi.waitFor(async () => expect(await left('in-flight')).toBe(2), { timeout: 2000, interval: 5 })
  })
})
