// With `statusCode: 503` an adapter answered a denied request with HTTP 503 but the RFC 9457
// body said `"status":429` (RFC 9457 §3.1.4: the generator MUST send the same status as the
// response); with `storeErrorStatus: 500` a fail-closed denial said `"status":503`; a custom
// body formatter was told `status: 429` and the 'skakio' envelope wrote `"code":429`. The body now
// carries the status the response is sent with (and, for a store failure's about:blank body, its
// phrase as the title: it said "Service Unavailable" for a 500).
import { describe, expect, it } from 'vitest'
import { rateLimit } from '../../adapters/express.js'
import { createLimiter, MemoryStore, tokenBucket } from '../../src/index.js'
import { EXPRESS, perMinute, send } from '../helpers/http-apps.js'

describe.each(EXPRESS)('%s', (_name, express) => {
  async function deniedTwice(options: Parameters<typeof rateLimit>[0]) {
    const app = express()
    app.use(rateLimit(options))
    app.get('/x', (_req, res) => {
      res.send('ok')
    })
    await send(app, 'GET', '/x')
    return send(app, 'GET', '/x')
  }

  it('statusCode 503: the problem body says 503', async () => {
    const sent = await deniedTwice({ ...perMinute(1), statusCode: 503 })
    expect(sent.status).toBe(503)
    expect(JSON.parse(sent.body).status).toBe(503)
  })

  it('statusCode 503: a body formatter is told 503, and the skakio envelope says 503', async () => {
    const told: number[] = []
    const formatted = await deniedTwice({
      ...perMinute(1),
      statusCode: 503,
      body: (_decision, context) => {
        told.push(context.status)
        return { busy: true }
      },
    })
    expect(formatted.status).toBe(503)
    expect(told).toEqual([503])
    const skakio = await deniedTwice({ ...perMinute(1), statusCode: 503, body: 'skakio' })
    expect(JSON.parse(skakio.body).code).toBe(503)
  })

  it('the default stays 429', async () => {
    const sent = await deniedTwice(perMinute(1))
    expect(sent.status).toBe(429)
    expect(JSON.parse(sent.body).status).toBe(429)
  })

  it('storeErrorStatus 500: a fail-closed denial says 500', async () => {
    const store = new MemoryStore()
    await store.close()
    const limiter = createLimiter({
      store,
      policies: [tokenBucket({ limit: 5, window: '1m' })],
      onStoreError: 'deny',
      logger: { warn() {} },
    })
    const app = express()
    app.use(rateLimit({ limiter, storeErrorStatus: 500 }))
    app.get('/x', (_req, res) => {
      res.send('ok')
    })
    const sent = await send(app, 'GET', '/x')
    expect(sent.status).toBe(500)
    // RFC 9457 §4.2.1: with type about:blank, the title is the status's own phrase.
    expect(JSON.parse(sent.body)).toMatchObject({ type: 'about:blank', title: 'Internal Server Error', status: 500 })
  })
})
