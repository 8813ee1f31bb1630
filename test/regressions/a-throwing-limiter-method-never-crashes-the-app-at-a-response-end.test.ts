// A limiter passed to an adapter is recognised by its shape, so a wrapper around one (an
// instrumented or a test double's) can stand in. When its `release`, `refund` or `settle` threw,
// or answered something that is not a promise, at the end of a response, the exception left a
// response listener: an uncaught exception, which stops a Node process. Seen on Express and the
// Fetch adapter before the fix. Now the call's failure is reported once per adapter
// (`RK_LIMITER_THREW`, through the limiter's `warn`: its `logger` when given) and the response is not touched.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { afterEach, describe, expect, it } from 'vitest'
import { rateLimit } from '../../adapters/express.js'
import { withRateLimit } from '../../adapters/fetch.js'
import { concurrency, createLimiter, fixedWindow, type Limiter } from '../../src/index.js'
import { clock } from '../helpers/clock.js'

let server: Server | undefined
const uncaught: unknown[] = []
const onUncaught = (error: unknown) => uncaught.push(error)
afterEach(async () => {
  process.off('uncaughtException', onUncaught)
  uncaught.length = 0
  const s = server
  server = undefined
  if (s !== undefined) {
    s.closeAllConnections()
    await new Promise((resolve) => s.close(resolve))
  }
})

type Broken = 'release throws' | 'release answers no promise' | 'refund throws' | 'settle throws'
const BROKEN: readonly Broken[] = ['release throws', 'release answers no promise', 'refund throws', 'settle throws']

/** A real limiter, one of whose end-of-request methods is broken; and the options that make a response end call it. */
function broken(how: Broken, lines: string[]): { limiter: Limiter; extra: Record<string, unknown> } {
  const time = clock(1_700_000_000_000)
  const policies = how.startsWith('release')
    ? [concurrency({ name: 'in-flight', limit: 5 })]
    : [fixedWindow({ name: 'per-minute', limit: 100, window: '1m' })]
  const real = createLimiter({ policies, now: time.now, logger: { warn: (line: string) => lines.push(line) } })
  const fail = () => {
    throw new Error(`${how}: a bug in the wrapper`)
  }
  const limiter: Limiter = { ...real }
  if (how === 'release throws') limiter.release = fail
  if (how === 'release answers no promise') limiter.release = (() => undefined) as unknown as Limiter['release']
  if (how === 'refund throws') limiter.refund = fail
  if (how === 'settle throws') limiter.settle = fail
  const extra: Record<string, unknown> = how === 'refund throws' ? { plan: () => ({ key: 'k', countMode: 'failure' }) } : { key: () => 'k' }
  if (how === 'settle throws') extra.actualCost = () => 3
  return { limiter, extra }
}

/** Lets the response's end listeners run. */
const settled = () => new Promise((resolve) => setTimeout(resolve, 20))

describe.each(BROKEN)('a limiter whose %s at the end of a response', (how) => {
  it('Express: the app goes on, and the failure is reported once', async () => {
    process.on('uncaughtException', onUncaught)
    const lines: string[] = []
    const { limiter, extra } = broken(how, lines)
    const app = express()
    app.use(rateLimit({ limiter, ...extra }))
    app.get('/', (_req, res) => {
      res.send('ok')
    })
    const s = createServer(app)
    server = s
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}/`
    for (let i = 0; i < 3; i++) {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
      expect(res.status).toBe(200)
      await res.text()
      await settled()
    }
    expect(uncaught).toEqual([])
    expect(lines.filter((line) => line.includes('a bug in the wrapper') || line.includes('no promise'))).toHaveLength(1)
  })

  it('Fetch: the app goes on, and the failure is reported once', async () => {
    process.on('uncaughtException', onUncaught)
    const lines: string[] = []
    const { limiter, extra } = broken(how, lines)
    const handler = withRateLimit(async () => new Response('ok'), {
      limiter,
      ...extra,
    })
    for (let i = 0; i < 3; i++) {
      const res = await handler(new Request('http://localhost/'))
      expect(res.status).toBe(200)
      await res.text()
      await settled()
    }
    expect(uncaught).toEqual([])
    expect(lines.filter((line) => line.includes('a bug in the wrapper') || line.includes('no promise'))).toHaveLength(1)
  })
})
