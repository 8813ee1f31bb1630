// Draws the pictures of docs/concurrency-and-costs.md from the real implementation, like
// scripts/gen-pictures.ts (which writes them with the algorithm pictures): a concurrency limit
// (leases taken, released, one crashed holder whose lease expires after leaseMs) and
// reserve-then-settle on a token bucket (refunds of the unused estimate, a debt from an actual
// cost above it). Each drives `createLimiter` on the memory store with an injected clock and
// samples the state with peeks. Deterministic; test/docs/pictures.test.ts checks the files.

import { concurrency, createLimiter, type Decision, type Limiter, type Policy, tokenBucket } from '../src/index.js'
import { BLUE, esc, FAINT, fmt, frame, GREEN, GREY, INK, RED, stepPath } from './svg.js'

const T0 = Date.UTC(2025, 0, 1)
const SAMPLE_MS = 100

// ---------------------------------------------------------------------------------------------
// Concurrency

export const CONCURRENCY = {
  file: 'concurrency.svg',
  title: 'Concurrency limit',
  code: "concurrency({ name: 'in-flight', limit: 3, leaseMs: '10s', retryAfter: '1s' })",
  limit: 3,
  leaseMs: 10_000,
  durationMs: 24_000,
} as const

/** One request of the concurrency picture: arrives at `at` (ms), works `ms`, or crashes after `ms` (never releases). */
interface Work {
  readonly name: string
  readonly at: number
  readonly ms: number
  readonly crash?: true
}

/** The traffic: three long requests fill the limit, one of them crashes; later arrivals find slots as leases end. */
export const WORK: readonly Work[] = [
  { name: 'A', at: 1_000, ms: 6_000 },
  { name: 'B', at: 2_000, ms: 2_000, crash: true },
  { name: 'C', at: 3_000, ms: 4_000 },
  { name: 'D', at: 4_000, ms: 3_000 },
  { name: 'E', at: 5_500, ms: 3_000 },
  { name: 'F', at: 7_500, ms: 5_000 },
  { name: 'G', at: 8_000, ms: 3_000 },
  { name: 'H', at: 9_000, ms: 3_000 },
  { name: 'I', at: 11_500, ms: 6_000 },
  { name: 'J', at: 11_800, ms: 4_000 },
  { name: 'K', at: 12_200, ms: 4_000 },
  { name: 'L', at: 14_000, ms: 3_000 },
  { name: 'M', at: 17_500, ms: 3_000 },
]

export interface ConcurrencySimulation {
  /** Per request: whether admitted, its retry hint when denied, and when its lease ended (released or expired). */
  readonly requests: readonly {
    readonly name: string
    readonly at: number
    readonly allowed: boolean
    readonly retryAfterMs: number
    readonly workEnd: number
    readonly leaseEnd: number
    readonly crash: boolean
  }[]
  /** In flight (limit − remaining of a peek) every 100 ms. */
  readonly inFlight: readonly { readonly t: number; readonly v: number }[]
}

/** Runs WORK through a limiter with the concurrency policy; releases at each request's end, except the crashed one's. */
export async function simulateConcurrency(): Promise<ConcurrencySimulation> {
  let now = T0
  const { limit, leaseMs, durationMs } = CONCURRENCY
  const limiter = createLimiter({ policies: [concurrency({ name: 'in-flight', limit, leaseMs, retryAfter: '1s' })], now: () => now })
  const requests: {
    name: string
    at: number
    allowed: boolean
    retryAfterMs: number
    workEnd: number
    leaseEnd: number
    crash: boolean
  }[] = []
  const running: { end: number; decision: Decision }[] = []
  const inFlight: { t: number; v: number }[] = []
  let next = 0
  for (let t = 0; t <= durationMs; t += SAMPLE_MS) {
    now = T0 + t
    // Responses that ended by now give their slot back (a crashed holder never does).
    for (let i = running.length - 1; i >= 0; i--) {
      if (running[i].end <= t) {
        await limiter.release(running[i].decision)
        running.splice(i, 1)
      }
    }
    while (next < WORK.length && WORK[next].at <= t) {
      const w = WORK[next++]
      const d = await limiter.consume('client')
      const workEnd = w.at + w.ms
      requests.push({
        name: w.name,
        at: w.at,
        allowed: d.allowed,
        retryAfterMs: d.retryAfterMs,
        workEnd,
        leaseEnd: w.crash === true ? w.at + leaseMs : workEnd,
        crash: w.crash === true,
      })
      if (d.allowed && w.crash !== true) running.push({ end: workEnd, decision: d })
    }
    inFlight.push({ t, v: limit - (await limiter.peek('client')).remaining })
  }
  await limiter.close()
  return { requests, inFlight }
}

