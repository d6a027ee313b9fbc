// summary.md: the report as it is handed in, from results.json alone; each question's section as its
// record (questions.mjs) says.
import { sameCounts } from './exact-answers.mjs';
import { QUESTIONS } from './questions.mjs';

const pct = (ratio) =>
  ratio === null || ratio === undefined || !Number.isFinite(ratio)
    ? 'n/a'
    : `${ratio >= 0 ? '+' : ''}${(ratio * 100).toFixed(2)} %`;
const seconds = (value) => (value === null || value === undefined ? 'n/a' : `${value.toFixed(4)} s`);
const ms = (value) =>
  value === null || value === undefined ? 'n/a' : `${value >= 0 ? '+' : ''}${(value * 1000).toFixed(2)} ms`;
const count = (value) => (value === undefined ? '0' : String(value));
const total = (object) => Object.values(object ?? {}).reduce((a, b) => a + b, 0);

/** The PromQL a report asked for a question: from its `questions`, or (older reports) its `queries`. */
const promqlOf = (r, question, byHost = false) => {
  const asked = (r.questions ?? []).find((q) => q.name === question.name);
  if (asked) return byHost ? asked.promql_by_host : asked.promql;
  return byHost ? r.queries_by_host?.[question.name] : r.queries?.[question.name];
};

/** Whether a report has a question's answer (older reports predate some questions). */
const answered = (r, question) => r[question.field] !== undefined;

/** Whether exporter-metrics.txt was written beside the report. */
export const exporterMetricsWritten = (r) =>
  r.exporter_source !== null && !(r.report_failures ?? []).some((f) => f.startsWith('exporter-metrics.txt'));

export function summaryMarkdown(r, questions = QUESTIONS) {
  const s = r.siege;
  const failures = r.report_failures ?? [];
  const notChecked = r.not_checked ?? [];
  const sections = questions.map((question, i) => questionSection(r, question, i + 1).trimEnd());
  return `# Prometheus + exporters: load test report / Отчёт о нагрузочном тестировании
${failures.length > 0 ? `\n**Not all of this report could be made:**\n${failures.map((f) => `- ${f}`).join('\n')}\n` : ''}${notChecked.length > 0 ? `\n**Not checked:**\n${notChecked.map((n) => `- ${n.what}: ${n.why}`).join('\n')}\n` : ''}
siege ${r.load.concurrency} users for ${r.load.duration} against ${(r.targets ?? [r.target]).join(', ')} (${r.load.urls.length} URLs at random, up to ${r.load.delay_seconds} s between a user's requests).
Run: ${r.window.start} → ${r.window.end} (UTC). Prometheus ${r.prometheus}, every query evaluated at **${r.window.evaluated_at}**,
so their 5-minute window is (${r.window.promql_from}, ${r.window.promql_to}].

${sections.join('\n\n')}

${perHostSection(r, questions)}${shardsSection(r, questions)}${globalViewSection(r, questions)}${otherPicturesSection(r)}## siege

| transactions | failed (5xx) | successful (< 400) | availability | elapsed | rate | mean response | longest |
| --- | --- | --- | --- | --- | --- | --- | --- |
| ${s.transactions} | ${s.failed_transactions} | ${s.successful_transactions} | ${s.availability} % | ${s.elapsed_time} s | ${s.transaction_rate}/s | ${s.response_time} s | ${s.longest_transaction} s |

siege counts a 5xx answer as a failed transaction and every other answer (404 included) as a transaction;
it counts nothing by status.

## The exporter's metrics / Метрики экспортера

${r.exporter_source === null ? "exporter-metrics.txt was not written: av-exporter is read over SSH from the inventory's nginx hosts." : exporterMetricsWritten(r) ? `[exporter-metrics.txt](exporter-metrics.txt): av-exporter's \`/metrics\` on ${r.exporter_source}, read at the end of the run.` : '**exporter-metrics.txt could not be written** (see above).'}
`;
}

/** One question's section: its PromQL, its answer beside the exact one, its pictures. */
function questionSection(r, question, number) {
  const heading = `## ${number}. ${question.title}`;
  if (!answered(r, question)) return `${heading}\n\nNot asked in this run: its report predates this question.`;
  const body = question.kind === 'quantile' ? quantileBody(r, question) : requestsBody(r, question);
  return `${heading}

\`\`\`promql
${promqlOf(r, question)}
\`\`\`

${body}`;
}

