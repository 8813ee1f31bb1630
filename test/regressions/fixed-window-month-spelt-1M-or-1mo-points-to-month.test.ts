// fixedWindow({ window: '1M' }) or '1mo' (a month, as moment.js and others spell it) was refused
// with "must be milliseconds or a string like '500ms', '10s', '1m', '1h', '1d'": a user after a
// monthly quota was pointed to '1m', a minute. Both are now refused naming 'month', as
// '1 month' already was; '1m' stays a minute.
import { describe, expect, it } from 'vitest'
import { fixedWindow } from '../../src/index.js'

describe('fixedWindow() window spelt as a month', () => {
  it.each(['1M', '1mo', ' 1 mo ', 'M', '2M'])('%j is refused naming window: month', (window) => {
    let error: { code?: string; option?: string; message: string } | undefined
    try {
      fixedWindow({ limit: 10, window: window as 'month' })
    } catch (e) {
      error = e as typeof error
    }
    expect(error?.code).toBe('ERR_RK_INVALID_OPTION')
    expect(error?.option).toBe('window')
    expect(error?.message).toContain("'month'")
  })

  it("'1m' is still a minute and 'month' a calendar month", () => {
    expect(fixedWindow({ limit: 10, window: '1m' }).windowMs).toBe(60_000)
    expect(fixedWindow({ limit: 10, window: 'month' }).window).toBe('month')
  })
})
