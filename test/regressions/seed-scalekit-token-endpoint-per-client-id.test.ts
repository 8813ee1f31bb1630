/**
 * Scalekit: "Limits are tracked per client_id" — the token endpoint too. It used to count per IP,
 * so two clients behind one address (one NAT, one server) limited each other, and one client
 * spread over several addresses got one allowance per address. It is keyed by the client_id
 * presented, in the form body or with HTTP Basic authentication.
 */
import { afterEach, expect, it } from 'vitest'
import { createApp } from '../../examples/seeds/scalekit.js'
import { listen, type SeedServer } from '../examples/seed-http.js'
import { clock } from '../helpers/clock.js'

const CLIENTS = {
  skc_app: { clientId: 'skc_app', secret: 's1', environment: 'env_prod' },
  skc_worker: { clientId: 'skc_worker', secret: 's2', environment: 'env_prod' },
}
let server: SeedServer | undefined
let close: (() => Promise<void>) | undefined
afterEach(async () => {
  await server?.close()
  await close?.()
})

async function start() {
  const c = clock(Date.UTC(2026, 2, 1, 10, 0, 0))
  const built = createApp({
    clients: CLIENTS,
    now: c.now,
    callTool: async () => ({ status: 200, headers: new Headers(), json: async () => ({}) }),
  })
  close = built.close
  server = await listen(built.app.callback())
  const s = server
  const form = (id: keyof typeof CLIENTS, from = '127.0.0.1') =>
    s.send('POST', '/oauth/token', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&client_id=${id}&client_secret=${CLIENTS[id].secret}`,
      from,
    })
  const basic = (id: keyof typeof CLIENTS, from = '127.0.0.1') =>
    s.send('POST', '/oauth/token', {
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${id}:${CLIENTS[id].secret}`).toString('base64')}`,
      },
      body: 'grant_type=client_credentials',
      from,
    })
  return { form, basic }
}

it('two clients behind one address each have their own token-endpoint allowance', async () => {
  const { form } = await start()
  let admitted = 0
  for (let i = 0; i < 40 && (await form('skc_app')).status === 200; i++) admitted++
  expect(admitted).toBeGreaterThan(0)
  expect(admitted).toBeLessThan(40)
  expect((await form('skc_app')).status).toBe(429)
  // The other client, same address: untouched.
  expect((await form('skc_worker')).status).toBe(200)
})

it('one client is one allowance, from any address and whether it authenticates in the body or with Basic', async () => {
  const { form, basic } = await start()
  let admitted = 0
  for (let i = 0; i < 40; i++) {
    const send = i % 2 === 0 ? form : basic
    if ((await send('skc_app', i % 3 === 0 ? '127.0.0.2' : '127.0.0.1')).status === 200) admitted++
  }
  expect(admitted).toBeLessThan(40)
  expect((await basic('skc_app', '127.0.0.3')).status).toBe(429)
})
