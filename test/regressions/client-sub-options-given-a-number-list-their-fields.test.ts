// createClient({ queue: { rate: 10 } }) — a rate as a number, as other queues take it — was refused
// with '"queue.rate" must be an object, received 10', which does not say what the object holds.
// Each sub-options object (retry, pace, queue, queue.rate) now lists its fields in the message.
import { describe, expect, it } from 'vitest'
import { createClient } from '../../src/client/index.js'

describe('createClient() sub-options that are not objects', () => {
  it.each([
    ['queue.rate', { queue: { rate: 10 } }, '{ limit, window, burst }'],
    ['queue', { queue: 5 }, '{ concurrency, rate }'],
    ['retry', { retry: 3 }, '{ retries, baseDelayMs, maxDelayMs, statuses, methods }'],
    ['pace', { pace: 1 }, '{ threshold, probeFirst }'],
  ] as const)('%s names its fields', (option, options, fields) => {
    let error: { code?: string; option?: string; message: string } | undefined
    try {
      createClient(options as never)
    } catch (e) {
      error = e as typeof error
    }
    expect(error?.code).toBe('ERR_RK_INVALID_OPTION')
    expect(error?.option).toBe(option)
    expect(error?.message).toContain(`must be an object ${fields}`)
  })
})
