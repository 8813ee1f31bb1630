// A plan made by providerPlan() counts a request without a key by its client address, like the
// adapters do. When that address is no IP address (a proxy writing `unknown` in X-Forwarded-For),
// the adapters report it through the limiter's `warn` event; the plan's keying reported it only
// as a process warning, once per process, out of reach of the app's `warn` listener and logger.

import { inject } from 'light-my-request'
import { createLimiter, fixedWindow } from 'ratekeeper'
import { rateLimit } from 'ratekeeper/express'
import { providerPlan } from 'ratekeeper/provider'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { EXPRESS } from '../helpers/http-apps.js'

afterEach(() => {
  vi.restoreAllMocks()
})

describe.each(EXPRESS)('%s behind a proxy on this host, with a plan', (_name, express) => {
  it('an address that is no IP address is reported through the limiter, once', async () => {
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined)
    const plan = providerPlan({ limits: { policies: [fixedWindow({ limit: 2, window: '15m' })] } })
    const limiter = createLimiter({ policies: plan.policies })
    const warnings: { code: string; message: string }[] = []
    limiter.on('warn', (w) => warnings.push(w))
    const app = express()
    app.set('trust proxy', 'loopback')
    app.use(rateLimit({ limiter, plan }))
    app.get('/', (_req, res) => {
      res.end('in')
    })
    const statuses = []
    for (const xff of ['not-an-ip-1', 'not-an-ip-2', 'unknown']) {
      const sent = await inject(app as never, { method: 'GET', url: '/', headers: { 'x-forwarded-for': xff }, remoteAddress: '127.0.0.1' })
      statuses.push(sent.statusCode)
    }
    // One shared bucket for every such value, as without a plan.
    expect(statuses).toEqual([200, 200, 429])
    expect(warnings.map((w) => w.code).filter((c) => c === 'RK_IP_NOT_AN_ADDRESS')).toEqual(['RK_IP_NOT_AN_ADDRESS'])
    expect(warnings.map((w) => w.message).join('\n')).not.toContain('not-an-ip')
    const processCodes = emitWarning.mock.calls.map((call) => (call[1] as { code?: string } | undefined)?.code)
    expect(processCodes).not.toContain('RK_IP_NOT_AN_ADDRESS')
  })
})
