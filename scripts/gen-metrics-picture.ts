// Draws docs/img/metrics-dashboard.svg for docs/observability.md from a real run: the demo API
// (examples/demo.ts) on the memory store, in process on a loopback socket, with an injected
// clock. For 60 simulated seconds a secret key reads steadily, two team keys read and write, and
// from 10 s a public key sends 10 requests a second, past its 100/min (burst 150) bucket. The
// demo's prom-client registry is scraped every 5 s, and the rates between scrapes become three
// Grafana-style panels, drawn as hand-written SVG. Deterministic: requests are sent one after the
// other at fixed simulated times, so the same code draws the same bytes (test/docs/pictures.test.ts).
//
//   npm run docs:pictures      writes docs/img/*.svg, this picture included

import type { AddressInfo } from 'node:net'
import { Registry } from 'prom-client'
import { createDemo } from '../examples/demo.js'
import { type PromText, parsePromText } from './prom-text.js'
import { BLUE, esc, FAINT, fmt, frame, GREEN, GREY, INK, RED } from './svg.js'

export const METRICS_PICTURE = { file: 'metrics-dashboard.svg', durationS: 60, scrapeEveryS: 5, limitedFromS: 10 } as const

/** Who sends what, per simulated second. */
const CLIENTS: readonly { key: string; method: string; path: string; perSecond: number; fromS: number }[] = [
  { key: 'sk_test_demo', method: 'GET', path: '/v1/listings', perSecond: 6, fromS: 0 },
  { key: 'sk_test_acme_server', method: 'GET', path: '/v1/listings', perSecond: 3, fromS: 0 },
  { key: 'sk_test_acme_batch', method: 'POST', path: '/v1/listings', perSecond: 2, fromS: 0 },
  { key: 'pk_test_demo', method: 'GET', path: '/v1/listings', perSecond: 10, fromS: METRICS_PICTURE.limitedFromS },
]

/** One scrape interval: what happened in it, read from the counters' increase. */
export interface MetricsSample {
  /** End of the interval, s from the start. */
  readonly t: number
  /** Decisions per second of the key limits (tier set), by outcome. */
  readonly allowedPerS: number
  readonly limitedPerS: number
  /** Limited ÷ all decisions, per tier, in the interval (0 when the tier sent nothing). */
  readonly limitedShare: Readonly<Record<string, number>>
  /** Share of the tier's decisions that left at most 10% of its per-minute bucket. */
  readonly nearLimitShare: Readonly<Record<string, number>>
}

export interface MetricsRun {
  readonly samples: readonly MetricsSample[]
  /** HTTP statuses of the public key's requests: how many 200 and 429. */
  readonly publicKey: { readonly ok: number; readonly limited: number }
  /** The last scrape's text. */
  readonly lastScrape: string
}

const TIERS = ['secret_key', 'public_key'] as const

const sum = (m: PromText, name: string, labels: Record<string, string>) => m.find(name, labels).reduce((s, x) => s + x.value, 0)

/** Runs the demo under the load above and scrapes its registry every few seconds. */
export async function simulateMetrics(): Promise<MetricsRun> {
  const T0 = Date.UTC(2026, 5, 23, 12, 0, 0)
  let now = T0
  const registry = new Registry()
  const demo = createDemo({ now: () => now, log: () => {}, metrics: registry })
  const server = demo.app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const publicKey = { ok: 0, limited: 0 }
  const samples: MetricsSample[] = []
  let previous = parsePromText(await registry.metrics())
  let lastScrape = ''
  try {
    for (let s = 0; s < METRICS_PICTURE.durationS; s++) {
      for (const client of CLIENTS) {
        if (s < client.fromS) continue
        for (let i = 0; i < client.perSecond; i++) {
          // Requests spread over the second, in a fixed order.
          now = T0 + s * 1000 + Math.floor((i * 1000) / client.perSecond)
          const res = await fetch(base + client.path, { method: client.method, headers: { authorization: `Bearer ${client.key}` } })
          await res.arrayBuffer()
          if (client.key === 'pk_test_demo') publicKey[res.status === 429 ? 'limited' : 'ok']++
        }
      }
      if ((s + 1) % METRICS_PICTURE.scrapeEveryS !== 0) continue
      lastScrape = await registry.metrics()
      const current = parsePromText(lastScrape)
      samples.push(sampleBetween(previous, current, s + 1))
      previous = current
    }
  } finally {
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
    await demo.close()
  }
  return { samples, publicKey, lastScrape }
}

