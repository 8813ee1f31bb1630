/**
 * `ratekeeper/metrics`: a limiter's metrics for Prometheus (prom-client) and OpenTelemetry, and
 * its most limited subjects in bounded memory. Neither library is imported: pass your registry
 * or meter. See docs/observability.md.
 * @packageDocumentation
 */

export {
  type OpenTelemetryInstrumentOptions,
  type OpenTelemetryMeter,
  type OpenTelemetryMetricsOptions,
  type OpenTelemetryObservable,
  type OpenTelemetryObservation,
  openTelemetryMetrics,
} from './open-telemetry.js'
export type { Outcome } from './outcome.js'
export { type LimiterMetrics, type PrometheusMetricsOptions, type PrometheusRegistry, prometheusMetrics } from './prometheus.js'
export { type HeavyHitter, SpaceSaving } from './space-saving.js'
export { type TopLimited, type TopLimitedOptions, topLimited } from './top-limited.js'
