// summary.md: the report as it is handed in, from results.json's data.
import { sameCounts } from './exact-answers.mjs'

const pct = (ratio) => (ratio === null || ratio === undefined || !Number.isFinite(ratio) ? 'n/a' : `${ratio >= 0 ? '+' : ''}${(ratio * 100).toFixed(2)} %`)
const seconds = (value) => (value === null || value === undefined ? 'n/a' : `${value.toFixed(4)} s`)
const ms = (value) => (value === null || value === undefined ? 'n/a' : `${value >= 0 ? '+' : ''}${(value * 1000).toFixed(2)} ms`)
const count = (value) => (value === undefined ? '0' : String(value))
const total = (object) => Object.values(object ?? {}).reduce((a, b) => a + b, 0)

export function summaryMarkdown(r) {
  const statuses = [...new Set([r.requests_by_status, r.window_requests_by_status, r.exact_requests_by_status]
    .flatMap((o) => Object.keys(o ?? {})))].sort()
    // av-exporter's preset series are there at 0 for statuses nobody got: not worth a row
    .filter((status) => [r.requests_by_status, r.window_requests_by_status, r.exact_requests_by_status].some((o) => o?.[status]))
  const statusRows = statuses.map((status) => {
    const promql = r.requests_by_status[status]
    return `| ${status} | ${promql === undefined ? '—' : promql.toFixed(1)} | ${count(r.window_requests_by_status[status])} | ${pct(r.requests_by_status_relative_error[status])} | ${count(r.exact_requests_by_status[status])} |`
  })
  const a = r.siege_accounting
  const s = r.siege
  const logged = r.logged_requests_by_status // null when nginx's log could not be read
  const allAccounted = a.problems.length === 0 && (logged === null || sameCounts(r.exact_requests_by_status, logged))
  // one stretch factor for every status (to 0.1 %) means the difference is extrapolation alone
  const ratios = Object.entries(r.requests_by_status).filter(([st]) => r.window_requests_by_status[st] >= 20).map(([st, v]) => v / r.window_requests_by_status[st])
  const factor = ratios.length > 0 && Math.max(...ratios) - Math.min(...ratios) < 0.001 ? ratios[0] : null
  const bornInWindow = r.statuses_born_in_window.length > 0
    ? ` A series born inside the window (here: ${r.statuses_born_in_window.join(', ')}) loses its first increment to \`increase()\` (prometheus/prometheus#3000); av-exporter exposes every common status at 0 from its start, so only a status outside that set shows this.`
    : ''
  const failures = r.report_failures ?? []
  const notChecked = r.not_checked ?? []
  const images = (kind, file, alt) => screenshotsOf(r, kind, file, alt)
  return `# Prometheus + exporters: load test report / Отчёт о нагрузочном тестировании
${failures.length > 0 ? `\n**Not all of this report could be made:**\n${failures.map((f) => `- ${f}`).join('\n')}\n` : ''}${notChecked.length > 0 ? `\n**Not checked:**\n${notChecked.map((n) => `- ${n.what}: ${n.why}`).join('\n')}\n` : ''}
siege ${r.load.concurrency} users for ${r.load.duration} against ${(r.targets ?? [r.target]).join(', ')} (${r.load.urls.length} URLs at random, up to ${r.load.delay_seconds} s between a user's requests).
Run: ${r.window.start} → ${r.window.end} (UTC). Prometheus ${r.prometheus}, both queries evaluated at **${r.window.evaluated_at}**,
so their 5-minute window is (${r.window.promql_from}, ${r.window.promql_to}].

## 1. p99 of response time over 5 minutes / 99-й перцентиль времени ответа за 5 минут

\`\`\`promql
${r.queries.p99}
\`\`\`

| | p99 |
| --- | --- |
| PromQL (\`histogram_quantile\` over av-exporter's buckets) | **${seconds(r.p99_seconds)}** |
${r.exact_p99_seconds === null ? '| exact | not checked: nginx\'s log could not be read |' : `| exact: nearest rank over the ${r.exact_p99_sample_count} \`$request_time\` values nginx logged in the same window | ${seconds(r.exact_p99_seconds)} |
| error | ${ms(r.p99_error_seconds)}, ${pct(r.p99_relative_error)}; bound max(5 %, 1 ms) = ${ms(r.p99_bound_seconds).replace('+', '')}: ${r.p99_within_bound ? 'within' : '**outside**'} |`}

${images('p99', 'p99.png', 'p99 in Prometheus')}

## 2. Requests per response code over 5 minutes / Количество запросов по кодам ответа за 5 минут

