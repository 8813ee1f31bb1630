import { createServer, type RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Answer {
  status: number
  headers: Record<string, string>
  body: string
  json<T = Record<string, unknown>>(): T
}

/** Serves a Node request listener (an Express app, `koa.callback()`) on 127.0.0.1, a free port. */
export async function serve(listener: RequestListener) {
  const server = createServer(listener)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    base,
    async send(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
      const res = await fetch(base + path, { method, headers, body })
      const text = await res.text()
      return { status: res.status, headers: Object.fromEntries(res.headers), body: text, json: <T>() => JSON.parse(text) as T }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
