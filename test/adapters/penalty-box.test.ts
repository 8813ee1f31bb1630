// The penalty box over HTTP, on every framework: a box that is not blocking never shows in
// headers; a blocked client gets a 429 whose Retry-After is the block's end and whose problem body
// names the box (`violated-policies`) and says when the block ends (`blocked-until`).
import { expect } from 'vitest'
import { fixedWindow } from '../../src/index.js'
import { penaltyBox } from '../../src/provider/index.js'
import { clock } from '../helpers/clock.js'
import { describeOnEveryFramework, type Scenario } from './harness.js'

const T0 = 1_700_000_000_000

const scenarios: Scenario[] = [
  {
    name: 'a client denied twice is boxed: Retry-After is the block end, the body names the box',
    spec: () => ({
      global: {
        policies: [
          fixedWindow({ name: 'per-minute', limit: 1, window: '1m' }),
          penaltyBox({ name: 'abuse', after: 2, within: '1m', blocks: ['10m', '1h'], forgiveAfter: '1d' }),
        ],
        now: clock(T0).now,
      },
    }),
    requests: [{ url: '/hello' }, { url: '/hello' }, { url: '/hello' }, { url: '/hello' }],
    check: (res) => {
      expect(res.map((r) => r.status)).toEqual([200, 429, 429, 429])
      // Not blocking: the box is nowhere in the headers or the body.
      expect(res[0].headers['ratelimit-policy']).toBe('"per-minute";q=1;w=60')
      expect(res[0].headers['x-ratelimit-limit']).toBe('1')
      expect(JSON.stringify(res[1].headers) + res[1].body).not.toContain('abuse')
      // The second denial starts the block: 10 minutes from now.
      for (const r of [res[2], res[3]]) {
        expect(r.headers['retry-after']).toBe('600')
        const body = JSON.parse(r.body)
        expect(body['violated-policies']).toEqual(['per-minute', 'abuse'])
        expect(body['retry-after']).toBe(600)
        expect(body['blocked-until']).toBe(new Date(T0 + 600_000).toISOString())
      }
    },
  },
]

describeOnEveryFramework(scenarios, 'the penalty box over HTTP')