// Layout (px), shared by both pictures.
const W = 920
const LEFT = 90
const RIGHT = 30
const PLOT_W = W - LEFT - RIGHT

/** Renders the concurrency simulation: a lane per slot, the denied requests, in flight over time. */
export function renderConcurrency(sim: ConcurrencySimulation): string {
  const { limit, leaseMs, durationMs } = CONCURRENCY
  const x = (ms: number) => LEFT + (ms / durationMs) * PLOT_W
  const LANE_TOP = 78
  const LANE_H = 26
  const DENIED_Y = LANE_TOP + limit * LANE_H + 22
  const FLIGHT_TOP = DENIED_Y + 62
  const FLIGHT_H = 90
  const H = FLIGHT_TOP + FLIGHT_H + 80
  const out = frame(W, H, LEFT, CONCURRENCY.title, CONCURRENCY.code)
  const push = (s: string) => out.push(s)

  // Seconds grid.
  for (let t = 0; t <= durationMs; t += 2_000) {
    push(
      `<line x1="${fmt(x(t))}" y1="${LANE_TOP - 6}" x2="${fmt(x(t))}" y2="${FLIGHT_TOP + FLIGHT_H}" stroke="#d9dce1" stroke-dasharray="3 3"/>`,
    )
    push(`<text x="${fmt(x(t))}" y="${FLIGHT_TOP + FLIGHT_H + 18}" text-anchor="middle" fill="${GREY}">${t / 1000} s</text>`)
  }

  // Admitted requests, each in a free lane (a slot) from admission to the end of its lease.
  push(`<text x="${LEFT - 8}" y="${LANE_TOP - 10}" text-anchor="end" fill="${GREY}">slots</text>`)
  const laneFree = new Array<number>(limit).fill(0)
  for (const r of sim.requests) {
    if (!r.allowed) continue
    let lane = laneFree.findIndex((end) => end <= r.at)
    if (lane < 0) lane = 0
    laneFree[lane] = r.leaseEnd
    const y = LANE_TOP + lane * LANE_H
    const working = Math.min(r.workEnd, r.leaseEnd)
    push(`<rect x="${fmt(x(r.at))}" y="${y}" width="${fmt(x(working) - x(r.at))}" height="${LANE_H - 6}" fill="${GREEN}"/>`)
    push(`<text x="${fmt(x(r.at) + 5)}" y="${y + 14}" fill="#ffffff" font-weight="600">${esc(r.name)}</text>`)
    if (r.crash) {
      // The process died: nobody works, nobody releases; the lease holds the slot until it expires.
      push(
        `<rect x="${fmt(x(working))}" y="${y}" width="${fmt(x(r.leaseEnd) - x(working))}" height="${LANE_H - 6}" fill="#ffffff" stroke="${RED}" stroke-dasharray="4 3"/>`,
      )
      push(`<text x="${fmt(x(working) + 6)}" y="${y + 14}" fill="${RED}">crashed: its lease holds the slot ${leaseMs / 1000} s</text>`)
    }
  }
  for (let lane = 0; lane < limit; lane++) {
    push(`<text x="${LEFT - 8}" y="${LANE_TOP + lane * LANE_H + 14}" text-anchor="end" fill="${GREY}">${lane + 1}</text>`)
  }

  // Denied requests, with the wait their denial suggests.
  push(`<text x="${LEFT - 8}" y="${DENIED_Y + 4}" text-anchor="end" fill="${GREY}">denied</text>`)
  for (const r of sim.requests) {
    if (r.allowed) continue
    const cx = x(r.at)
    push(`<circle cx="${fmt(cx)}" cy="${DENIED_Y}" r="6" fill="${RED}"/>`)
    push(
      `<text x="${fmt(cx)}" y="${DENIED_Y + 20}" text-anchor="middle" fill="${INK}">${esc(r.name)} ${fmt(r.retryAfterMs / 1000)} s</text>`,
    )
  }

  // In flight over time, against the limit.
  const fy = (n: number) => FLIGHT_TOP + FLIGHT_H - (n / (limit + 1)) * FLIGHT_H
  push(`<text x="${LEFT - 8}" y="${FLIGHT_TOP - 10}" text-anchor="end" fill="${GREY}">in flight</text>`)
  for (let n = 0; n <= limit; n++) {
    push(`<text x="${LEFT - 8}" y="${fmt(fy(n) + 4)}" text-anchor="end" fill="${GREY}">${n}</text>`)
    push(`<line x1="${LEFT}" y1="${fmt(fy(n))}" x2="${LEFT + PLOT_W}" y2="${fmt(fy(n))}" stroke="${FAINT}"/>`)
  }
  push(`<line x1="${LEFT}" y1="${fmt(fy(limit))}" x2="${LEFT + PLOT_W}" y2="${fmt(fy(limit))}" stroke="${RED}" stroke-dasharray="6 4"/>`)
  push(`<text x="${LEFT + PLOT_W}" y="${fmt(fy(limit) - 5)}" text-anchor="end" fill="${RED}">limit ${limit}</text>`)
  push(`<path d="${stepPath(sim.inFlight, x, fy, durationMs)}" fill="none" stroke="${BLUE}" stroke-width="2"/>`)
  push(`<line x1="${LEFT}" y1="${FLIGHT_TOP + FLIGHT_H}" x2="${LEFT + PLOT_W}" y2="${FLIGHT_TOP + FLIGHT_H}" stroke="${GREY}"/>`)

  const admitted = sim.requests.filter((r) => r.allowed).length
  const denied = sim.requests.length - admitted
  push(
    `<text x="${LEFT}" y="${H - 34}" fill="${INK}">${admitted} admitted, ${denied} denied (with the wait suggested: at most retryAfter, or until the earliest lease expires).</text>`,
  )
  push(
    `<text x="${LEFT}" y="${H - 14}" fill="${INK}">In flight never exceeds ${limit}. A slot comes back when a response ends (release), or ${leaseMs / 1000} s after admission if its process died.</text>`,
  )
  push('</svg>')
  return `${out.join('\n')}\n`
}

