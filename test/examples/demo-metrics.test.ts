// The demo's GET /metrics (Prometheus text, parsed) and GET /metrics/top-limited under a client
// that gets limited, on a real socket with a fake clock.
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { createDemo, type Demo, keyFingerprint, startDemo } from '../../examples/demo.js'
import { parsePromText } from '../../scripts/prom-text.js'
import { clock } from '../helpers/clock.js'

const T0 = Date.UTC(2026, 5, 23, 12, 0, 0)
let demo: Demo | undefined
let server: Server | undefined
afterEach(async () => {
  await new Promise<void>((resolve) => {
    if (server === undefined) return resolve()
    server.close(() => resolve())
    server.closeAllConnections()
  })
  server = undefined
  await demo?.close()
  demo = undefined
})

describe('examples/demo.ts: /metrics', () => {
  it('exports decisions by outcome, class and tier, and names the limited client by fingerprint only', async () => {
    const registry = new Registry()
    demo = createDemo({ now: clock(T0).now, log: () => {}, metrics: registry })
    const listening = demo.app.listen(0, '127.0.0.1')
    server = listening
    await new Promise<void>((resolve) => listening.once('listening', () => resolve()))
    const base = `http://127.0.0.1:${(listening.address() as AddressInfo).port}`
    const send = (method: string, path: string) => fetch(base + path, { method, headers: { authorization: 'Bearer pk_test_demo' } })
    // The public key's create bucket holds 5: the sixth job is limited.
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) statuses.push((await send('POST', '/v1/jobs')).status)
    expect(statuses).toEqual([202, 202, 202, 202, 202, 429])
    await send('GET', '/v1/listings')

    const res = await fetch(`${base}/metrics`)
    expect(res.headers.get('content-type')).toBe(registry.contentType)
    const text = await res.text()
    expect(text).not.toContain('pk_test_demo')
    const m = parsePromText(text)
    const tier = { tier: 'public_key' }
    expect(m.value('ratekeeper_decisions_total', { ...tier, class: 'create', policy: 'create', outcome: 'limited' })).toBe(1)
    expect(m.value('ratekeeper_decisions_total', { ...tier, class: 'read', outcome: 'allowed' })).toBe(1)
    // The per-IP limit runs first on every request, without a class or tier.
    expect(m.value('ratekeeper_decisions_total', { policy: 'per-ip', outcome: 'allowed' })).toBe(7)
    expect(m.value('ratekeeper_remaining_ratio_bucket', { ...tier, policy: 'create', le: '0' })).toBe(2)

    const top = (await (await fetch(`${base}/metrics/top-limited`)).json()) as { total: number; top: { key: string; count: number }[] }
    expect(top.total).toBe(1)
    expect(top.top).toEqual([{ key: keyFingerprint('key:pk_test_demo'), count: 1, error: 0 }])
  })

  it('startDemo serves /metrics (prom-client is installed here)', async () => {
    const running = await startDemo({ port: 0, log: () => {} })
    try {
      await fetch(`${running.url}/v1/listings`)
      const m = parsePromText(await (await fetch(`${running.url}/metrics`)).text())
      expect(m.value('ratekeeper_decisions_total', { policy: 'per-ip', outcome: 'allowed' })).toBe(1)
    } finally {
      await running.close()
    }
  })
})
