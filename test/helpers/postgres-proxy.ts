// A TCP proxy in loopback in front of the PostgreSQL at DATABASE_URL, whose traffic a test cuts
// per connection: the network path of a pool's connections dying without a FIN or an RST (a
// failover that moves the database, a NAT that forgets them), or replies lost after the commit.

import net from 'node:net'
import { DATABASE_URL } from './postgres.js'

/** Whether bytes go on, asked per chunk, for the connection `client` (a socket the proxy accepted). */
type Pass = (client: net.Socket) => boolean

export interface PostgresProxy {
  /** DATABASE_URL, through the proxy. */
  readonly url: string
  /** The connections accepted so far, as the proxy's client-side sockets. */
  readonly accepted: readonly net.Socket[]
  close(): Promise<void>
}

/** Starts the proxy; `toServer` and `toClient` drop what they refuse (every byte passes by default). */
export async function startPostgresProxy(options: { toServer?: Pass; toClient?: Pass } = {}): Promise<PostgresProxy> {
  const { toServer = () => true, toClient = () => true } = options
  const accepted: net.Socket[] = []
  const upstreams: net.Socket[] = []
  const target = new URL(DATABASE_URL)
  const proxy = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname)
    accepted.push(client)
    upstreams.push(upstream)
    client.on('data', (data) => toServer(client) && upstream.write(data))
    upstream.on('data', (data) => toClient(client) && client.write(data))
    client.on('error', () => {})
    upstream.on('error', () => {})
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  const url = new URL(DATABASE_URL)
  url.hostname = '127.0.0.1'
  url.port = String((proxy.address() as net.AddressInfo).port)
  return {
    url: url.toString(),
    accepted,
    close: async () => {
      for (const socket of [...accepted, ...upstreams]) socket.destroy()
      await new Promise((resolve) => proxy.close(resolve))
    },
  }
}