// ---------------------------------------------------------------------------------------------
// Reserve then settle

export const SETTLE = {
  file: 'reserve-then-settle.svg',
  title: 'Reserve, then settle',
  code: "tokenBucket({ name: 'tokens', limit: 100, window: '20s' })   // 5 tokens a second, 100 at most",
  limit: 100,
  msPerToken: 200,
  durationMs: 40_000,
} as const

/** One reservation: `estimate` charged at `at`, settled at `settleAt` with `actual` (`undefined`: the client hung up). */
interface Reservation {
  readonly name: string
  readonly at: number
  readonly estimate: number
  readonly settleAt: number
  readonly actual: number | undefined
}

export const RESERVATIONS: readonly Reservation[] = [
  { name: '1', at: 2_000, estimate: 60, settleAt: 5_000, actual: 20 },
  { name: '2', at: 8_000, estimate: 60, settleAt: 11_500, actual: 60 },
  { name: '3', at: 11_000, estimate: 30, settleAt: 15_500, actual: 90 },
  { name: '4', at: 17_000, estimate: 30, settleAt: 20_000, actual: 30 },
  { name: '5', at: 28_000, estimate: 40, settleAt: 31_000, actual: 10 },
  { name: '6', at: 34_000, estimate: 40, settleAt: 37_000, actual: undefined },
]

export interface SettleSimulation {
  readonly events: readonly {
    readonly name: string
    readonly t: number
    readonly kind: 'reserved' | 'denied' | 'refunded' | 'charged' | 'exact' | 'hung-up'
    /** Tokens: the estimate reserved, the unused part the settle gave back, or the extra charged. */
    readonly tokens: number
    /** What the settle actually changed, measured with peeks around it (refill left out). */
    readonly measured: number
    readonly retryAfterMs: number
  }[]
  /**
   * The bucket's balance every 100 ms: `remaining` of a peek when something is left, else what a
   * cost-1 peek's wait says is owed (negative in debt) — `remaining` itself shows 0 there.
   */
  readonly balance: readonly { readonly t: number; readonly v: number; readonly remaining: number }[]
  /** Sum of the actual costs (a hung-up request at its estimate). */
  readonly actualTotal: number
}

