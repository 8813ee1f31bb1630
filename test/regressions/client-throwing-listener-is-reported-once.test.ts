// A client 'response' listener that throws (a log sink down) was reported with
// process.emitWarning on every response: a client making hundreds of calls a second printed a
// warning line for each, where a limiter's listener is reported once per event. The client now
// says it once per event too.
import { createClient } from 'ratekeeper/client'
import { afterEach, beforeEach, expect, it } from 'vitest'

let warnings: (Error & { code?: string })[] = []
const onWarning = (w: Error) => warnings.push(w)
beforeEach(() => {
  warnings = []
  process.on('warning', onWarning)
})
afterEach(() => {
  process.off('warning', onWarning)
})

it('a client listener that throws on every response is reported once', async () => {
  const client = createClient({ fetch: async () => new Response('ok') })
  client.on('response', () => {
    throw new Error('log sink down')
  })
  for (let i = 0; i < 20; i++) expect((await client('http://api.test/')).status).toBe(200)
  // process.emitWarning delivers its 'warning' events on a later tick.
  await new Promise((resolve) => setImmediate(resolve))
  const threw = warnings.filter((w) => w.code === 'RK_LISTENER_THREW')
  expect(threw.map((w) => w.message)).toEqual(["ratekeeper: a client 'response' listener threw: Error: log sink down (said once)"])
})
