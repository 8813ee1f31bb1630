// Attack replays against the login examples (examples/login-express.ts, login-fastify.ts), on the
// memory store and on a real Redis: the exact number of attempts each attack gets to a password
// check, and what a legitimate user can still do (docs/brute-force.md says the same).
import type { AddressInfo } from 'node:net'
import { afterEach, expect, it } from 'vitest'
import { createLoginApp as expressApp, type LoginAppOptions } from '../../examples/login-express.js'
import { createLoginApp as fastifyApp } from '../../examples/login-fastify.js'
import { clock } from '../helpers/clock.js'
import { describeEachStore } from './seed-stores.js'
import { type Answer, serve } from './serve.js'

const T0 = Date.UTC(2026, 0, 1)
const PASSWORD = 'correct horse battery staple'
const LIMITS: LoginAppOptions['limits'] = {
  perPair: { limit: 5, window: '15m' },
  perIp: { limit: 20, window: '1d' },
  perUsername: { limit: 10, window: '1d' },
  penalty: { after: 3, within: '15m', blocks: ['15m', '1h'], forgiveAfter: '1d' },
}

interface Running {
  login(body: { username: string; password: string }, ip: string, cookie?: string): Promise<Answer>
  close(): Promise<void>
}

async function start(framework: 'express' | 'fastify', options: LoginAppOptions): Promise<Running> {
  let base: string
  let close: () => Promise<void>
  if (framework === 'express') {
    const built = expressApp(options)
    const server = await serve(built.app)
    base = server.base
    close = async () => {
      await server.close()
      await built.close()
    }
  } else {
    const app = await fastifyApp(options)
    await app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    close = () => app.close()
  }
  return {
    async login(body, ip, cookie) {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-forwarded-for': ip }
      if (cookie !== undefined) headers.cookie = cookie
      const res = await fetch(`${base}/login`, { method: 'POST', headers, body: JSON.stringify(body) })
      const text = await res.text()
      return { status: res.status, headers: Object.fromEntries(res.headers), body: text, json: <T>() => JSON.parse(text) as T }
    },
    close,
  }
}

const tally = (answers: Answer[]) => {
  const out: Record<number, number> = {}
  for (const a of answers) out[a.status] = (out[a.status] ?? 0) + 1
  return out
}

const running: Running[] = []
afterEach(async () => {
  for (const r of running.splice(0)) await r.close()
})

