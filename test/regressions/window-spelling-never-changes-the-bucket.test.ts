// A policy's default name (and so its buckets in every store: the name is part of the stored key)
// came from how its window was spelled: 60000, '60s' and '1m' gave '2-per-60000ms', '2-per-60s'
// and '2-per-1m'. Rewriting the same limit from one spelling to another (a refactor, a config now
// read from an environment variable) moved every client to fresh buckets, and during a rolling
// deploy old and new servers counted apart: up to twice the limit. The default name now comes
// from the window's length, in its largest whole unit, so one limit is one bucket however spelt.
import { describe, expect, it } from 'vitest'
import { createLimiter, fixedWindow, MemoryStore, slidingWindow, tokenBucket } from '../../src/index.js'
import { penaltyBox } from '../../src/provider/index.js'

const T0 = Date.UTC(2026, 0, 1)

describe.each([
  ['tokenBucket', (window: number | string) => tokenBucket({ limit: 2, window: window as '1m' })],
  ['slidingWindow', (window: number | string) => slidingWindow({ limit: 2, window: window as '1m' })],
  ['fixedWindow', (window: number | string) => fixedWindow({ limit: 2, window: window as '1m' })],
])('%s', (_name, make) => {
  it('one name for every spelling of a window', () => {
    for (const window of [60_000, '60s', '60000ms', '1m', '1 m', '60 s']) expect(make(window).name).toBe('2-per-1m')
    for (const window of [90_000, '90s', '1.5m']) expect(make(window).name).toBe('2-per-90s')
    for (const window of [86_400_000, '24h', '1d', '1440m']) expect(make(window).name).toBe('2-per-1d')
    for (const window of [1500, '1.5s', '1500ms']) expect(make(window).name).toBe('2-per-1500ms')
  })

  it('servers spelling one limit differently share its buckets', async () => {
    const store = new MemoryStore()
    const oldServer = createLimiter({ store, policies: [make(60_000)], now: () => T0 })
    const newServer = createLimiter({ store, policies: [make('1m')], now: () => T0 })
    expect((await oldServer.consume('k')).allowed).toBe(true)
    expect((await newServer.consume('k')).allowed).toBe(true)
    expect((await oldServer.consume('k')).allowed).toBe(false)
    expect((await newServer.consume('k')).allowed).toBe(false)
  })
})

it("penaltyBox: one name for every spelling of 'within'", () => {
  for (const within of [60_000, '60s', '1m']) {
    expect(penaltyBox({ after: 5, within: within as '1m', blocks: ['10m'], forgiveAfter: '1d' }).name).toBe('box-5-per-1m')
  }
})
