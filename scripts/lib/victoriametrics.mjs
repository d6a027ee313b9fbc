// The global view: the assignment's two questions asked of VictoriaMetrics, which every Prometheus shard
// remote_writes to, beside the raw counters it holds at both ends of the window.
import { counterDelta, relativeError, withinP99Bound } from './exact-answers.mjs'
import { byLabel, scalarQuery } from './prometheus-api.mjs'

// its caches would answer from what it had before the last samples arrived
const VICTORIAMETRICS = { name: 'VictoriaMetrics', params: { nocache: '1' } }
const NEWEST_SAMPLE = 'min(timestamp(av_nginx_log_lines_total))'

/**
 * Waits until VictoriaMetrics holds every av-exporter series up to `atSeconds` (the shards write with a
 * delay of seconds, and it hides the newest samples for its -search.latencyOffset).
 */
export async function waitUntilWritten(url, atSeconds, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs
  let newest = null
  while (Date.now() < deadline) {
    newest = await scalarQuery(url, NEWEST_SAMPLE, undefined, VICTORIAMETRICS)
    if (newest !== null && newest >= atSeconds) return
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
  throw new Error(newest === null
    ? `VictoriaMetrics at ${url} has no av_nginx_log_lines_total: do the shards remote_write to it (their remote_write: in prometheus.yml)?`
    : `VictoriaMetrics at ${url} has samples only up to ${new Date(newest * 1000).toISOString()}, not ${new Date(atSeconds * 1000).toISOString()}, after ${timeoutMs / 1000} s`)
}

/** The two answers, and the raw counters at `windowFrom` and `evaluatedAt`, as VictoriaMetrics has them. */
export async function globalAnswers(url, { queries, rawCounters, evaluatedAt, windowFrom }) {
  const [p99, requestsByStatus, endCounters, windowStartCounters] = await Promise.all([
    scalarQuery(url, queries.p99, evaluatedAt, VICTORIAMETRICS),
    byLabel(url, queries.requests_by_status, 'status', evaluatedAt, VICTORIAMETRICS),
    byLabel(url, rawCounters, 'status', evaluatedAt, VICTORIAMETRICS),
    byLabel(url, rawCounters, 'status', windowFrom, VICTORIAMETRICS),
  ])
  return { url, p99_seconds: p99, requests_by_status: requestsByStatus, end_counters: endCounters, window_start_counters: windowStartCounters }
}

/** VictoriaMetrics' answers beside the exact ones and Prometheus' own (the contract: p99_seconds, requests_by_status). */
export function globalView(global, { exactP99, windowRequests, p99, requestsByStatus }) {
  const statuses = Object.keys(global.requests_by_status)
  return {
    url: global.url,
    p99_seconds: global.p99_seconds,
    requests_by_status: global.requests_by_status,
    window_requests_by_status: counterDelta(global.window_start_counters, global.end_counters),
    p99_relative_error: exactP99 === null ? null : relativeError(global.p99_seconds, exactP99),
    p99_within_bound: exactP99 === null ? null : withinP99Bound(global.p99_seconds, exactP99),
    requests_by_status_relative_error: Object.fromEntries(statuses.map((s) => [s, relativeError(global.requests_by_status[s], windowRequests[s] ?? 0)])),
    vs_prometheus: {
      p99_relative: relativeError(global.p99_seconds, p99),
      requests_by_status_relative: Object.fromEntries(statuses.map((s) => [s, relativeError(global.requests_by_status[s], requestsByStatus[s] ?? 0)])),
    },
  }
}