for (const framework of ['express', 'fastify'] as const) {
  describeEachStore(`examples/login-${framework}.ts: attack replays`, (kind) => {
    const app = async () => {
      const c = clock(T0)
      const r = await start(framework, { now: c.now, store: kind.store(), limits: LIMITS })
      running.push(r)
      return { ...r, clock: c }
    }

    it('password spraying from one address: exactly perIp (20) attempts reach a password check', async () => {
      const { login } = await app()
      const answers: Answer[] = []
      for (let i = 0; i < 40; i++) answers.push(await login({ username: `user${i}`, password: 'Winter2026!' }, '203.0.113.7'))
      expect(tally(answers)).toEqual({ 401: 20, 429: 20 })
      const denied = answers[20]
      expect(Number(denied.headers['retry-after'])).toBeGreaterThan(0)
      expect(denied.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(denied.json()['violated-policies']).toEqual(['login-ip'])
      // The address kept trying while denied: boxed after 3 denials, for 15 minutes at least.
      expect(answers[39].json()['violated-policies']).toContain('login-box')
      // Other addresses are untouched.
      expect((await login({ username: 'alice', password: PASSWORD }, '198.51.100.1')).status).toBe(200)
    })

    it('credential stuffing from many addresses: exactly perUsername (10) attempts; the owner keeps a trusted device', async () => {
      const { login } = await app()
      // Alice logged in before the attack: her browser holds the device cookie.
      const before = await login({ username: 'alice', password: PASSWORD }, '198.51.100.1')
      expect(before.status).toBe(200)
      const cookie = (before.headers['set-cookie'] ?? '').split(';')[0]
      expect(cookie).toMatch(/^device=/)
      const answers: Answer[] = []
      for (let i = 1; i <= 30; i++) answers.push(await login({ username: 'alice', password: `leaked-${i}` }, `192.0.2.${i}`))
      expect(tally(answers)).toEqual({ 401: 10, 429: 20 })
      expect(answers[10].json()['violated-policies']).toEqual(['login-username'])
      // As docs/brute-force.md says: without the cookie the username is locked for the window…
      expect((await login({ username: 'alice', password: PASSWORD }, '198.51.100.1')).status).toBe(429)
      // …with it, alice logs in from her usual address, and from a new one.
      expect((await login({ username: 'alice', password: PASSWORD }, '198.51.100.1', cookie)).status).toBe(200)
      expect((await login({ username: 'alice', password: PASSWORD }, '198.51.100.99', cookie)).status).toBe(200)
      // Another user is untouched.
      expect((await login({ username: 'bob', password: 'x' }, '198.51.100.1')).status).toBe(401)
    })

    it('100 parallel attempts from one address: exactly perPair (5) reach a password check', async () => {
      const { login } = await app()
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) => login({ username: 'alice', password: `guess-${i}` }, '203.0.113.9')),
      )
      expect(tally(answers)).toEqual({ 401: 5, 429: 95 })
    })

    it('case and Unicode variants of a username share its counter', async () => {
      const { login } = await app()
      const variants = ['alice', 'Alice', 'ALICE', ' alice ', 'ａｌｉｃｅ', 'aLiCe\t', 'ALİCE'.normalize('NFC'), 'alice']
      const answers: Answer[] = []
      for (const username of variants) answers.push(await login({ username, password: 'nope' }, '203.0.113.10'))
      // One counter for the first six and the last: 5 pass. 'ALİCE' (a dotted capital I) lowercases
      // to 'ali̇ce', another name with a counter of its own.
      expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 401, 401, 429, 401, 429])
    })

    it('a success resets the username+address counter, and is not counted', async () => {
      const { login } = await app()
      const ip = '203.0.113.11'
      for (let i = 0; i < 4; i++) expect((await login({ username: 'alice', password: 'typo' }, ip)).status).toBe(401)
      expect((await login({ username: 'alice', password: PASSWORD }, ip)).status).toBe(200)
      for (let i = 0; i < 5; i++) expect((await login({ username: 'alice', password: 'typo' }, ip)).status).toBe(401)
      expect((await login({ username: 'alice', password: PASSWORD }, ip)).status).toBe(429)
    })

    it('an attacker on one address never locks the owner out from hers; unknown users get the same answers', async () => {
      const { login, clock: c } = await app()
      const attacker = '203.0.113.12'
      const answers: Answer[] = []
      for (let i = 0; i < 9; i++) answers.push(await login({ username: 'alice', password: `p${i}` }, attacker))
      const ghost: Answer[] = []
      for (let i = 0; i < 9; i++) ghost.push(await login({ username: 'nobody-here', password: `p${i}` }, '203.0.113.13'))
      // Same statuses, same bodies, whether the username exists or not.
      expect(answers.map((a) => a.status)).toEqual(ghost.map((a) => a.status))
      expect(answers.map((a) => a.body)).toEqual(ghost.map((a) => a.body))
      expect(tally(answers)).toEqual({ 401: 5, 429: 4 })
      // 4 denials: the attacker's address is boxed (3 within 15 minutes) for 15 minutes.
      expect(answers[8].json()['violated-policies']).toContain('login-box')
      expect((await login({ username: 'alice', password: PASSWORD }, '198.51.100.1')).status).toBe(200)
      // The box escalates: once the first block is over, 5 failures on another name, then 3
      // denials, and the address is boxed for an hour (the second block length).
      c.advance(16 * 60_000)
      for (let i = 0; i < 5; i++) expect((await login({ username: 'carol', password: `q${i}` }, attacker)).status).toBe(401)
      let last: Answer | undefined
      for (let i = 0; i < 3; i++) last = await login({ username: 'carol', password: `r${i}` }, attacker)
      expect(last?.json()['violated-policies']).toContain('login-box')
      expect(last?.headers['retry-after']).toBe('3600')
    })
  })
}
