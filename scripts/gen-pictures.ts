// Draws the algorithm pictures of docs/algorithms.md from the real implementation: each policy
// decides the same synthetic traffic (steady requests plus bursts) through `createLimiter` with
// an injected clock, and the admitted / rejected requests and the remaining allowance over time
// become a hand-written SVG. Deterministic: the same code always draws the same bytes, which
// test/docs/pictures.test.ts checks against the committed files.
//
//   node --import tsx scripts/gen-pictures.ts      writes docs/img/*.svg

import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createLimiter, fixedWindow, type Policy, slidingWindow, tokenBucket } from '../src/index.js'
import { drawLeasePictures } from './gen-lease-pictures.js'
import { drawMetricsPicture } from './gen-metrics-picture.js'
import { BLUE, esc, fmt, frame, GREEN, GREY, RED, stepPath } from './svg.js'

/** Start of the timeline: a whole minute, so fixed windows start at t = 0, 10 s, 20 s, … */
const T0 = Date.UTC(2025, 0, 1)
const DURATION_MS = 60_000
const LIMIT = 10
const WINDOW_MS = 10_000

/** The synthetic traffic, in ms from T0, sorted. */
export function timeline(): number[] {
  const times: number[] = []
  // Steady: one request every 2 s (half the allowed rate).
  for (let t = 500; t < DURATION_MS; t += 2_000) times.push(t)
  // A long burst across the fixed-window edge at 20 s: 10 requests/s for 4 s.
  for (let i = 0; i < 40; i++) times.push(18_000 + i * 100)
  // A short burst after a quiet spell: 12 requests in 1.2 s.
  for (let i = 0; i < 12; i++) times.push(44_000 + i * 100)
  return times.sort((a, b) => a - b)
}

export interface Picture {
  readonly file: string
  readonly title: string
  readonly code: string
  readonly policy: Policy
}

export const PICTURES: readonly Picture[] = [
  {
    file: 'token-bucket.svg',
    title: 'Token bucket',
    code: "tokenBucket({ limit: 10, window: '10s' })",
    policy: tokenBucket({ limit: LIMIT, window: '10s' }),
  },
  {
    file: 'sliding-window.svg',
    title: 'Sliding window',
    code: "slidingWindow({ limit: 10, window: '10s' })",
    policy: slidingWindow({ limit: LIMIT, window: '10s' }),
  },
  {
    file: 'fixed-window.svg',
    title: 'Fixed window',
    code: "fixedWindow({ limit: 10, window: '10s' })",
    policy: fixedWindow({ limit: LIMIT, window: '10s' }),
  },
]

export interface Simulation {
  /** Per request: ms from T0 and whether it was admitted. */
  readonly requests: readonly { readonly t: number; readonly allowed: boolean }[]
  /** `remaining` sampled every 100 ms (a peek, which charges nothing). */
  readonly remaining: readonly { readonly t: number; readonly remaining: number }[]
  readonly admitted: number
  readonly rejected: number
  /** The most requests admitted in any window-long span (10 s). */
  readonly maxInWindow: number
}

/** Runs the timeline through a limiter with the policy, on the memory store, with a fake clock. */
export async function simulate(policy: Policy): Promise<Simulation> {
  let now = T0
  const limiter = createLimiter({ policies: [policy], now: () => now })
  const requests: { t: number; allowed: boolean }[] = []
  const remaining: { t: number; remaining: number }[] = []
  const times = timeline()
  let next = 0
  for (let t = 0; t <= DURATION_MS; t += 100) {
    while (next < times.length && times[next] <= t) {
      now = T0 + times[next]
      const d = await limiter.consume('client')
      requests.push({ t: times[next], allowed: d.allowed })
      next++
    }
    now = T0 + t
    remaining.push({ t, remaining: (await limiter.peek('client')).remaining })
  }
  await limiter.close()
  const admittedTimes = requests.filter((r) => r.allowed).map((r) => r.t)
  let maxInWindow = 0
  for (let i = 0, j = 0; i < admittedTimes.length; i++) {
    while (admittedTimes[i] - admittedTimes[j] >= WINDOW_MS) j++
    maxInWindow = Math.max(maxInWindow, i - j + 1)
  }
  return {
    requests,
    remaining,
    admitted: admittedTimes.length,
    rejected: requests.length - admittedTimes.length,
    maxInWindow,
  }
}

// Layout (px).
const W = 920
const LEFT = 90
const RIGHT = 30
const PLOT_W = W - LEFT - RIGHT
const BARS_TOP = 70
const BARS_H = 120
const REM_TOP = 235
const REM_H = 100
const H = 420

const x = (ms: number) => LEFT + (ms / DURATION_MS) * PLOT_W

