// Shadow policies in the kernel: the option on every policy factory, the decision's shadow
// fields, the shadow-limited event, and how shadow differs from dryRun. (Every store runs the
// charging rules in test/stores/shadow.test.ts.)
import { describe, expect, it } from 'vitest'
import {
  ConfigurationError,
  concurrency,
  createLimiter,
  type Decision,
  fixedWindow,
  type Policy,
  slidingWindow,
  tokenBucket,
} from '../../src/index.js'
import { shareOf } from '../../src/limiter/algorithms/shed-view.js'
import { clock } from '../helpers/clock.js'

const T0 = Date.UTC(2030, 0, 1)

const factories: [string, (shadow: unknown) => Policy][] = [
  ['tokenBucket', (shadow) => tokenBucket({ limit: 5, window: '1m', shadow } as never)],
  ['fixedWindow', (shadow) => fixedWindow({ limit: 5, window: '1m', shadow } as never)],
  ['slidingWindow', (shadow) => slidingWindow({ limit: 5, window: '1m', shadow } as never)],
  ['concurrency', (shadow) => concurrency({ limit: 5, shadow } as never)],
]

describe('the shadow option', () => {
  it.each(factories)('%s takes shadow: true, defaults to false, and keeps one identity either way', (_name, make) => {
    expect(make(true).shadow).toBe(true)
    expect(make(undefined).shadow).toBe(false)
    expect(make(false).shadow).toBe(false)
    // A policy rolled out from shadow to enforcing reads the state it counted in shadow.
    expect(make(true).id).toBe(make(false).id)
    expect(make(true).name).toBe(make(false).name)
  })

  it.each(factories)('%s refuses a shadow that is not a boolean, naming the option', (name, make) => {
    for (const bad of ['yes', 1, null]) {
      expect(() => make(bad)).toThrow(ConfigurationError)
      expect(() => make(bad)).toThrow(expect.objectContaining({ code: 'ERR_RK_INVALID_OPTION', option: 'shadow' }))
      expect(() => make(bad)).toThrow(`${name}(): "shadow" must be a boolean`)
    }
  })

  it('a load-shedding view of a shadow policy is in shadow too', () => {
    const base = tokenBucket({ name: 'fleet', limit: 100, window: '1s', shadow: true })
    expect(shareOf(base, 0.5, 'test', 'share').shadow).toBe(true)
  })
})

describe('decisions with shadow policies', () => {
  const setup = () => {
    const c = clock(T0)
    const limiter = createLimiter({
      now: c.now,
      policies: [fixedWindow({ name: 'old', limit: 5, window: '1m' }), fixedWindow({ name: 'new', limit: 1, window: '1m', shadow: true })],
    })
    return { c, limiter }
  }

  it('say which shadow policies would have denied, in JSON too, and keep them out of violated and the headline', async () => {
    const { limiter } = setup()
    await limiter.consume('k')
    const d = await limiter.consume('k')
    expect(d.allowed).toBe(true)
    expect(d.shadowViolated).toEqual(['new'])
    expect(d.violated).toEqual([])
    expect([d.limit, d.remaining]).toEqual([5, 3])
    const json = JSON.parse(JSON.stringify(d)) as Decision
    expect(json.shadowViolated).toEqual(['new'])
    expect(json.policies.map((p) => [p.name, p.shadow, p.violated])).toEqual([
      ['old', false, false],
      ['new', true, false],
    ])
  })

  it('a denial by an enforcing policy reports the shadow verdict beside it; its retry is the enforcing one', async () => {
    const c = clock(T0)
    const limiter = createLimiter({
      now: c.now,
      policies: [fixedWindow({ name: 'old', limit: 1, window: '1s' }), fixedWindow({ name: 'new', limit: 1, window: '1h', shadow: true })],
    })
    await limiter.consume('k')
    const d = await limiter.consume('k')
    expect(d.allowed).toBe(false)
    expect(d.violated).toEqual(['old'])
    expect(d.shadowViolated).toEqual(['new'])
    expect(d.retryAfterMs).toBe(1000)
  })

  it('emit shadow-limited only to its listeners, and never limited or near-limit for a shadow verdict', async () => {
    const { limiter } = setup()
    const events: string[] = []
    limiter.on('limited', () => events.push('limited'))
    limiter.on('decision', (d) => events.push(`decision:${d.shadowViolated?.join(',')}`))
    await limiter.consume('k')
    await limiter.consume('k')
    expect(events).toEqual(['decision:', 'decision:new'])
    const off = limiter.on('shadow-limited', (d) => events.push(`shadow-limited:${d.shadowViolated?.join(',')}`))
    await limiter.consume('k')
    off()
    await limiter.consume('k')
    expect(events.slice(2)).toEqual(['decision:new', 'shadow-limited:new', 'decision:new'])
  })

  it("a layer's policy may be in shadow: the team ceiling is watched while the key's own limit enforces", async () => {
    const c = clock(T0)
    const limiter = createLimiter({ now: c.now, policies: [fixedWindow({ name: 'key', limit: 5, window: '1m' })] })
    const layers = [{ name: 'team', key: 'team:acme', policies: [fixedWindow({ name: 'team-cap', limit: 1, window: '1m', shadow: true })] }]
    await limiter.consume('k1', { layers })
    const d = await limiter.consume('k2', { layers })
    expect(d.allowed).toBe(true)
    expect(d.shadowViolated).toEqual(['team-cap'])
    expect(d.policies.map((p) => [p.name, p.layer, p.shadow])).toEqual([
      ['key', undefined, false],
      ['team-cap', 'team', true],
    ])
    const back = await limiter.refund('k2', { decision: d })
    expect(back.policies.map((p) => p.name)).toEqual(['key'])
  })

  it('a peek reports the shadow verdict and charges nothing', async () => {
    const { limiter } = setup()
    await limiter.consume('k')
    const look = await limiter.peek('k')
    expect(look.shadowViolated).toEqual(['new'])
    expect(look.remaining).toBe(4)
  })

  it('dryRun is per limiter and reports denials as dry-run; shadow is per policy and never denies', async () => {
    const c = clock(T0)
    const policies = [
      fixedWindow({ name: 'old', limit: 1, window: '1m' }),
      fixedWindow({ name: 'new', limit: 1, window: '1m', shadow: true }),
    ]
    const dry = createLimiter({ now: c.now, policies, dryRun: true })
    await dry.consume('k')
    const d = await dry.consume('k')
    expect([d.allowed, d.dryRun, d.violated, d.shadowViolated]).toEqual([false, true, ['old'], ['new']])
  })
})