\`\`\`promql
${r.queries.requests_by_status}
\`\`\`

| status | PromQL \`increase\` | exact: raw counters at both ends of the window | error | of these, this run (counter delta) |
| --- | --- | --- | --- | --- |
${statusRows.join('\n')}
| all | ${total(r.requests_by_status).toFixed(1)} | ${total(r.window_requests_by_status)} | ${pct(total(r.window_requests_by_status) ? total(r.requests_by_status) / total(r.window_requests_by_status) - 1 : null)} | ${r.exact_requests_total} |

${images('status_codes', 'status-codes.png', 'requests per status code in Prometheus')}

\`increase()\` is the counters' growth between the first and the last sample inside the window, stretched to the
window's whole length (extrapolated${factor ? `: here ×${factor.toFixed(4)} for every status alike` : ''}), so it is close to the exact count, not equal to it.${bornInWindow}

${allAccounted ? 'Every request of the run is accounted for.' : '**Not every request of the run is accounted for.**'} The counters' delta from the start to the end of the run
(\`${r.exact_query}\` at two instants; the warm-up is before the start) is ${r.exact_requests_total} requests,
${logged === null ? "(nginx's log could not be read to compare it with the lines the run left there)." : `${sameCounts(r.exact_requests_by_status, logged) ? 'exactly' : '**not**'} the ${total(logged)} lines nginx logged with this run's User-Agent, status by status.`}
Against siege's own tally, class by class:

| | counters (this run) | siege | cut off at the end |
| --- | --- | --- | --- |
| transactions (every status but 408, 5xx, 499) | ${s.transactions + a.cut_off.transactions} | ${s.transactions} | ${a.cut_off.transactions} |
| of which successful (below 400) | ${s.successful_transactions + a.cut_off.successful_transactions} | ${s.successful_transactions} | ${a.cut_off.successful_transactions} |
| failed transactions (408, 5xx) | ${s.failed_transactions + a.cut_off.failed_transactions} | ${s.failed_transactions} | ${a.cut_off.failed_transactions} |
| closed by the client (499) | ${a.cut_off.closed_by_client_499} | — | ${a.cut_off.closed_by_client_499} |
| all | ${r.exact_requests_total} | ${r.siege_requests_total} | ${a.cut_off_total} |

siege cancels its ${r.load.concurrency} users where they are when its time is up: each may leave one request that nginx
logged (as 499 if it had not answered yet) and siege never counted. ${a.problems.length === 0 ? `${a.cut_off_total} such here: all accounted for.` : `**Not accounted for:** ${a.problems.join('; ')}.`}

${perHostSection(r)}${shardsSection(r)}${globalViewSection(r)}## siege

| transactions | failed (5xx) | successful (< 400) | availability | elapsed | rate | mean response | longest |
| --- | --- | --- | --- | --- | --- | --- | --- |
| ${s.transactions} | ${s.failed_transactions} | ${s.successful_transactions} | ${s.availability} % | ${s.elapsed_time} s | ${s.transaction_rate}/s | ${s.response_time} s | ${s.longest_transaction} s |

siege counts a 5xx answer as a failed transaction and every other answer (404 included) as a transaction;
it counts nothing by status.

## The exporter's metrics / Метрики экспортера

${r.exporter_source === null ? "exporter-metrics.txt was not written: av-exporter is read over SSH from the inventory's nginx hosts." : (r.report_failures ?? []).some((f) => f.startsWith('exporter-metrics.txt')) ? '**exporter-metrics.txt could not be written** (see above).' : `[exporter-metrics.txt](exporter-metrics.txt): av-exporter's \`/metrics\` on ${r.exporter_source}, read at the end of the run.`}
`
}

/**
 * The screenshots of one kind (p99, status_codes): one with one Prometheus; one per shard with several,
 * each captioned with the hosts that shard scrapes (its answer covers those alone).
 */
function screenshotsOf(r, kind, file, alt) {
  const shots = Object.entries(r.screenshots ?? {}).filter(([key]) => key === kind || key.startsWith(`${kind}-`)).map(([, shot]) => shot)
  if (shots.length === 0) return `(${file}: not taken yet)`
  const shards = Object.fromEntries((r.prometheus_shards ?? []).map((shard) => [shard.name, shard]))
  return shots.map((shot) => {
    const name = shot.file ?? file
    const picture = shot.error ? `**The screenshot ${name} failed:** ${shot.error}` : `![${alt}${shots.length > 1 ? ` ${shot.shard}` : ''}](${name})`
    return shots.length === 1 ? picture : `${shot.shard}, its share (${shards[shot.shard]?.av_exporter_instances.join(', ') || 'no nginx host'}):\n\n${picture}`
  }).join('\n\n')
}

/** With several Prometheus shards: which hosts each scrapes, its own answers, and what it costs. */
function shardsSection(r) {
  const shards = r.prometheus_shards ?? []
  if (shards.length < 2) return ''
  const rows = shards.map((shard) => {
    const c = shard.costs
    const fixed = (value, digits) => (value === null || value === undefined ? '—' : value.toFixed(digits))
    return `| ${shard.name} | ${shard.av_exporter_instances.join(', ') || '—'} | ${shard.p99_seconds === null ? '—' : seconds(shard.p99_seconds)} | ${total(shard.requests_by_status).toFixed(1)} | ${fixed(c.samples_per_second, 0)} | ${fixed(c.head_series, 0)} | ${fixed(c.cpu_seconds_per_scrape === null ? null : c.cpu_seconds_per_scrape * 1000, 2)} ms | ${fixed(c.resident_bytes / 2 ** 20, 0)} MiB |`
  })
  return `## Prometheus shards / Шарды Prometheus