function sampleBetween(before: PromText, after: PromText, t: number): MetricsSample {
  const every = METRICS_PICTURE.scrapeEveryS
  const delta = (name: string, labels: Record<string, string>) => sum(after, name, labels) - sum(before, name, labels)
  let allowed = 0
  let limited = 0
  const limitedShare: Record<string, number> = {}
  const nearLimitShare: Record<string, number> = {}
  for (const tier of TIERS) {
    const a = delta('ratekeeper_decisions_total', { tier, outcome: 'allowed' })
    const l = delta('ratekeeper_decisions_total', { tier, outcome: 'limited' })
    allowed += a
    limited += l
    limitedShare[tier] = a + l === 0 ? 0 : l / (a + l)
    const observed = delta('ratekeeper_remaining_ratio_count', { tier, policy: 'per-minute' })
    const near = delta('ratekeeper_remaining_ratio_bucket', { tier, policy: 'per-minute', le: '0.1' })
    nearLimitShare[tier] = observed === 0 ? 0 : near / observed
  }
  return { t, allowedPerS: allowed / every, limitedPerS: limited / every, limitedShare, nearLimitShare }
}

// Layout (px): three panels, one above the other, Grafana-like (a title, a grid, lines).
const W = 920
const LEFT = 80
const RIGHT = 170
const PLOT_W = W - LEFT - RIGHT
const PANEL_H = 120
const PANEL_GAP = 58
const TOP = 86
const H = TOP + 3 * PANEL_H + 2 * PANEL_GAP + 84
const TIER_COLOUR: Readonly<Record<string, string>> = { secret_key: BLUE, public_key: RED }

const x = (t: number) => LEFT + (t / METRICS_PICTURE.durationS) * PLOT_W