/** A quantile of the response time: PromQL, the exact nearest-rank value, the error and its bound; its pictures. */
function quantileBody(r, question) {
  const n = question.name;
  const exact = r[question.exactField];
  return `| | ${n} |
| --- | --- |
| PromQL (\`histogram_quantile\` over av-exporter's buckets) | **${seconds(r[question.field])}** |
${
  exact === null
    ? "| exact | not checked: nginx's log could not be read |"
    : `| exact: nearest rank over the ${r[`exact_${n}_sample_count`]} \`$request_time\` values nginx logged in the same window | ${seconds(exact)} |
| error | ${ms(r[`${n}_error_seconds`])}, ${pct(r[`${n}_relative_error`])}; bound max(5 %, 1 ms) = ${ms(r[`${n}_bound_seconds`]).replace('+', '')}: ${r[`${n}_within_bound`] ? 'within' : '**outside**'} |`
}
${picturesOf(r, question)}`;
}

/** Requests per status: increase() beside the raw counters' growth in its window, then the run's own accounting against siege. */
function requestsBody(r, question) {
  const promql = r[question.field];
  const exact = r[question.exactField];
  const run = r.exact_requests_by_status;
  const statuses = [...new Set([promql, exact, run].flatMap((o) => Object.keys(o ?? {})))]
    .sort()
    // av-exporter's preset series are there at 0 for statuses nobody got: not worth a row
    .filter((status) => [promql, exact, run].some((o) => o?.[status]));
  const statusRows = statuses.map(
    (status) =>
      `| ${status} | ${promql[status] === undefined ? '—' : promql[status].toFixed(1)} | ${count(exact[status])} | ${pct(r.requests_by_status_relative_error[status])} | ${count(run[status])} |`,
  );
  const a = r.siege_accounting;
  const s = r.siege;
  const logged = r.logged_requests_by_status; // null when nginx's log could not be read
  const allAccounted = a.problems.length === 0 && (logged === null || sameCounts(run, logged));
  // one stretch factor for every status (to 0.1 %) means the difference is extrapolation alone
  const ratios = Object.entries(promql)
    .filter(([st]) => exact[st] >= 20)
    .map(([st, v]) => v / exact[st]);
  const factor = ratios.length > 0 && Math.max(...ratios) - Math.min(...ratios) < 0.001 ? ratios[0] : null;
  const bornInWindow =
    r.statuses_born_in_window.length > 0
      ? ` A series born inside the window (here: ${r.statuses_born_in_window.join(', ')}) loses its first increment to \`increase()\` (prometheus/prometheus#3000); av-exporter exposes every common status at 0 from its start, so only a status outside that set shows this.`
      : '';
  return `| status | PromQL \`increase\` | exact: raw counters at both ends of the window | error | of these, this run (counter delta) |
| --- | --- | --- | --- | --- |
${statusRows.join('\n')}
| all | ${total(promql).toFixed(1)} | ${total(exact)} | ${pct(total(exact) ? total(promql) / total(exact) - 1 : null)} | ${r.exact_requests_total} |
${picturesOf(r, question)}
\`increase()\` is the counters' growth between the first and the last sample inside the window, stretched to the
window's whole length (extrapolated${factor ? `: here ×${factor.toFixed(4)} for every status alike` : ''}), so it is close to the exact count, not equal to it.${bornInWindow}

${allAccounted ? 'Every request of the run is accounted for.' : '**Not every request of the run is accounted for.**'} The counters' delta from the start to the end of the run
(\`${r.exact_query}\` at two instants; the warm-up is before the start) is ${r.exact_requests_total} requests,
${logged === null ? "(nginx's log could not be read to compare it with the lines the run left there)." : `${sameCounts(run, logged) ? 'exactly' : '**not**'} the ${total(logged)} lines nginx logged with this run's User-Agent, status by status.`}
Against siege's own tally, class by class:

| | counters (this run) | siege | cut off at the end |
| --- | --- | --- | --- |
| transactions (every status but 408, 5xx, 499) | ${s.transactions + a.cut_off.transactions} | ${s.transactions} | ${a.cut_off.transactions} |
| of which successful (below 400) | ${s.successful_transactions + a.cut_off.successful_transactions} | ${s.successful_transactions} | ${a.cut_off.successful_transactions} |
| failed transactions (408, 5xx) | ${s.failed_transactions + a.cut_off.failed_transactions} | ${s.failed_transactions} | ${a.cut_off.failed_transactions} |
| closed by the client (499) | ${a.cut_off.closed_by_client_499} | — | ${a.cut_off.closed_by_client_499} |
| all | ${r.exact_requests_total} | ${r.siege_requests_total} | ${a.cut_off_total} |

