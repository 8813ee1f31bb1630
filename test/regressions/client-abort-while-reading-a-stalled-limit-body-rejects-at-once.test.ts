// On a rate-limit answer the client reads a copy of the body (the API's error code). A server that
// sends the headers and then stalls held an aborted call until the read gave up (a second) when the
// fetch in use does not tie the body to the signal (a wrapper, another HTTP library): the abort
// must end the read at once, as it ends every other wait.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createClient, type FetchFunction } from 'ratekeeper/client'
import { describe, expect, it } from 'vitest'

describe('an abort while the client reads a stalled 429 body', () => {
  it('rejects the call with the reason within a few turns of the event loop', async () => {
    let answered: () => void = () => {}
    const headersSent = new Promise<void>((resolve) => {
      answered = resolve
    })
    const server = createServer((_req, res) => {
      res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' })
      res.write('{"error_code":') // and nothing more
      answered()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
      // A fetch that does not pass the signal on (its body keeps flowing after an abort).
      const fetchImpl: FetchFunction = (input, init) => {
        const { signal: _ignored, ...rest } = init ?? {}
        return fetch(input, rest)
      }
      const api = createClient({ fetch: fetchImpl })
      const controller = new AbortController()
      let settled: unknown
      const call = api(url, { signal: controller.signal }).then(
        () => 'resolved',
        (error: unknown) => error,
      )
      void call.then((value) => {
        settled = value
      })
      await headersSent
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)) // the client is reading
      controller.abort(new Error('caller gave up'))
      for (let i = 0; i < 20 && settled === undefined; i++) await new Promise((resolve) => setImmediate(resolve))
      expect(settled).toBeInstanceOf(Error)
      expect((settled as Error).message).toBe('caller gave up')
      await call
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })
})