/**
 * The bucket's level: `remaining` of a peek when something is left, else what a cost-1 peek's
 * wait says is owed (negative in debt; a token refills every msPerToken) — `remaining` shows 0 there.
 */
async function level(limiter: Limiter): Promise<number> {
  const peek = await limiter.peek('client')
  return peek.allowed ? peek.remaining : 1 - peek.retryAfterMs / SETTLE.msPerToken
}

/** Runs RESERVATIONS through a limiter with the token bucket: consume the estimate, settle the actual. */
export async function simulateSettle(
  policy: Policy = tokenBucket({ name: 'tokens', limit: SETTLE.limit, window: '20s' }),
): Promise<SettleSimulation> {
  let now = T0
  const limiter = createLimiter({ policies: [policy], now: () => now })
  const events: SettleSimulation['events'][number][] = []
  const balance: { t: number; v: number; remaining: number }[] = []
  const open: { r: Reservation; decision: Decision }[] = []
  let actualTotal = 0
  let next = 0
  for (let t = 0; t <= SETTLE.durationMs; t += SAMPLE_MS) {
    now = T0 + t
    for (let i = 0; i < open.length; i++) {
      const { r, decision } = open[i]
      if (r.settleAt > t) continue
      open.splice(i--, 1)
      // A client that hung up is settled at its estimate: there is no actual cost to go on.
      const actual = r.actual ?? decision.cost
      const before = await level(limiter)
      await limiter.settle(decision, actual)
      const measured = Math.round((await level(limiter)) - before)
      actualTotal += actual
      const diff = actual - decision.cost
      events.push({
        name: r.name,
        t,
        kind: r.actual === undefined ? 'hung-up' : diff < 0 ? 'refunded' : diff > 0 ? 'charged' : 'exact',
        tokens: Math.abs(diff),
        measured: Math.abs(measured),
        retryAfterMs: 0,
      })
    }
    while (next < RESERVATIONS.length && RESERVATIONS[next].at <= t) {
      const r = RESERVATIONS[next++]
      const d = await limiter.consume('client', { cost: r.estimate })
      events.push({
        name: r.name,
        t,
        kind: d.allowed ? 'reserved' : 'denied',
        tokens: r.estimate,
        measured: 0,
        retryAfterMs: d.retryAfterMs,
      })
      if (d.allowed) open.push({ r, decision: d })
    }
    const peek = await limiter.peek('client')
    balance.push({ t, v: await level(limiter), remaining: peek.remaining })
  }
  await limiter.close()
  return { events, balance, actualTotal }
}

