// The few calls to Prometheus' HTTP API the load script makes.

export async function instantQuery(base, query, timeSeconds) {
  const url = new URL('/api/v1/query', base)
  url.searchParams.set('query', query)
  if (timeSeconds !== undefined) url.searchParams.set('time', String(timeSeconds))
  const response = await fetch(url)
  const body = await response.json().catch(() => null)
  if (!response.ok || body?.status !== 'success') {
    throw new Error(`Prometheus query failed (${response.status}): ${query}: ${body?.error ?? 'no answer'}`)
  }
  return body.data.result
}

/** The single value of a query, or null when it has no result. */
export async function scalarQuery(base, query, timeSeconds) {
  const [first] = await instantQuery(base, query, timeSeconds)
  return first ? Number(first.value[1]) : null
}

/** { [label value]: number } of a query that returns one series per value of `label`. */
export async function byLabel(base, query, label, timeSeconds) {
  const result = await instantQuery(base, query, timeSeconds)
  return Object.fromEntries(result.map((series) => [series.metric[label], Number(series.value[1])]).sort(([a], [b]) => a.localeCompare(b)))
}

/** Waits until every av-exporter target has been scraped after `afterSeconds`; returns that scrape time. */
export async function waitForScrapeAfter(base, afterSeconds, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const oldest = await scalarQuery(base, 'min(timestamp(av_nginx_log_lines_total{result="parsed"}))')
    if (oldest !== null && oldest > afterSeconds) return oldest
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
  throw new Error(`Prometheus did not scrape av-exporter within ${timeoutMs / 1000} s (check its targets page)`)
}
