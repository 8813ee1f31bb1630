// On Next.js, Workers and other runtimes without a connection address, an anonymous request
// (no API key) under `withRateLimit` + `apiKey()` has nothing to be counted by. It is refused
// with a 500, never admitted uncounted; the error said "pass a key function" although one was
// passed. The error, and a warning at the first such request, now name the `ip` option.
import { createLimiter, fixedWindow } from 'ratekeeper'
import { rateLimit, withRateLimit } from 'ratekeeper/fetch'
import { describe, expect, it, vi } from 'vitest'
import { apiKey } from '../../src/http/keys.js'

function setup(extra: { ip?: (request: Request) => string | undefined } = {}) {
  const limiter = createLimiter({ policies: [fixedWindow({ name: 'per-second', limit: 2, window: '1s' })], now: () => 0 })
  const warnings: { code: string; message: string }[] = []
  limiter.on('warn', (w) => warnings.push(w))
  const errors: unknown[] = []
  let runs = 0
  const GET = withRateLimit(
    async (_request: Request, _context: { params: Promise<object> }) => {
      runs++
      return Response.json({ data: [] })
    },
    {
      limiter,
      key: apiKey({ bearer: true }),
      onError: (error) => {
        errors.push(error)
        return new Response('failed', { status: 500 })
      },
      ...extra,
    },
  )
  return { GET, warnings, errors, runs: () => runs }
}

const anonymous = () => new Request('https://api.example/v1/things')
const withToken = () => new Request('https://api.example/v1/things', { headers: { authorization: 'Bearer abcdefgh' } })

describe('withRateLimit + apiKey() without an address source', () => {
  it('refuses an anonymous request with a 500 naming the ip option, never runs the handler', async () => {
    const { GET, errors, runs } = setup()
    const res = await GET(anonymous(), { params: Promise.resolve({}) })
    expect(res.status).toBe(500)
    expect(runs()).toBe(0)
    const message = (errors[0] as Error).message
    expect(message).toContain('"ip"')
    expect(message).toMatch(/ip option/)
    expect(message).not.toContain('pass a key function;')
  })

  it('warns once, naming the ip option, at the first such request', async () => {
    const { GET, warnings } = setup()
    for (let i = 0; i < 3; i++) await GET(anonymous(), { params: Promise.resolve({}) })
    const found = warnings.filter((w) => w.code === 'RK_NO_CLIENT_ADDRESS')
    expect(found).toHaveLength(1)
    expect(found[0].message).toMatch(/ip option/)
    expect(found[0].message).toContain('cf-connecting-ip')
  })

  it('with nobody listening for warn, the warning is printed once', async () => {
    const printed = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    try {
      const GET = withRateLimit(async () => Response.json({}), {
        policies: [fixedWindow({ limit: 2, window: '1s' })],
        key: apiKey({ bearer: true }),
        onError: () => new Response('failed', { status: 500 }),
      })
      for (let i = 0; i < 3; i++) expect((await GET(anonymous())).status).toBe(500)
      const codes = printed.mock.calls.map((call) => (call[1] as { code?: string } | undefined)?.code)
      expect(codes.filter((code) => code === 'RK_NO_CLIENT_ADDRESS')).toHaveLength(1)
    } finally {
      printed.mockRestore()
    }
  })

  it('counts requests with a key as before', async () => {
    const { GET, warnings } = setup()
    const statuses = []
    for (let i = 0; i < 3; i++) statuses.push((await GET(withToken(), { params: Promise.resolve({}) })).status)
    expect(statuses).toEqual([200, 200, 429])
    expect(warnings).toEqual([])
  })

  it('with the ip option, an anonymous request is counted by it', async () => {
    const { GET, errors } = setup({ ip: (request) => request.headers.get('cf-connecting-ip') ?? undefined })
    const statuses = []
    for (let i = 0; i < 3; i++) {
      const request = new Request('https://api.example/v1/things', { headers: { 'cf-connecting-ip': '203.0.113.7' } })
      statuses.push((await GET(request, { params: Promise.resolve({}) })).status)
    }
    expect(statuses).toEqual([200, 200, 429])
    expect(errors).toEqual([])
  })

  it('the plain check says the same', async () => {
    const limit = rateLimit({
      policies: [fixedWindow({ limit: 2, window: '1s' })],
      onError: (error) => new Response(String((error as Error).message), { status: 500 }),
    })
    const res = await limit(anonymous())
    expect(res?.status).toBe(500)
    expect(await res?.text()).toMatch(/ip option/)
  })
})
