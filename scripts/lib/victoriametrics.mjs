// The global view: the report's questions asked of VictoriaMetrics, which every Prometheus shard
// remote_writes to, beside the raw counters it holds at both ends of the window.
import { counterDelta } from './exact-answers.mjs';
import { pollUntil } from './wait.mjs';

// its caches would answer from what it had before the last samples arrived
const VICTORIAMETRICS = { name: 'VictoriaMetrics', params: { nocache: '1' } };
/**
 * A selector of the series of the shards named `shardNames`, as they are now: after the shards or replicas
 * change, VictoriaMetrics still answers the old `shard` labels' series, their last samples from before the
 * change, until they leave its 5 min look-back. A series without the label (a Prometheus that writes none)
 * is selected too.
 */
export const currentShards = (shardNames) =>
  `{shard=~"${[...shardNames.map((name) => name.replace(/[\\.^$|?*+()[\]{}]/g, '\\\\$&')), ''].join('|')}"}`;

/** VictoriaMetrics' API at `url`, through the stand's `client` (its HTTPS, without VictoriaMetrics' caches). */
export const victoriaMetricsApi = (client, url) => client.prometheus(url, VICTORIAMETRICS);

/**
 * Waits until VictoriaMetrics holds every av-exporter series that `selector` (currentShards) picks up to
 * `atSeconds` (the shards write with a delay of seconds, and it hides the newest samples for its
 * -search.latencyOffset).
 */
export async function waitUntilWritten(api, atSeconds, selector, timeoutMs = 90_000) {
  let newest = null;
  const written = async () => {
    newest = await api.scalarQuery(`min(timestamp(av_nginx_log_lines_total${selector}))`);
    return newest !== null && newest >= atSeconds;
  };
  await pollUntil(written, {
    seconds: timeoutMs / 1000,
    intervalMs: 1000,
    onTimeout: () => {
      throw new Error(
        newest === null
          ? `VictoriaMetrics at ${api.base} has no av_nginx_log_lines_total: do the shards remote_write to it (their remote_write: in prometheus.yml)?`
          : `VictoriaMetrics at ${api.base} has samples only up to ${new Date(newest * 1000).toISOString()}, not ${new Date(atSeconds * 1000).toISOString()}, after ${timeoutMs / 1000} s`,
      );
    },
  });
}

/** Every question's answer, and the raw counters at `windowFrom` and `evaluatedAt`, as VictoriaMetrics has them. */
export async function globalAnswers(api, { questions, rawCounters, evaluatedAt, windowFrom }) {
  const [answers, endCounters, windowStartCounters] = await Promise.all([
    Promise.all(questions.map((question) => api.answer(question.promql, question.label, evaluatedAt))),
    api.byLabel(rawCounters, 'status', evaluatedAt),
    api.byLabel(rawCounters, 'status', windowFrom),
  ]);
  return {
    url: api.base,
    answers: Object.fromEntries(questions.map((question, i) => [question.name, answers[i]])),
    end_counters: endCounters,
    window_start_counters: windowStartCounters,
  };
}

/**
 * VictoriaMetrics' answers beside the exact ones and Prometheus' own, question by question (the contract:
 * p99_seconds, requests_by_status, window_requests_by_status, p99_relative_error, p99_within_bound,
 * requests_by_status_relative_error, vs_prometheus: { p99_relative, requests_by_status_relative }).
 * `exact` and `prometheus`: { [question name]: answer }, exact null where it is not known.
 */
export function globalView(global, { questions, exact, prometheus }) {
  const view = { url: global.url };
  const vsPrometheus = {};
  for (const question of questions) {
    const answer = global.answers[question.name];
    view[question.field] = answer;
    if (question.kind === 'by_status')
      view[question.exactField] = counterDelta(global.window_start_counters, global.end_counters);
  }
  for (const question of questions) {
    const answer = global.answers[question.name];
    view[`${question.name}_relative_error`] =
      exact[question.name] === null ? null : question.relativeTo(answer, exact[question.name]);
    if (question.kind === 'quantile')
      view[`${question.name}_within_bound`] =
        exact[question.name] === null ? null : question.withinBound(answer, exact[question.name]);
    vsPrometheus[`${question.name}_relative`] = question.relativeTo(answer, prometheus[question.name]);
  }
  view.vs_prometheus = vsPrometheus;
  return view;
}