/** Renders one simulation as an SVG document. */
export function render(picture: Picture, sim: Simulation): string {
  const out: string[] = []
  const push = (s: string) => out.push(s)
  out.push(...frame(W, H, LEFT, picture.title, picture.code))

  // Window edges every 10 s; solid for the fixed window, whose count starts over there.
  const edgeStyle =
    picture.policy.kind === 'fixed-window' ? `stroke="${GREY}" stroke-width="1.2"` : 'stroke="#d9dce1" stroke-dasharray="3 3"'
  for (let t = 0; t <= DURATION_MS; t += WINDOW_MS) {
    push(`<line x1="${fmt(x(t))}" y1="${BARS_TOP - 6}" x2="${fmt(x(t))}" y2="${REM_TOP + REM_H}" ${edgeStyle}/>`)
  }

  // Requests per second: admitted (green, from the axis up) then rejected (red, on top).
  const bins = DURATION_MS / 1000
  const admitted = new Array<number>(bins).fill(0)
  const rejected = new Array<number>(bins).fill(0)
  for (const r of sim.requests) {
    const bin = Math.min(bins - 1, Math.floor(r.t / 1000))
    if (r.allowed) admitted[bin]++
    else rejected[bin]++
  }
  const barMax = 10
  const barY = (n: number) => BARS_TOP + BARS_H - (n / barMax) * BARS_H
  push(`<text x="${LEFT - 8}" y="${BARS_TOP - 10}" text-anchor="end" fill="${GREY}">req/s</text>`)
  for (const n of [0, 5, 10]) {
    push(`<text x="${LEFT - 8}" y="${fmt(barY(n) + 4)}" text-anchor="end" fill="${GREY}">${n}</text>`)
  }
  push(`<line x1="${LEFT}" y1="${BARS_TOP + BARS_H}" x2="${LEFT + PLOT_W}" y2="${BARS_TOP + BARS_H}" stroke="${GREY}"/>`)
  const bw = PLOT_W / bins
  for (let i = 0; i < bins; i++) {
    const bx = fmt(LEFT + i * bw + 1.5)
    const width = fmt(bw - 3)
    if (admitted[i] > 0) {
      push(
        `<rect x="${bx}" y="${fmt(barY(admitted[i]))}" width="${width}" height="${fmt((admitted[i] / barMax) * BARS_H)}" fill="${GREEN}"/>`,
      )
    }
    if (rejected[i] > 0) {
      const top = Math.min(barMax, admitted[i] + rejected[i])
      push(
        `<rect x="${bx}" y="${fmt(barY(top))}" width="${width}" height="${fmt(((top - admitted[i]) / barMax) * BARS_H)}" fill="${RED}"/>`,
      )
    }
  }
  // Legend.
  const lx = LEFT + PLOT_W - 330
  push(`<rect x="${lx}" y="${BARS_TOP - 14}" width="10" height="10" fill="${GREEN}"/>`)
  push(`<text x="${lx + 15}" y="${BARS_TOP - 5}" fill="#1d1f23">admitted (${sim.admitted})</text>`)
  push(`<rect x="${lx + 120}" y="${BARS_TOP - 14}" width="10" height="10" fill="${RED}"/>`)
  push(`<text x="${lx + 135}" y="${BARS_TOP - 5}" fill="#1d1f23">rejected (${sim.rejected})</text>`)
  push(`<line x1="${lx + 232}" y1="${BARS_TOP - 9}" x2="${lx + 246}" y2="${BARS_TOP - 9}" stroke="${BLUE}" stroke-width="2"/>`)
  push(`<text x="${lx + 251}" y="${BARS_TOP - 5}" fill="#1d1f23">remaining</text>`)

  // Remaining over time, as a step line.
  const remY = (n: number) => REM_TOP + REM_H - (n / LIMIT) * REM_H
  push(`<text x="${LEFT - 8}" y="${REM_TOP - 10}" text-anchor="end" fill="${GREY}">remaining</text>`)
  for (const n of [0, 5, 10]) {
    push(`<text x="${LEFT - 8}" y="${fmt(remY(n) + 4)}" text-anchor="end" fill="${GREY}">${n}</text>`)
    push(`<line x1="${LEFT}" y1="${fmt(remY(n))}" x2="${LEFT + PLOT_W}" y2="${fmt(remY(n))}" stroke="#eef0f3"/>`)
  }
  const path = stepPath(
    sim.remaining.map((s) => ({ t: s.t, v: s.remaining })),
    x,
    remY,
    DURATION_MS,
  )
  push(`<path d="${path}" fill="none" stroke="${BLUE}" stroke-width="2"/>`)
  push(`<line x1="${LEFT}" y1="${REM_TOP + REM_H}" x2="${LEFT + PLOT_W}" y2="${REM_TOP + REM_H}" stroke="${GREY}"/>`)

  // Time axis.
  for (let t = 0; t <= DURATION_MS; t += WINDOW_MS) {
    push(`<text x="${fmt(x(t))}" y="${REM_TOP + REM_H + 18}" text-anchor="middle" fill="${GREY}">${t / 1000} s</text>`)
  }

  // Caption: what the traffic was and what came of it.
  const verdict =
    picture.policy.kind === 'fixed-window'
      ? `${sim.maxInWindow} admitted within one 10 s span, because the count starts over at each window edge (up to 2 × limit).`
      : picture.policy.kind === 'token-bucket'
        ? `${sim.maxInWindow} admitted within one 10 s span: a full bucket (burst ${picture.policy.burst}) at once, then the refill of 1 per second.`
        : `At most ${sim.maxInWindow} admitted in any 10 s span, edges or not.`
  push(
    `<text x="${LEFT}" y="${H - 34}" fill="#1d1f23">Traffic: 1 request every 2 s, plus 40 at 10/s from 18 s (across the edge at 20 s) and 12 at 10/s from 44 s.</text>`,
  )
  push(`<text x="${LEFT}" y="${H - 14}" fill="#1d1f23">${esc(verdict)}</text>`)
  push('</svg>')
  return `${out.join('\n')}\n`
}

/** Every picture: file name → SVG text. */
export async function drawAll(): Promise<Map<string, string>> {
  const files = new Map<string, string>()
  for (const picture of PICTURES) files.set(picture.file, render(picture, await simulate(picture.policy)))
  for (const [file, svg] of await drawLeasePictures()) files.set(file, svg)
  const [file, svg] = await drawMetricsPicture()
  files.set(file, svg)
  return files
}

export const IMG_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'img')

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  mkdirSync(IMG_DIR, { recursive: true })
  for (const [file, svg] of await drawAll()) {
    writeFileSync(join(IMG_DIR, file), svg)
    console.log(`wrote docs/img/${file}`)
  }
}
