// An adapter's `cost` function returning something that is not a cost (0.5, -1, '2', NaN) failed
// the request with `limiter.decide(): "cost" must be an integer …` and ERR_RK_INVALID_OPTION: a
// method the app never called, and not the code docs/errors.md gives for a key, cost or plan
// function that answers something unusable while serving a request (ERR_RK_INVALID_ARGUMENT, as
// a bad `key` result already was). The error now names the adapter and its `cost` option.
import { describe, expect, it } from 'vitest'
import { rateLimit } from '../../adapters/express.js'
import { EXPRESS, perMinute, send } from '../helpers/http-apps.js'

const BAD: [string, () => unknown][] = [
  ['0.5', () => 0.5],
  ['-1', () => -1],
  ["'2'", () => '2'],
  ['NaN', () => Number.NaN],
  ['a promise of 0.5', async () => 0.5],
]

describe.each(EXPRESS)('%s', (_name, express) => {
  it.each(BAD)('cost returning %s: ERR_RK_INVALID_ARGUMENT naming rateLimit() and "cost"', async (_case, cost) => {
    const app = express()
    app.use(rateLimit({ ...perMinute(10), cost: cost as () => number }))
    app.get('/x', (_req, res) => {
      res.send('ok')
    })
    app.use(
      (error: { code?: string; message: string }, _req: unknown, res: { status(s: number): { json(b: object): void } }, _next: unknown) => {
        res.status(500).json({ code: error.code, message: error.message })
      },
    )
    const sent = await send(app, 'GET', '/x')
    expect(sent.status).toBe(500)
    const error = JSON.parse(sent.body) as { code: string; message: string }
    expect(error.code).toBe('ERR_RK_INVALID_ARGUMENT')
    expect(error.message).toMatch(/^rateLimit\(\) \(ratekeeper\/express\): "cost" must return/)
  })

  it('a cost function returning whole numbers still charges them', async () => {
    const app = express()
    app.use(rateLimit({ ...perMinute(10), cost: () => 4 }))
    app.get('/x', (_req, res) => {
      res.send('ok')
    })
    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await send(app, 'GET', '/x')).status)
    expect(statuses).toEqual([200, 200, 429])
  })
})
