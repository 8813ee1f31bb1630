/**
 * The one reading of `Retry-After` (RFC 9110 §10.2.3), shared by the client (`ratekeeper/client`)
 * and `upstreamRateLimit()` (`ratekeeper/provider`), so that a value means the same wait to both.
 */

/**
 * The longest delay read, in seconds (about 31,700 years): a larger one reads as this, a long wait
 * still, and its ms stay an exact integer.
 */
const MAX_SECONDS = 1e12
/** Delay-seconds (a fraction tolerated), with optional spaces or tabs around it. */
const DELAY_SECONDS = /^[ \t]*(\d+(?:\.\d+)?)[ \t]*$/
const MONTHS: Record<string, number> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 }
const IMF_FIXDATE = /^[ \t]*[A-Za-z]{3}, (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT[ \t]*$/
const RFC850_DATE = /^[ \t]*[A-Za-z]{6,9}, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT[ \t]*$/
const ASCTIME_DATE = /^[ \t]*[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})[ \t]*$/

function utc(year: number, month: string, day: number, h: number, m: number, s: number): number | undefined {
  const mon = MONTHS[month.toLowerCase()]
  if (mon === undefined || day < 1 || h > 23 || m > 59 || s > 60) return undefined
  // A day the month does not have (31 Feb) is no date: Date.UTC would roll it into the next month.
  if (day > new Date(Date.UTC(year, mon + 1, 0)).getUTCDate()) return undefined
  return Date.UTC(year, mon, day, h, m, s)
}

/**
 * Parses an HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime forms) to
 * epoch ms; `undefined` for any other text or a date that does not exist. `now` places a two-digit
 * RFC 850 year.
 */
export function parseHttpDate(value: string, now: number = Date.now()): number | undefined {
  let m = IMF_FIXDATE.exec(value)
  if (m !== null) return utc(Number(m[3]), m[2], Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]))
  m = RFC850_DATE.exec(value)
  if (m !== null) {
    // Two-digit years: RFC 9110 says a year that looks more than 50 years ahead is in the past century.
    const yy = Number(m[3])
    const thisYear = new Date(now).getUTCFullYear()
    let year = Math.floor(thisYear / 100) * 100 + yy
    if (year > thisYear + 50) year -= 100
    return utc(year, m[2], Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]))
  }
  m = ASCTIME_DATE.exec(value)
  if (m !== null) return utc(Number(m[6]), m[1], Number(m[2].trim()), Number(m[3]), Number(m[4]), Number(m[5]))
  return undefined
}

function parseOne(value: string, now: number): number | undefined {
  const m = DELAY_SECONDS.exec(value)
  if (m !== null) return Math.ceil(Math.min(Number(m[1]), MAX_SECONDS) * 1000)
  const date = parseHttpDate(value, now)
  if (date === undefined || !Number.isFinite(date)) return undefined
  return Math.max(0, date - now)
}

/** Longest `Retry-After` field read as a list of values. */
const MAX_LIST_LENGTH = 1024

/**
 * Parses a `Retry-After` value (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns ms from
 * `now` (0 for a date in the past), or `undefined` when the value is neither. A fraction of a second
 * is rounded up; a delay beyond 10^12 s reads as 10^12 s. A field sent twice arrives joined with a
 * comma (`"5, 5"`): the largest value that reads is honoured.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (typeof value !== 'string') return undefined
  const single = parseOne(value, now)
  if (single !== undefined || !value.includes(',') || value.length > MAX_LIST_LENGTH) return single
  // An HTTP-date holds a comma itself ("Sun, 06 Nov 1994 …"): a piece that does not read alone is
  // tried with the next one.
  const parts = value.split(',')
  let largest: number | undefined
  for (let i = 0; i < parts.length; i++) {
    let ms = parseOne(parts[i], now)
    if (ms === undefined && i + 1 < parts.length) {
      ms = parseOne(`${parts[i]},${parts[i + 1]}`, now)
      if (ms !== undefined) i++
    }
    if (ms !== undefined && (largest === undefined || ms > largest)) largest = ms
  }
  return largest
}

/**
 * The wait a response's `Retry-After` asks for, ms. An HTTP-date is measured from the response's
 * own `Date` (RFC 9110 §6.6.1: every server with a clock sends it) when that reads, so that a
 * server clock ahead or behind the local one does not stretch or cancel the wait; else from `now`.
 * Delay-seconds never depend on either clock.
 */
export function responseRetryAfter(
  retryAfter: string | null | undefined,
  date: string | null | undefined,
  now: number,
): number | undefined {
  const sent = typeof date === 'string' ? parseHttpDate(date, now) : undefined
  return parseRetryAfter(retryAfter, sent ?? now)
}