siege cancels its ${r.load.concurrency} users where they are when its time is up: each may leave one request that nginx
logged (as 499 if it had not answered yet) and siege never counted. ${a.problems.length === 0 ? `${a.cut_off_total} such here: all accounted for.` : `**Not accounted for:** ${a.problems.join('; ')}.`}`;
}

/** A question's pictures: its screenshots (if it has any), then the run's other pictures of it; a line each side when there are any. */
function picturesOf(r, question) {
  const parts = [
    ...(question.screenshot
      ? [screenshotsOf(r, question.screenshot.key, `${question.screenshot.file}.png`, question.caption)]
      : []),
    ...(r.pictures ?? [])
      .filter((picture) => picture.question === question.name)
      .map((picture) => `![${picture.caption}](${picture.file})`),
  ];
  return parts.length === 0 ? '' : `\n${parts.join('\n\n')}\n`;
}

/** The run's pictures of no one question (a dashboard, say). */
function otherPicturesSection(r) {
  const pictures = (r.pictures ?? []).filter((picture) => !picture.question);
  if (pictures.length === 0) return '';
  return `## Pictures of the run / Графики прогона

${pictures.map((picture) => `${picture.caption}:\n\n![${picture.caption}](${picture.file})`).join('\n\n')}

`;
}

/**
 * The screenshots of one kind (p99, status_codes): one with one Prometheus; one per shard with several,
 * each captioned with the hosts that shard scrapes (its answer covers those alone).
 */
function screenshotsOf(r, kind, file, alt) {
  const shots = Object.entries(r.screenshots ?? {})
    .filter(([key]) => key === kind || key.startsWith(`${kind}-`))
    .map(([, shot]) => shot);
  if (shots.length === 0) return `(${file}: not taken yet)`;
  const shards = Object.fromEntries((r.prometheus_shards ?? []).map((shard) => [shard.name, shard]));
  return shots
    .map((shot) => {
      const name = shot.file ?? file;
      const picture = shot.error
        ? `**The screenshot ${name} failed:** ${shot.error}`
        : `![${alt}${shots.length > 1 ? ` ${shot.shard}` : ''}](${name})`;
      return shots.length === 1
        ? picture
        : `${shot.shard}, its share (${shards[shot.shard]?.av_exporter_instances.join(', ') || 'no nginx host'}):\n\n${picture}`;
    })
    .join('\n\n');
}

const quantilesIn = (questions, holder) =>
  questions.filter((q) => q.kind === 'quantile' && holder?.[q.field] !== undefined);

/** With several Prometheus shards: which hosts each scrapes, its own answers, and what it costs. */
function shardsSection(r, questions) {
  const shards = r.prometheus_shards ?? [];
  if (shards.length < 2) return '';
  const quantiles = quantilesIn(questions, shards[0]);
  const rows = shards.map((shard) => {
    const c = shard.costs;
    const fixed = (value, digits) => (value === null || value === undefined ? '—' : value.toFixed(digits));
    const own = quantiles.map((q) => (shard[q.field] === null ? '—' : seconds(shard[q.field])));
    return `| ${shard.name} | ${shard.av_exporter_instances.join(', ') || '—'} | ${own.join(' | ')} | ${total(shard.requests_by_status).toFixed(1)} | ${fixed(c.samples_per_second, 0)} | ${fixed(c.head_series, 0)} | ${fixed(c.cpu_seconds_per_scrape === null ? null : c.cpu_seconds_per_scrape * 1000, 2)} ms | ${fixed(c.resident_bytes / 2 ** 20, 0)} MiB |`;
  });
  return `## Prometheus shards / Шарды Prometheus

Each nginx host is scraped by exactly one shard (\`hashmod\` of its \`instance\` label); each shard answers for
its own hosts, and the answers above merge them: the counts summed, each quantile from the shards' bucket rates
summed by \`le\`, as one Prometheus over all hosts would compute it.

| shard | av-exporter hosts | ${quantiles.map((q) => `its ${q.name}`).join(' | ')} | its increase, all statuses | samples/s | head series | CPU per scrape | RSS |
| --- | --- | ${quantiles.map(() => '---').join(' | ')} | --- | --- | --- | --- | --- |
${rows.join('\n')}

`;
}

