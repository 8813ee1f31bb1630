// A draft-8/10 policy whose `pk` (partition key) is sent in only one of the two fields is one
// policy, not two: express-rate-limit's draft-8 mode sends `pk` only in `RateLimit-Policy`.
import { createClient, parseRateLimitHeaders } from 'ratekeeper/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Peer, startPeer } from '../client/peers.js'

const NOW = 1_782_191_988_000

describe('draft-10 fields are joined by policy name; pk is a check only when both sides carry it', () => {
  it('joins a policy whose pk is only in RateLimit-Policy (the headers express-rate-limit draft-8 sends)', () => {
    const info = parseRateLimitHeaders(
      { ratelimit: '"5-in-2sec"; r=4; t=2', 'ratelimit-policy': '"5-in-2sec"; q=5; w=2; pk=:MTJjYTE3YjQ5YWYy:' },
      { now: NOW },
    )
    expect(info).toMatchObject({ limit: 5, remaining: 4, resetAt: NOW + 2000, dialect: 'draft-10' })
    expect(info.policies).toEqual([
      {
        name: '5-in-2sec',
        dialect: 'draft-10',
        limit: 5,
        remaining: 4,
        resetAt: NOW + 2000,
        windowMs: 2000,
        unit: undefined,
        partitionKey: 'MTJjYTE3YjQ5YWYy',
      },
    ])
  })

  it('joins a policy whose pk is only in RateLimit', () => {
    const info = parseRateLimitHeaders({ ratelimit: '"p";r=1;t=3;pk=:YWJj:', 'ratelimit-policy': '"p";q=9;w=10' }, { now: NOW })
    expect(info.policies).toHaveLength(1)
    expect(info).toMatchObject({ limit: 9, remaining: 1, resetAt: NOW + 3000 })
    expect(info.policies[0].partitionKey).toBe('YWJj')
  })

  it('keeps two partitions of one name apart when both sides carry different keys', () => {
    const info = parseRateLimitHeaders({ ratelimit: '"p";r=1;pk=:YWJj:', 'ratelimit-policy': '"p";q=9;pk=:eHl6:' }, { now: NOW })
    expect(info.policies.map((p) => [p.partitionKey, p.limit, p.remaining])).toEqual([
      ['eHl6', 9, undefined],
      ['YWJj', undefined, 1],
    ])
  })
})

describe('against express-rate-limit in draft-8 mode', () => {
  let peer: Peer
  beforeAll(async () => {
    peer = await startPeer('express-rate-limit draft-8', 5, 60_000)
  })
  afterAll(() => peer.close())

  it('reads one policy with its quota, remaining and window', async () => {
    const client = createClient({ baseUrl: peer.url })
    expect((await client('/')).status).toBe(200)
    const info = client.budget(peer.url)?.lastInfo
    expect(info).toMatchObject({ dialect: 'draft-10', limit: 5, remaining: 4 })
    expect(info?.policies).toHaveLength(1)
    expect(info?.policies[0]).toMatchObject({ name: '5-in-60sec', limit: 5, remaining: 4, windowMs: 60_000 })
    expect(info?.policies[0].partitionKey).toMatch(/^[A-Za-z0-9+/]+=*$/)
  })
})
