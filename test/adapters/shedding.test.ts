// Load shedding on every framework: a request denied by the fleet budget alone is a 503 with
// Retry-After and a problem body that says it is load shedding, while a higher priority is still
// admitted; a client over its own limit still gets a 429. Every framework answers identically.
import { expect } from 'vitest'
import { fixedWindow, tokenBucket } from '../../src/index.js'
import { providerPlan } from '../../src/provider/index.js'
import { clock } from '../helpers/clock.js'
import { type AppSpec, describeOnEveryFramework, type Scenario } from './harness.js'

const T0 = 1_700_000_000_000 // 20 s into a minute: a 1-minute window has 40 s left

/** `GET /hello` is critical, `GET /users/:id` background; a fleet of 4 per minute, background's share 2. */
function spec(perClient: number): AppSpec {
  const plan = providerPlan({
    classes: { routes: { 'GET /users/:id': 'export' } },
    limits: { policies: [tokenBucket({ name: 'per-client', limit: perClient, window: '1m' })] },
    shedding: {
      budget: fixedWindow({ name: 'fleet', limit: 4, window: '1m' }),
      priorities: { critical: 1, background: 0.5 },
      classes: { read: 'critical', write: 'critical', delete: 'critical', export: 'background' },
    },
  })
  return { global: { plan, now: clock(T0).now } }
}

const scenarios: Scenario[] = [
  {
    name: 'background shed with 503 + Retry-After while critical is served, then critical shed last',
    spec: () => spec(100),
    requests: [{ url: '/users/1' }, { url: '/users/2' }, { url: '/users/3' }, { url: '/hello' }, { url: '/hello' }, { url: '/hello' }],
    check: (res) => {
      expect(res.map((r) => r.status)).toEqual([200, 200, 503, 200, 200, 503])
      const shed = res[2]
      expect(shed.headers['retry-after']).toBe('40')
      expect(shed.headers['content-type']).toBe('application/problem+json')
      expect(JSON.parse(shed.body)).toMatchObject({
        status: 503,
        title: 'Service Unavailable',
        'load-shedding': true,
        priority: 'background',
        'retry-after': 40,
      })
      expect(JSON.parse(res[5].body)).toMatchObject({ status: 503, priority: 'critical' })
    },
  },
  {
    name: 'a client over its own limit gets a 429, even while the fleet sheds its priority',
    spec: () => spec(2),
    requests: [{ url: '/users/1' }, { url: '/users/2' }, { url: '/users/3' }],
    check: (res) => {
      expect(res.map((r) => r.status)).toEqual([200, 200, 429])
      expect(JSON.parse(res[2].body)).toMatchObject({ status: 429, 'violated-policies': ['per-client', 'fleet'] })
    },
  },
]

describeOnEveryFramework(scenarios, 'every framework sheds identically')
