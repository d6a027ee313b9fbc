// summary.md: the report as it is handed in.

const pct = (ratio) => (ratio === null ? 'n/a' : `${(ratio * 100).toFixed(2)} %`)
const seconds = (value) => (value === null ? 'n/a' : `${value.toFixed(4)} s`)

export function summaryMarkdown(results) {
  const statuses = [...new Set([...Object.keys(results.requests_by_status), ...Object.keys(results.window_requests_by_status)])].sort()
  const statusRows = statuses.map((status) => {
    const promql = results.requests_by_status[status] ?? 0
    const exact = results.window_requests_by_status[status] ?? 0
    const run = results.exact_requests_by_status[status] ?? 0
    return `| ${status} | ${promql.toFixed(1)} | ${exact} | ${exact ? pct((promql - exact) / exact) : 'n/a'} | ${run} |`
  })
  const logged = results.logged_requests_by_status ?? {}
  const loggedTotal = Object.values(logged).reduce((a, b) => a + b, 0)
  const exactMatchesLog = JSON.stringify(logged) === JSON.stringify(results.exact_requests_by_status)
  const siege = results.siege
  return `# Prometheus + exporters: the load test report

Window: ${results.window.start} → ${results.window.end} (UTC); PromQL evaluated at ${results.window.evaluated_at}.
Target ${results.target}, Prometheus ${results.prometheus}; siege ${results.load.concurrency} users for ${results.load.duration}.

## 1. 99th percentile of response time over 5 minutes / 99-й перцентиль времени ответа за 5 минут

\`\`\`promql
${results.queries.p99}
\`\`\`

| | value |
| --- | --- |
| PromQL | ${seconds(results.p99_seconds)} |
| exact (nearest rank over ${results.exact_p99_sample_count} logged \`$request_time\` values in the same 5 minutes) | ${seconds(results.exact_p99_seconds)} |
| error | ${pct(results.p99_relative_error)} (bound: max(5 %, 1 ms)) — ${results.p99_within_bound ? 'within' : '**outside**'} |

![p99](p99.png)

## 2. Requests per response code over 5 minutes / Количество запросов по кодам ответа за 5 минут

\`\`\`promql
${results.queries.requests_by_status}
\`\`\`

| status | PromQL \`increase\` | exact (raw counters at both ends of the 5 minutes) | error | of which this run |
| --- | --- | --- | --- | --- |
${statusRows.join('\n')}

\`increase()\` extrapolates to the edges of its window, so it is close to, not equal to, the exact count${
  results.statuses_born_in_window.length > 0
    ? `; and the first increment of a series born inside the window (here: ${results.statuses_born_in_window.join(', ')}) is invisible to \`increase()\` (prometheus/prometheus#3000); the warm-up creates every series before the run, but a run shorter than 5 minutes has its warm-up inside the window too`
    : ''}.
The last column is the difference of the raw counters at the start and the end of this run:
${results.exact_requests_total} requests, ${exactMatchesLog ? 'exactly' : '**not**'} the ${loggedTotal} lines that nginx logged for this run's
requests (marked by their User-Agent), status by status. siege's own tally: ${siege.transactions} transactions and
${siege.failed_transactions} failed (siege counts 5xx as failed), ${results.siege_requests_total} in all; the
${loggedTotal - results.siege_requests_total} more in nginx's log were in flight when siege's time was up.

![requests per status code](status-codes.png)

## siege

| transactions | availability | elapsed | rate | mean response | longest |
| --- | --- | --- | --- | --- | --- |
| ${siege.transactions} | ${siege.availability} % | ${siege.elapsed_time} s | ${siege.transaction_rate}/s | ${siege.response_time} s | ${siege.longest_transaction} s |

## The exporter's metrics / Метрики экспортера

[exporter-metrics.txt](exporter-metrics.txt): av-exporter's \`/metrics\` at the end of the run.
`
}