/** Renders the settle simulation: events on top, the balance (with its debt below 0) underneath. */
export function renderSettle(sim: SettleSimulation): string {
  const { limit, durationMs } = SETTLE
  const x = (ms: number) => LEFT + (ms / durationMs) * PLOT_W
  const EVENTS_TOP = 74
  const BAL_TOP = EVENTS_TOP + 120
  const BAL_H = 180
  const low = Math.min(0, ...sim.balance.map((s) => s.v))
  const floor = Math.floor(low / 50) * 50
  const H = BAL_TOP + BAL_H + 80
  const by = (v: number) => BAL_TOP + ((limit - v) / (limit - floor)) * BAL_H
  const out = frame(W, H, LEFT, SETTLE.title, SETTLE.code)
  const push = (s: string) => out.push(s)

  for (let t = 0; t <= durationMs; t += 5_000) {
    push(
      `<line x1="${fmt(x(t))}" y1="${EVENTS_TOP - 6}" x2="${fmt(x(t))}" y2="${BAL_TOP + BAL_H}" stroke="#d9dce1" stroke-dasharray="3 3"/>`,
    )
    push(`<text x="${fmt(x(t))}" y="${BAL_TOP + BAL_H + 18}" text-anchor="middle" fill="${GREY}">${t / 1000} s</text>`)
  }

  // Events: reservations and denials on the first row, settles on the second.
  const label: Record<SettleSimulation['events'][number]['kind'], (tokens: number) => string> = {
    reserved: (n) => `−${n}`,
    denied: () => 'denied',
    refunded: (n) => `+${n} back`,
    charged: (n) => `−${n} extra`,
    exact: () => 'exact',
    'hung-up': () => 'hung up: kept',
  }
  const colour = { reserved: BLUE, denied: RED, refunded: GREEN, charged: RED, exact: GREY, 'hung-up': GREY } as const
  push(`<text x="${LEFT - 8}" y="${EVENTS_TOP + 4}" text-anchor="end" fill="${GREY}">reserve</text>`)
  push(`<text x="${LEFT - 8}" y="${EVENTS_TOP + 48}" text-anchor="end" fill="${GREY}">settle</text>`)
  let settles = 0
  for (const e of sim.events) {
    const reserving = e.kind === 'reserved' || e.kind === 'denied'
    const row = reserving ? EVENTS_TOP : EVENTS_TOP + 44
    // Labels under their dot; settle labels alternate between two lines so that neighbours never overlap.
    const dy = reserving || settles++ % 2 === 0 ? 18 : 34
    const cx = x(e.t)
    push(`<circle cx="${fmt(cx)}" cy="${row}" r="5" fill="${colour[e.kind]}"/>`)
    let text = `#${e.name} ${label[e.kind](e.tokens)}`
    // What the bucket really got back, when less than the unused part (see the guide: refill since the reservation).
    if (e.kind === 'refunded' && e.measured !== e.tokens) text = `#${e.name} +${e.measured} (${e.tokens} unused)`
    const anchor = cx > LEFT + PLOT_W - 60 ? 'end' : 'middle'
    push(`<text x="${fmt(cx)}" y="${row + dy}" text-anchor="${anchor}" fill="${INK}">${esc(text)}</text>`)
  }

  // The balance: above 0 what `remaining` says; below 0 the debt (remaining shows 0 there).
  push(`<text x="${LEFT - 8}" y="${BAL_TOP - 10}" text-anchor="end" fill="${GREY}">tokens</text>`)
  for (let v = floor; v <= limit; v += 50) {
    push(`<text x="${LEFT - 8}" y="${fmt(by(v) + 4)}" text-anchor="end" fill="${GREY}">${v}</text>`)
    push(`<line x1="${LEFT}" y1="${fmt(by(v))}" x2="${LEFT + PLOT_W}" y2="${fmt(by(v))}" stroke="${v === 0 ? GREY : FAINT}"/>`)
  }
  // Debt shaded: the area between 0 and the balance while it is below.
  let area = ''
  for (let i = 0; i < sim.balance.length; i++) {
    const s = sim.balance[i]
    if (s.v >= 0) continue
    const x0 = x(s.t)
    const x1 = x(Math.min(durationMs, s.t + SAMPLE_MS))
    area += `M${fmt(x0)} ${fmt(by(0))}V${fmt(by(s.v))}H${fmt(x1)}V${fmt(by(0))}Z`
  }
  if (area !== '') push(`<path d="${area}" fill="${RED}" fill-opacity="0.18"/>`)
  const line = stepPath(
    sim.balance.map((s) => ({ t: s.t, v: Math.round(s.v) })),
    x,
    by,
    durationMs,
  )
  push(`<path d="${line}" fill="none" stroke="${BLUE}" stroke-width="2"/>`)
  const deepest = sim.balance.reduce((a, b) => (b.v < a.v ? b : a))
  if (deepest.v < 0) {
    push(
      `<text x="${fmt(x(deepest.t) + 8)}" y="${fmt(by(deepest.v) + 14)}" fill="${RED}">debt of ${Math.round(-deepest.v)}: remaining shows 0, requests wait until it is repaid</text>`,
    )
  }

  push(
    `<text x="${LEFT}" y="${H - 34}" fill="${INK}">Each request reserves an estimate; settling gives back what it did not use, or charges what it used beyond, past the limit if need be.</text>`,
  )
  push(
    `<text x="${LEFT}" y="${H - 14}" fill="${INK}">Below 0 the bucket is in debt: remaining shows 0 and requests wait until refill has repaid it. A client that hung up keeps its estimate.</text>`,
  )
  push('</svg>')
  return `${out.join('\n')}\n`
}

/** Both pictures: file name → SVG text. */
export async function drawLeasePictures(): Promise<Map<string, string>> {
  return new Map([
    [CONCURRENCY.file, renderConcurrency(await simulateConcurrency())],
    [SETTLE.file, renderSettle(await simulateSettle())],
  ])
}
