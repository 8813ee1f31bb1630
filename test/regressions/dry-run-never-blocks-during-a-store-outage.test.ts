// "Both decide and never block" (docs/shadow-rollout.md): a limiter rolled out with `dryRun: true`
// must let every request through. With `onStoreError: 'deny'`, a store outage still answered 503
// (the store-error decision was not marked as a dry-run one). (`wait()` in dry run: see
// dry-run-wait-never-blocks.)

import { describe, expect, it } from 'vitest'
import { withRateLimit } from '../../adapters/fetch.js'
import { createLimiter, fixedWindow } from '../../src/index.js'
import { throwingStore } from '../helpers/stores.js'

const T0 = Date.UTC(2026, 0, 1)

describe('dry run', () => {
  it('marks a store-error denial as a dry-run one', async () => {
    const limiter = createLimiter({
      store: throwingStore(),
      policies: [fixedWindow({ limit: 1, window: '1m' })],
      onStoreError: 'deny',
      dryRun: true,
      now: () => T0,
    })
    limiter.on('warn', () => {})
    const d = await limiter.consume('k')
    expect([d.allowed, d.reason, d.dryRun]).toEqual([false, 'store-error', true])
  })

  it('lets the request through an HTTP adapter while the store is down (onStoreError deny)', async () => {
    let calls = 0
    const handler = withRateLimit(
      async () => {
        calls++
        return Response.json({ ok: true })
      },
      {
        policies: [fixedWindow({ limit: 1, window: '1m' })],
        store: throwingStore(),
        onStoreError: 'deny',
        dryRun: true,
        ip: () => '192.0.2.1',
      },
    )
    const statuses = [(await handler(new Request('http://x/'))).status, (await handler(new Request('http://x/'))).status]
    expect([statuses, calls]).toEqual([[200, 200], 2])
  })
})