/** One panel: title, grid, y ticks, a line per series (points at each scrape). */
function panel(
  top: number,
  title: string,
  max: number,
  ticks: readonly number[],
  tickLabel: (v: number) => string,
  series: readonly { name: string; colour: string; points: readonly { t: number; v: number }[] }[],
  threshold?: { v: number; label: string },
): string[] {
  const y = (v: number) => top + PANEL_H - (Math.min(v, max) / max) * PANEL_H
  const out = [
    `<rect x="${LEFT - 64}" y="${top - 30}" width="${W - LEFT + 56}" height="${PANEL_H + 52}" fill="#fbfbfc" stroke="${FAINT}"/>`,
    `<text x="${LEFT - 56}" y="${top - 12}" font-weight="600" fill="${INK}">${esc(title)}</text>`,
  ]
  for (const v of ticks) {
    out.push(`<line x1="${LEFT}" y1="${fmt(y(v))}" x2="${LEFT + PLOT_W}" y2="${fmt(y(v))}" stroke="${FAINT}"/>`)
    out.push(`<text x="${LEFT - 8}" y="${fmt(y(v) + 4)}" text-anchor="end" fill="${GREY}">${esc(tickLabel(v))}</text>`)
  }
  out.push(`<line x1="${LEFT}" y1="${top + PANEL_H}" x2="${LEFT + PLOT_W}" y2="${top + PANEL_H}" stroke="${GREY}"/>`)
  if (threshold !== undefined) {
    out.push(
      `<line x1="${LEFT}" y1="${fmt(y(threshold.v))}" x2="${LEFT + PLOT_W}" y2="${fmt(y(threshold.v))}" stroke="#e0a030" stroke-dasharray="6 4"/>`,
    )
    out.push(
      `<text x="${LEFT + PLOT_W - 4}" y="${fmt(y(threshold.v) - 5)}" text-anchor="end" fill="#b07a10">${esc(threshold.label)}</text>`,
    )
  }
  for (const [i, s] of series.entries()) {
    const d = s.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${fmt(x(p.t))} ${fmt(y(p.v))}`).join('')
    out.push(`<path d="${d}" fill="none" stroke="${s.colour}" stroke-width="2"/>`)
    for (const p of s.points) out.push(`<circle cx="${fmt(x(p.t))}" cy="${fmt(y(p.v))}" r="2.5" fill="${s.colour}"/>`)
    const ly = top + 8 + i * 18
    out.push(`<line x1="${LEFT + PLOT_W + 16}" y1="${ly}" x2="${LEFT + PLOT_W + 32}" y2="${ly}" stroke="${s.colour}" stroke-width="2"/>`)
    out.push(`<text x="${LEFT + PLOT_W + 37}" y="${ly + 4}" fill="${INK}">${esc(s.name)}</text>`)
  }
  return out
}

/** The dashboard picture of a run. */
export function renderMetrics(run: MetricsRun): string {
  const { samples } = run
  const out = frame(
    W,
    H,
    LEFT - 56,
    'ratekeeper metrics: the demo API under load',
    'prometheusMetrics(limiter, { registry }) · scraped every 5 s · public key sends 10 req/s from 10 s',
  )
  const pts = (f: (s: MetricsSample) => number) => samples.map((s) => ({ t: s.t, v: f(s) }))
  const maxRate = Math.max(...samples.map((s) => s.allowedPerS + s.limitedPerS))
  const rateMax = Math.ceil(maxRate / 5) * 5
  out.push(
    ...panel(
      TOP,
      'Decisions / s by outcome — rate(ratekeeper_decisions_total{tier!=""}[5s])',
      rateMax,
      [0, rateMax / 2, rateMax],
      (v) => fmt(v),
      [
        { name: 'allowed', colour: GREEN, points: pts((s) => s.allowedPerS) },
        { name: 'limited', colour: RED, points: pts((s) => s.limitedPerS) },
      ],
    ),
  )
  const pct = (v: number) => `${Math.round(v * 100)}%`
  const top2 = TOP + PANEL_H + PANEL_GAP
  out.push(
    ...panel(
      top2,
      'Limited share of traffic, by tier — alert above 5% for 10 min',
      1,
      [0, 0.5, 1],
      pct,
      TIERS.map((tier) => ({ name: tier, colour: TIER_COLOUR[tier], points: pts((s) => s.limitedShare[tier]) })),
      { v: 0.05, label: 'alert: 5%' },
    ),
  )
  const top3 = top2 + PANEL_H + PANEL_GAP
  out.push(
    ...panel(
      top3,
      'Decisions leaving ≤ 10% of the per-minute bucket, by tier — remaining_ratio_bucket{le="0.1"} ÷ _count',
      1,
      [0, 0.5, 1],
      pct,
      TIERS.map((tier) => ({ name: tier, colour: TIER_COLOUR[tier], points: pts((s) => s.nearLimitShare[tier]) })),
    ),
  )
  for (let t = 0; t <= METRICS_PICTURE.durationS; t += 10) {
    out.push(`<text x="${fmt(x(t))}" y="${top3 + PANEL_H + 16}" text-anchor="middle" fill="${GREY}">${t} s</text>`)
  }
  const { ok, limited } = run.publicKey
  const caption = [
    `The public key (pk_, 100/min, burst 150) spends its burst, then gets about 1.7 req/s through: ${ok} answered, ${limited} limited (429).`,
    'The secret key and the team keys are never limited. Their tier line stays at 0%.',
  ]
  for (const [i, line] of caption.entries()) out.push(`<text x="${LEFT - 56}" y="${H - 30 + i * 18}" fill="${INK}">${esc(line)}</text>`)
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

/** The picture: file name and SVG text. */
export async function drawMetricsPicture(): Promise<[string, string]> {
  return [METRICS_PICTURE.file, renderMetrics(await simulateMetrics())]
}
