// Type test (checked by `tsc --noEmit`, never run): a route's `config.rateLimit` takes
// ratekeeper's route options or `false`; other rate limiters' options and numbers are errors.
import Fastify from 'fastify'
import { tokenBucket } from '../../src/index.js'
import '../../adapters/fastify.js'

const app = Fastify()
const policies = [tokenBucket({ limit: 5, window: '1m' })]

app.get('/ok', { config: { rateLimit: { policies } } }, async () => 'ok')
app.get('/off', { config: { rateLimit: false } }, async () => 'off')
app.get('/none', { config: {} }, async () => 'none')

// @ts-expect-error another library's option name is not a ratekeeper option
app.get('/a', { config: { rateLimit: { windowMs: 5 } } }, async () => 'a')
// @ts-expect-error a number is not route options
app.get('/b', { config: { rateLimit: 5 } }, async () => 'b')
// @ts-expect-error a string is not route options
app.get('/c', { config: { rateLimit: '5/minute' } }, async () => 'c')
// @ts-expect-error @fastify/rate-limit's option names are not ratekeeper's
app.get('/d', { config: { rateLimit: { max: 5, timeWindow: 60_000 } } }, async () => 'd')

// Fastify types a route's config as `FastifyContextConfig & typeof config`, so other unknown names
// (a misspelt `polices`) and `true` pass the compiler: the plugin rejects them when the app starts
// (test/regressions/fastify-route-config-never-ignored.test.ts).
