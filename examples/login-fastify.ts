// Fastify: brute-force protection for a login route with loginGuard() (the same guard as
// examples/login-express.ts; only the framework differs).
//
//   node --import tsx examples/login-fastify.ts
//   curl -i -X POST http://127.0.0.1:3000/login -H 'content-type: application/json' \
//        -d '{"username":"alice","password":"correct horse battery staple"}'

import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import { loginGuard } from 'ratekeeper/provider'
import type { LoginAppOptions } from './login-express.js'
import { checkPassword, deviceToken, isTrustedDevice } from './login-shared.js'

export async function createLoginApp(options: LoginAppOptions = {}): Promise<FastifyInstance> {
  const secret = options.secret ?? 'change me'
  const guard = loginGuard({ ...options.limits, store: options.store, now: options.now })
  // Behind one reverse proxy on this machine: req.ip is the address it saw (see docs/security.md).
  const app = Fastify({ trustProxy: '127.0.0.1' })
  app.addHook('onClose', async () => {
    await guard.limiter.close()
  })

  app.post('/login', async (req, reply) => {
    const { username, password } = (req.body ?? {}) as { username?: unknown; password?: unknown }
    if (typeof username !== 'string' || typeof password !== 'string' || username.length > 256)
      return reply.code(400).send({ error: 'username and password are required' })
    const trusted = isTrustedDevice(secret, username, req.headers.cookie)
    const attempt = await guard.attempt({ username, ip: req.ip, trusted })
    if (!attempt.allowed) return reply.code(attempt.status).headers(attempt.headers).send(attempt.body)
    if (checkPassword(username, password)) {
      await attempt.succeeded()
      reply.header('set-cookie', `device=${deviceToken(secret, username)}; HttpOnly; SameSite=Strict`)
      return { token: 'demo-token' }
    }
    await attempt.failed()
    // One answer for a wrong password and an unknown user.
    return reply.code(401).send({ error: 'invalid username or password' })
  })

  return app
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000)
  const app = await createLoginApp()
  await app.listen({ port, host: '127.0.0.1' })
  console.log(`Login example on http://127.0.0.1:${port}/login`)
}
