// prometheusMetrics(limiter, register) and openTelemetryMetrics(limiter, meter) — the registry or
// meter passed where the options object belongs — failed with an error about one of its own
// fields ('"_metrics" is not an option'). Both now say how to pass it: { registry }, { meter }.
import { metrics } from '@opentelemetry/api'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createLimiter, tokenBucket } from '../../src/index.js'
import { openTelemetryMetrics, prometheusMetrics } from '../../src/metrics/index.js'

function errorOf(make: () => unknown): { code?: string; option?: string; message: string } {
  try {
    make()
  } catch (error) {
    return error as { code?: string; option?: string; message: string }
  }
  throw new Error('nothing was thrown')
}

describe('a metrics exporter given its registry or meter as the options object', () => {
  const limiter = createLimiter({ policies: [tokenBucket({ limit: 10, window: '1m' })] })

  it('prometheusMetrics(limiter, registry) says { registry }', () => {
    const error = errorOf(() => prometheusMetrics(limiter, new Registry() as never))
    expect(error.code).toBe('ERR_RK_INVALID_ARGUMENT')
    expect(error.option).toBe('options')
    expect(error.message).toContain('prometheusMetrics(limiter, { registry })')
  })

  it('openTelemetryMetrics(limiter, meter) says { meter }', () => {
    const error = errorOf(() => openTelemetryMetrics(limiter, metrics.getMeter('test') as never))
    expect(error.code).toBe('ERR_RK_INVALID_ARGUMENT')
    expect(error.option).toBe('options')
    expect(error.message).toContain('openTelemetryMetrics(limiter, { meter })')
  })
})
