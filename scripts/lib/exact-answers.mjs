// The exact answers the PromQL ones are checked against.

/** Nearest-rank quantile: the smallest logged value with at least q of all values at or below it. */
export function exactQuantile(values, q) {
  if (values.length === 0) return null
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]
}

/** end - start per key, for counters read at two instants (keys missing at the start count from 0). */
export function counterDelta(start, end) {
  return Object.fromEntries(
    Object.entries(end)
      .map(([key, value]) => [key, value - (start[key] ?? 0)])
      .filter(([, delta]) => delta !== 0),
  )
}

/** request_time of the JSON access-log lines whose msec lies in (fromSeconds, toSeconds]. */
export function requestTimesInWindow(logText, fromSeconds, toSeconds) {
  const times = []
  for (const line of logText.split('\n')) {
    if (!line) continue
    let entry
    try {
      entry = JSON.parse(line)
    } catch {
      continue // av-exporter counts it as malformed; it has no request time either
    }
    const msec = Number(entry.msec)
    const requestTime = Number(entry.request_time)
    if (msec > fromSeconds && msec <= toSeconds && requestTime >= 0) times.push(requestTime)
  }
  return times
}

/** { status: count } of the JSON access-log lines sent with this exact User-Agent. */
export function logLinesByStatus(logText, userAgent) {
  const counts = {}
  for (const line of logText.split('\n')) {
    if (!line.includes(userAgent)) continue
    let entry
    try {
      entry = JSON.parse(line)
    } catch {
      continue
    }
    if (entry.http_user_agent !== userAgent) continue
    counts[entry.status] = (counts[entry.status] ?? 0) + 1
  }
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)))
}

export function relativeError(estimate, exact) {
  return exact ? (estimate - exact) / exact : null
}

/** The assignment's bound: within max(5 %, 1 ms) of the exact p99. */
export function withinP99Bound(estimate, exact) {
  return Math.abs(estimate - exact) <= Math.max(0.05 * exact, 0.001)
}
