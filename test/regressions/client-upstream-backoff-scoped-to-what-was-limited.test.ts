// An upstream provider's 429 (Scalekit TOOL_ERROR) says nothing about the API's own budget: it
// must not hold back the client's other calls to the API.
import { createClient, type RateLimitError } from 'ratekeeper/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scriptedServer, virtualTime } from '../client/helpers.js'

const T0 = 1_700_000_000_000
const time = virtualTime(T0)
let server: Awaited<ReturnType<typeof scriptedServer>>
beforeAll(async () => {
  server = await scriptedServer(time.now)
  server.plan('/tool', [
    { status: 429, headers: { 'Retry-After': '30' }, body: { error_code: 'TOOL_ERROR', message: 'hubspot: 429 Too Many Requests' } },
  ])
  server.plan('/tool-retried', [
    { status: 429, headers: { 'Retry-After': '30' }, body: { error_code: 'TOOL_ERROR', message: 'hubspot: 429 Too Many Requests' } },
  ])
  server.plan('/own', [{ status: 429, headers: { 'Retry-After': '30' }, body: { error_code: 'RATE_LIMITED', message: 'slow down' } }])
  server.plan('/other', [{ status: 200, body: 'ok' }])
})
afterAll(() => server.close())

describe('upstream back-off', () => {
  it('a TOOL_ERROR 429 leaves the other calls to the API free', async () => {
    const start = time.now()
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep })
    const error = (await client('/tool', { method: 'POST', body: '{}' }).catch((e: unknown) => e)) as RateLimitError
    expect(error).toMatchObject({ source: 'upstream', errorCode: 'TOOL_ERROR', status: 429, retryAfterMs: 30_000 })
    expect((await client('/other')).status).toBe(200)
    expect(server.hits('/other').map((h) => h.at - start)).toEqual([0])
    expect(client.budget(server.url)?.blockedUntil ?? 0).toBeLessThanOrEqual(start)
  })

  it('the call that got it still waits the provider out before its retry', async () => {
    const start = time.now()
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, random: () => 0, retry: { retries: 1 } })
    await client('/tool-retried', { method: 'POST', body: '{}', rateLimit: { retry: true } }).catch(() => undefined)
    const hits = server.hits('/tool-retried')
    expect(hits.map((h) => h.at - start)).toEqual([0, 30_000])
  })

  it("the API's own 429 (RATE_LIMITED) still holds back the whole budget", async () => {
    const start = time.now()
    const client = createClient({ baseUrl: server.url, now: time.now, sleep: time.sleep, maxWaitMs: 0 })
    await expect(client('/own', { method: 'POST', body: '{}' })).rejects.toMatchObject({ source: 'server' })
    await expect(client('/other')).rejects.toMatchObject({ source: 'client', reason: 'max-wait' })
    expect(client.budget(server.url)?.blockedUntil).toBe(start + 30_000)
  })
})
