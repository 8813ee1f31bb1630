// A strict reader of the Prometheus text exposition format (0.0.4), for the tests and the
// metrics picture (scripts/gen-metrics-picture.ts): every line is
// a comment (# HELP / # TYPE), blank, or a sample `name{label="value",…} value`; anything else
// fails the test. Samples are returned with their family's TYPE.

export interface PromSample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface PromText {
  readonly types: ReadonlyMap<string, string>
  readonly samples: readonly PromSample[]
  /** The value of the one sample with this name whose labels include `labels`; 0 when there is none. */
  value(name: string, labels?: Record<string, string>): number
  /** Every sample with this name whose labels include `labels`. */
  find(name: string, labels?: Record<string, string>): PromSample[]
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)$`)
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(?:,|$)/

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {}
  let rest = text
  while (rest.length > 0) {
    const m = LABEL.exec(rest)
    if (m === null) throw new Error(`bad labels in: ${line}`)
    labels[m[1]] = m[2].replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1')
    rest = rest.slice(m[0].length)
  }
  return labels
}

function parseValue(text: string, line: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY
  if (text === '-Inf') return Number.NEGATIVE_INFINITY
  if (text === 'NaN') return Number.NaN
  const n = Number(text)
  if (text.length === 0 || Number.isNaN(n)) throw new Error(`bad value in: ${line}`)
  return n
}

const includes = (labels: Readonly<Record<string, string>>, want: Record<string, string>) =>
  Object.entries(want).every(([k, v]) => labels[k] === v)

export function parsePromText(text: string): PromText {
  const types = new Map<string, string>()
  const samples: PromSample[] = []
  for (const line of text.split('\n')) {
    if (line === '') continue
    if (line.startsWith('#')) {
      const m = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line)
      if (m === null) throw new Error(`bad comment line: ${line}`)
      if (m[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3])) throw new Error(`bad type: ${line}`)
        types.set(m[2], m[3])
      }
      continue
    }
    const m = SAMPLE.exec(line)
    if (m === null) throw new Error(`bad sample line: ${line}`)
    const family = m[1].replace(/_(bucket|sum|count)$/, '')
    if (!types.has(m[1]) && !types.has(family)) throw new Error(`sample before its TYPE: ${line}`)
    samples.push({ name: m[1], labels: parseLabels(m[2] ?? '', line), value: parseValue(m[3], line) })
  }
  const find = (name: string, labels: Record<string, string> = {}) => samples.filter((s) => s.name === name && includes(s.labels, labels))
  return {
    types,
    samples,
    find,
    value: (name, labels) => {
      const found = find(name, labels)
      if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`)
      return found[0]?.value ?? 0
    },
  }
}
