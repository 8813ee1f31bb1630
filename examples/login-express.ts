// Express: brute-force protection for a login route with loginGuard(). Failed attempts are
// counted per username+IP, per IP and per username; a success resets the username+IP counter;
// a device cookie from an earlier login exempts its holder from the per-username counter.
//
//   node --import tsx examples/login-express.ts
//   curl -i -X POST http://127.0.0.1:3000/login -H 'content-type: application/json' \
//        -d '{"username":"alice","password":"correct horse battery staple"}'

import { pathToFileURL } from 'node:url'
import express, { type Express } from 'express'
import type { Store } from 'ratekeeper'
import { type LoginGuardOptions, loginGuard } from 'ratekeeper/provider'
import { checkPassword, deviceToken, isTrustedDevice } from './login-shared.js'

export interface LoginAppOptions {
  now?: () => number
  store?: Store
  /** The guard's limits (the defaults of loginGuard() otherwise). */
  limits?: Pick<LoginGuardOptions, 'perPair' | 'perIp' | 'perUsername' | 'penalty'>
  /** The key of the device cookie's HMAC. */
  secret?: string
}

export function createLoginApp(options: LoginAppOptions = {}): { app: Express; close(): Promise<void> } {
  const secret = options.secret ?? 'change me'
  const guard = loginGuard({ ...options.limits, store: options.store, now: options.now })
  const app = express()
  // Behind one reverse proxy on this machine: req.ip is the address it saw (see docs/security.md).
  app.set('trust proxy', 'loopback')

  app.post('/login', express.json(), async (req, res, next) => {
    try {
      const { username, password } = (req.body ?? {}) as { username?: unknown; password?: unknown }
      if (typeof username !== 'string' || typeof password !== 'string' || username.length > 256) {
        res.status(400).json({ error: 'username and password are required' })
        return
      }
      const trusted = isTrustedDevice(secret, username, req.get('cookie'))
      const attempt = await guard.attempt({ username, ip: req.ip ?? '', trusted })
      if (!attempt.allowed) {
        res.status(attempt.status).set(attempt.headers).send(attempt.body)
        return
      }
      if (checkPassword(username, password)) {
        await attempt.succeeded()
        res.cookie('device', deviceToken(secret, username), { httpOnly: true, sameSite: 'strict' })
        res.json({ token: 'demo-token' })
      } else {
        await attempt.failed()
        // One answer for a wrong password and an unknown user.
        res.status(401).json({ error: 'invalid username or password' })
      }
    } catch (error) {
      next(error)
    }
  })

  return { app, close: () => guard.limiter.close() }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000)
  const { app } = createLoginApp()
  app.listen(port, '127.0.0.1', () => console.log(`Login example on http://127.0.0.1:${port}/login`))
}