/** VictoriaMetrics, the global view: the same questions over every shard, beside the exact answers. */
function globalViewSection(r, questions) {
  const vm = r.victoriametrics;
  if (!vm) return '';
  const statuses = Object.keys(vm.requests_by_status)
    .filter(
      (status) =>
        vm.requests_by_status[status] || vm.window_requests_by_status[status] || r.window_requests_by_status[status],
    )
    .sort();
  const rows = statuses.map(
    (status) =>
      `| ${status} | ${vm.requests_by_status[status].toFixed(1)} | ${(r.requests_by_status[status] ?? 0).toFixed(1)} | ${count(r.window_requests_by_status[status])} | ${pct(vm.requests_by_status_relative_error[status])} |`,
  );
  const quantileRows = quantilesIn(questions, vm).map((q) => {
    const within = vm[`${q.name}_within_bound`];
    return `| ${q.name} | ${seconds(vm[q.field])} | ${seconds(r[q.field])} | ${seconds(r[q.exactField])} | ${pct(vm[`${q.name}_relative_error`])}${within === null || within === undefined ? '' : within ? ', within max(5 %, 1 ms)' : ', **outside** max(5 %, 1 ms)'} |`;
  });
  return `## The global view: VictoriaMetrics / Глобальное представление

Every shard \`remote_write\`s to VictoriaMetrics (${vm.url}), which answers the same PromQL over all of them, at the same moment.

| | VictoriaMetrics | Prometheus | exact | VictoriaMetrics vs exact |
| --- | --- | --- | --- | --- |
${quantileRows.join('\n')}

| status | VictoriaMetrics \`increase\` | Prometheus \`increase\` | exact: raw counters at both ends of the window | VictoriaMetrics vs exact |
| --- | --- | --- | --- | --- |
${rows.join('\n')}

VictoriaMetrics' \`increase()\` does not extrapolate to the window's edges as Prometheus' does: it takes the
sample before the window as its start, so it is the counters' exact growth in the window.

`;
}

/** Every answer host by host: PromQL `by (instance)` beside the exact values from each host's own log. */
function perHostSection(r, questions) {
  const hosts = Object.entries(r.per_host ?? {});
  if (hosts.length === 0) return '';
  const quantileTables = quantilesIn(questions, hosts[0][1]).map((q) => {
    const rows = hosts.map(([name, h]) => {
      const [promql, exact] = [h[q.field], h[q.exactField]];
      const error = promql !== null && exact ? pct(promql / exact - 1) : '—';
      return `| ${name} | ${promql === null ? '—' : seconds(promql)} | ${exact === null ? '—' : seconds(exact)} | ${error} |`;
    });
    return `| host | ${q.name} PromQL | ${q.name} exact (its log, same window) | error |
| --- | --- | --- | --- |
${rows.join('\n')}`;
  });
  const statusRows = hosts.flatMap(([name, h]) => {
    const statuses = [
      ...new Set(
        [
          h.requests_by_status,
          h.window_requests_by_status,
          h.exact_requests_by_status,
          h.logged_requests_by_status,
        ].flatMap((o) => Object.keys(o ?? {})),
      ),
    ]
      .sort()
      .filter((status) =>
        [
          h.requests_by_status,
          h.window_requests_by_status,
          h.exact_requests_by_status,
          h.logged_requests_by_status,
        ].some((o) => o?.[status]),
      );
    return statuses.map(
      (status) =>
        `| ${name} | ${status} | ${(h.requests_by_status[status] ?? 0).toFixed(1)} | ${count(h.window_requests_by_status[status])} | ${count(h.exact_requests_by_status[status])} | ${count(h.logged_requests_by_status[status])} |`,
    );
  });
  const same = hosts.every(([, h]) => sameCounts(h.exact_requests_by_status, h.logged_requests_by_status));
  const asked = questions.filter((q) => hosts[0][1][q.field] !== undefined).map((q) => promqlOf(r, q, true));
  return `## Host by host / По хостам

\`\`\`promql
${asked.join('\n')}
\`\`\`

${quantileTables.join('\n\n')}

| host | status | PromQL \`increase\` | exact: raw counters at both ends of the window | this run (counter delta) | this run in the host's log |
| --- | --- | --- | --- | --- | --- |
${statusRows.join('\n')}

${same ? "Each host's counter delta equals the run's lines in that host's own log, status by status." : "**A host's counter delta differs from the run's lines in its log** (see the table)."}

`;
}
