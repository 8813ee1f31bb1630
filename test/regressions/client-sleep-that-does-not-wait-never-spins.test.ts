// An injected `sleep` that returns at once (`sleep: async () => {}`, written to make tests fast) with a
// clock that does not move made the client spin for ever: pacing slept again and again for the same
// Retry-After, the rate queue asked its limiter again and again, and the concurrency queue's deadline
// timer was set again and again for the same deadline; all on promises, so the event loop starved and
// no timeout could fire. Time asked of a sleep is now counted as spent, so the call gives up with
// max-wait. Run in a child process with a timeout, so that a regression fails instead of hanging.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const clientUrl = new URL('../../src/client/index.ts', import.meta.url).href
const root = fileURLToPath(new URL('../..', import.meta.url))

/** Runs `body` (an async function body using `createClient`) in a child; what it prints, or `hung`. */
function runChild(body: string): string {
  const source = `import { createClient } from ${JSON.stringify(clientUrl)}
const frozen = { now: () => 1_700_000_000_000, sleep: async () => {} }
${body}`
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], {
    cwd: root,
    timeout: 20_000,
    encoding: 'utf8',
  })
  if (child.error !== undefined || child.signal !== null) return 'hung'
  if (child.status !== 0) return `failed: ${child.stderr}`
  return child.stdout.trim()
}

describe('a sleep that does not wait, and a clock that does not move', () => {
  it('pacing behind a Retry-After gives up with max-wait', () => {
    const out = runChild(`
let n = 0
const api = createClient({ ...frozen, baseUrl: 'http://api.test',
  fetch: async () => (n++ === 0 ? new Response(null, { status: 429, headers: { 'retry-after': '5' } }) : new Response('ok')) })
await api('/', { rateLimit: { retry: false } }).catch(() => {})
console.log(await api('/').then((r) => r.status, (e) => e.reason))`)
    expect(out).toBe('max-wait')
  })

  it('the rate queue gives up with max-wait', () => {
    const out = runChild(`
const api = createClient({ ...frozen, baseUrl: 'http://api.test', pace: false, queue: { rate: { limit: 1, window: '10s' } },
  fetch: async () => new Response('ok') })
const results = await Promise.allSettled([api('/'), api('/')])
console.log(results.map((r) => (r.status === 'fulfilled' ? r.value.status : r.reason.reason)).join(' '))`)
    expect(out).toBe('200 max-wait')
  })

  it('the concurrency queue gives up with max-wait', () => {
    const out = runChild(`
const api = createClient({ ...frozen, baseUrl: 'http://api.test', pace: false, queue: { concurrency: 1 },
  fetch: () => new Promise((resolve) => setTimeout(() => resolve(new Response('ok')), 10)) })
const results = await Promise.allSettled([api('/'), api('/')])
console.log(results.map((r) => (r.status === 'fulfilled' ? r.value.status : r.reason.reason)).join(' '))`)
    expect(out).toBe('200 max-wait')
  })
})