Each nginx host is scraped by exactly one shard (\`hashmod\` of its \`instance\` label); each shard answers for
its own hosts, and the answers above merge them: the counts summed, the p99 from the shards' bucket rates
summed by \`le\`, as one Prometheus over all hosts would compute it.

| shard | av-exporter hosts | its p99 | its increase, all statuses | samples/s | head series | CPU per scrape | RSS |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

`
}

/** VictoriaMetrics, the global view: the same two questions over every shard, beside the exact answers. */
function globalViewSection(r) {
  const vm = r.victoriametrics
  if (!vm) return ''
  const statuses = Object.keys(vm.requests_by_status).filter((status) => vm.requests_by_status[status] || vm.window_requests_by_status[status] || r.window_requests_by_status[status]).sort()
  const rows = statuses.map((status) => `| ${status} | ${vm.requests_by_status[status].toFixed(1)} | ${(r.requests_by_status[status] ?? 0).toFixed(1)} | ${count(r.window_requests_by_status[status])} | ${pct(vm.requests_by_status_relative_error[status])} |`)
  return `## The global view: VictoriaMetrics / Глобальное представление

Every shard \`remote_write\`s to VictoriaMetrics (${vm.url}), which answers the same PromQL over all of them, at the same moment.

| | VictoriaMetrics | Prometheus | exact | VictoriaMetrics vs exact |
| --- | --- | --- | --- | --- |
| p99 | ${seconds(vm.p99_seconds)} | ${seconds(r.p99_seconds)} | ${seconds(r.exact_p99_seconds)} | ${pct(vm.p99_relative_error)}${vm.p99_within_bound === null ? '' : vm.p99_within_bound ? ', within max(5 %, 1 ms)' : ', **outside** max(5 %, 1 ms)'} |

| status | VictoriaMetrics \`increase\` | Prometheus \`increase\` | exact: raw counters at both ends of the window | VictoriaMetrics vs exact |
| --- | --- | --- | --- | --- |
${rows.join('\n')}

VictoriaMetrics' \`increase()\` does not extrapolate to the window's edges as Prometheus' does: it takes the
sample before the window as its start, so it is the counters' exact growth in the window.

`
}

/** Both answers host by host: PromQL `by (instance)` beside the exact values from each host's own log. */
function perHostSection(r) {
  const hosts = Object.entries(r.per_host ?? {})
  if (hosts.length === 0) return ''
  const p99Rows = hosts.map(([name, h]) => {
    const error = h.p99_seconds !== null && h.exact_p99_seconds ? pct(h.p99_seconds / h.exact_p99_seconds - 1) : '—'
    return `| ${name} | ${h.p99_seconds === null ? '—' : seconds(h.p99_seconds)} | ${h.exact_p99_seconds === null ? '—' : seconds(h.exact_p99_seconds)} | ${error} |`
  })
  const statusRows = hosts.flatMap(([name, h]) => {
    const statuses = [...new Set([h.requests_by_status, h.window_requests_by_status, h.exact_requests_by_status, h.logged_requests_by_status]
      .flatMap((o) => Object.keys(o ?? {})))].sort()
      .filter((status) => [h.requests_by_status, h.window_requests_by_status, h.exact_requests_by_status, h.logged_requests_by_status].some((o) => o?.[status]))
    return statuses.map((status) => `| ${name} | ${status} | ${(h.requests_by_status[status] ?? 0).toFixed(1)} | ${count(h.window_requests_by_status[status])} | ${count(h.exact_requests_by_status[status])} | ${count(h.logged_requests_by_status[status])} |`)
  })
  const same = hosts.every(([, h]) => sameCounts(h.exact_requests_by_status, h.logged_requests_by_status))
  return `## Host by host / По хостам

\`\`\`promql
${r.queries_by_host.p99}
${r.queries_by_host.requests_by_status}
\`\`\`

| host | p99 PromQL | p99 exact (its log, same window) | error |
| --- | --- | --- | --- |
${p99Rows.join('\n')}

| host | status | PromQL \`increase\` | exact: raw counters at both ends of the window | this run (counter delta) | this run in the host's log |
| --- | --- | --- | --- | --- | --- |
${statusRows.join('\n')}

${same ? "Each host's counter delta equals the run's lines in that host's own log, status by status." : "**A host's counter delta differs from the run's lines in its log** (see the table)."}

`
}
