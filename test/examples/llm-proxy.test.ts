import { afterEach, describe, expect, it } from 'vitest'
import { countTokens, createLlmProxy, type Model } from '../../examples/llm-proxy.js'
import { clock } from '../helpers/clock.js'

const T0 = Date.UTC(2026, 0, 1)
const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn()
})

const ask = (key: string, prompt: string, maxTokens: number) =>
  new Request('http://proxy.test/v1/completions', {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json' },
    body: JSON.stringify({ prompt, max_tokens: maxTokens }),
  })

/** A model whose answers wait at a gate after their first token (streams held open) until it opens. */
function gatedModel() {
  let open = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  const model: Model = async function* gated(prompt, maxTokens) {
    yield 'first'
    await opened
    for (let i = 1; i < Math.min(maxTokens, 5); i++) yield prompt
  }
  return { model, open }
}

async function left(limiter: ReturnType<typeof createLlmProxy>['limiter'], key: string) {
  const d = await limiter.peek(key, { cost: 0 })
  return Object.fromEntries(d.policies.map((p) => [p.name, p.remaining]))
}

describe('examples/llm-proxy.ts', () => {
  it('charges the estimate (prompt + max_tokens) on arrival and settles at the usage when the stream ends', async () => {
    const proxy = createLlmProxy({ now: clock(T0).now })
    cleanup.push(proxy.close)
    const prompt = 'tell me a story about rate limits'
    const res = await proxy.handler(ask('sk_a', prompt, 500))
    expect(res.status).toBe(200)
    const estimate = countTokens(prompt) + 500
    expect(res.headers.get('ratelimit')).toContain(`"tokens-per-minute";r=${10_000 - estimate}`)
    const events = await res.text()
    const usage = JSON.parse(events.split('\n\n').at(-3)?.slice(6) ?? '{}').usage as { total_tokens: number; completion_tokens: number }
    expect(usage.completion_tokens).toBe(14)
    expect(await left(proxy.limiter, 'sk_a')).toEqual({
      'in-flight': 2,
      'tokens-per-minute': 10_000 - usage.total_tokens,
      'tokens-per-day': 200_000 - usage.total_tokens,
    })
  })

  it('denies a request whose estimate does not fit the minute, and admits it once tokens refill', async () => {
    const c = clock(T0)
    const proxy = createLlmProxy({ now: c.now })
    cleanup.push(proxy.close)
    const big = await proxy.handler(ask('sk_b', 'hi', 4096))
    await big.text()
    await proxy.handler(ask('sk_b', 'hi', 4096)).then((r) => r.text())
    // Each used 1 + 2 tokens of its 4097 estimate: 9994 left.
    expect((await left(proxy.limiter, 'sk_b'))['tokens-per-minute']).toBe(9_994)
    // 2000 prompt tokens + 4096: fits the 9994 left once (and uses 2000 + 4000).
    const first = await proxy.handler(ask('sk_b', 'x '.repeat(2000), 4096))
    expect(first.status).toBe(200)
    await first.text()
    expect((await left(proxy.limiter, 'sk_b'))['tokens-per-minute']).toBe(3_994)
    const denied = await proxy.handler(ask('sk_b', 'x '.repeat(2000), 4096))
    expect(denied.status).toBe(429)
    expect(JSON.parse(await denied.text())['violated-policies']).toEqual(['tokens-per-minute'])
    c.advance(60_000)
    expect((await proxy.handler(ask('sk_b', 'hi', 4096))).status).toBe(200)
  })

  it('allows two streams in flight per key: the third waits with a short Retry-After; a hang-up frees its slot at the estimate', async () => {
    const gate = gatedModel()
    const proxy = createLlmProxy({ now: clock(T0).now, model: gate.model })
    cleanup.push(proxy.close)
    const a = await proxy.handler(ask('sk_c', 'one two', 100))
    const b = await proxy.handler(ask('sk_c', 'one two', 100))
    const readerA = a.body?.getReader()
    await readerA?.read()
    const denied = await proxy.handler(ask('sk_c', 'one two', 100))
    expect(denied.status).toBe(429)
    expect(['1', '2']).toContain(denied.headers.get('retry-after'))
    expect(denied.headers.get('ratelimit-policy')).toContain('"in-flight";q=2;qu="concurrent-requests"')
    // Another key has its own slots.
    expect((await proxy.handler(ask('sk_other', 'one', 1))).status).toBe(200)
    // The client of `a` hangs up: its slot is free, its estimate (2 + 100) kept.
    await readerA?.cancel()
    expect((await left(proxy.limiter, 'sk_c'))['in-flight']).toBe(1)
    gate.open()
    await b.text()
    const after = await left(proxy.limiter, 'sk_c')
    expect(after['in-flight']).toBe(2)
    // a: the estimate, 102; b: 2 prompt tokens + 5 completion tokens.
    expect(after['tokens-per-minute']).toBe(10_000 - 102 - 7)
  })

  it('answers 400 to a malformed request, charging 1', async () => {
    const proxy = createLlmProxy({ now: clock(T0).now })
    cleanup.push(proxy.close)
    const res = await proxy.handler(
      new Request('http://proxy.test/v1/completions', { method: 'POST', headers: { 'x-api-key': 'sk_d' }, body: '{}' }),
    )
    expect(res.status).toBe(400)
    await res.text()
    expect((await left(proxy.limiter, 'sk_d'))['tokens-per-minute']).toBe(9_999)
  })
})
