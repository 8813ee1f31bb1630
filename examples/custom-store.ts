// A store of your own: the `Store` contract on a plain Map with expiry times.
// Swap the Map for your database; keep the three rules that make a store correct:
//   1. decide every check of a request together, and charge all of them or none;
//   2. never implement a limiting rule: call each policy's `step` / `refund` and keep its `state`;
//   3. throw (or reject) on failure: the limiter applies `onStoreError`.
// (For a key-value store with compare-and-set, `casStore({ backend })` does all this for you.)
//
//   node --import tsx examples/custom-store.ts

import { pathToFileURL } from 'node:url'
import {
  createLimiter,
  fixedWindow,
  type PolicyState,
  type StepOutcome,
  type Store,
  StoreError,
  type StoreRefundRequest,
  type StoreRequest,
  type StoreResult,
  tokenBucket,
} from 'ratekeeper'

const outcome = (): StepOutcome => ({ allowed: false, never: false, state: undefined, remaining: 0, resetAt: 0, retryAfterMs: 0, ttlMs: 0 })

export class MapStore implements Store {
  readonly #entries = new Map<string, { state: PolicyState; expiresAt: number }>()
  #closed = false

  /** Entries held (expired ones included until touched). */
  get size(): number {
    return this.#entries.size
  }

  consume(request: StoreRequest): StoreResult {
    return this.#decide(request, true)
  }

  peek(request: StoreRequest): StoreResult {
    return this.#decide(request, false)
  }

  refund(request: StoreRefundRequest): StoreResult {
    this.#open()
    const results: number[] = []
    request.policies.forEach((policy, i) => {
      const key = `${policy.id}\n${request.keys[i]}`
      const out = outcome()
      policy.refund(this.#read(key, request.now), request.cost, request.chargedAt, request.now, out)
      this.#write(key, out, request.now)
      results.push(out.remaining, out.resetAt, 0)
    })
    return { allowed: true, now: request.now, results }
  }

  reset(request: StoreRequest): void {
    this.#open()
    request.policies.forEach((policy, i) => {
      this.#entries.delete(`${policy.id}\n${request.keys[i]}`)
    })
  }

  close(): void {
    this.#closed = true
    this.#entries.clear()
  }

  #decide(request: StoreRequest, charge: boolean): StoreResult {
    this.#open()
    const { policies, keys, cost, now } = request
    // Policy ids change when a policy's numbers change, so old state is never read by new rules.
    const storeKeys = policies.map((policy, i) => `${policy.id}\n${keys[i]}`)
    const states = storeKeys.map((key) => this.#read(key, now))
    const outs = policies.map((policy, i) => {
      const out = outcome()
      policy.step(states[i], cost, now, out)
      return out
    })
    const allowed = outs.every((out) => out.allowed)
    const results: number[] = []
    outs.forEach((out, i) => {
      if (charge && allowed && cost > 0) this.#write(storeKeys[i], out, now)
      // Not charged (denied, or a peek): admitting checks report their current state.
      else if (out.allowed && cost > 0) policies[i].step(states[i], 0, now, out)
      results.push(out.remaining, out.resetAt, out.allowed ? 0 : out.retryAfterMs)
    })
    return { allowed, now, results }
  }

  #read(key: string, now: number): PolicyState | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined || entry.expiresAt > now) return entry?.state
    this.#entries.delete(key)
    return undefined
  }

  #write(key: string, out: StepOutcome, now: number): void {
    // `state: undefined` means "fresh again": nothing to keep.
    if (out.state === undefined || out.ttlMs <= 0) this.#entries.delete(key)
    else this.#entries.set(key, { state: out.state, expiresAt: now + out.ttlMs })
  }

  #open(): void {
    if (this.#closed) throw new StoreError('ERR_RK_CLOSED', 'MapStore: used after close()')
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const limiter = createLimiter({
    store: new MapStore(),
    policies: [tokenBucket({ name: 'per-second', limit: 2, window: '1s' }), fixedWindow({ name: 'per-day', limit: 1000, window: '1d' })],
  })
  for (let i = 1; i <= 3; i++) {
    const d = await limiter.consume('user:1')
    console.log(`request ${i}: ${d.allowed ? 'allowed' : `denied, retry in ${d.retryAfterMs} ms`} (remaining ${d.remaining})`)
  }
  await limiter.close()
}
