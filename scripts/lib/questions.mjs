// The report's questions, each once: its PromQL (stand-wide and host by host), how several Prometheus
// shards' answers merge, its exact counterpart, and the fields it gives results.json. Everything else
// (asking the shards and VictoriaMetrics, assembling results.json, summary.md and index.html) works from
// these records, so a new question is one record here plus, where it needs one, its exact counterpart in
// exact-answers.mjs.
import { counterDelta, exactQuantile, relativeError, withinP99Bound } from './exact-answers.mjs';

const LATENCY_BUCKETS = 'av_nginx_http_request_duration_seconds_bucket';
const REQUESTS = 'av_nginx_http_requests_total';
const WINDOW = '5m';

/**
 * Each request counter's value at an instant: its last sample at or before it. Not the bare selector: an
 * exporter that was down at that instant (its scrapes failing, its series marked stale) would be left out, and
 * its whole count would then pass for growth since.
 */
const lastCounts = (selector) => `last_over_time(${REQUESTS}${selector}[${WINDOW}])`;

/** RAW_COUNTERS.stand of the series whose labels match `selector` (e.g. `{shard=~"prom1|"}`). */
export const standCountersOf = (selector) => `sum by (status) (${lastCounts(selector)})`;

/** The raw request counters by status, read at two instants for the exact counts (and the run's own delta). */
export const RAW_COUNTERS = {
  stand: standCountersOf(''),
  byHost: `sum by (instance, status) (${lastCounts('')})`,
};

/**
 * One scope's measurements (the stand's, or one host's), which the questions' exact answers are taken from:
 * each question reads only its own of them.
 * @typedef {object} Scope
 * @property {number[] | null} [requestTimes] the `$request_time`s of the access-log lines in the window (null without a log)
 * @property {Record<string, number>} [countersAtWindowStart] the raw counters by status at the window's start
 * @property {Record<string, number>} [countersAtEnd] the same at the window's end
 */

// How shards' answers merge: `sum` adds them up (label value by label value); `histogram_buckets` sums
// the shards' bucket rates by `le` and takes histogram_quantile over the sum, as one Prometheus over
// every host would.
export const MERGES = ['sum', 'histogram_buckets'];

/**
 * A quantile of the response time over the window, from av-exporter's histogram; its exact counterpart
 * is the nearest-rank quantile of the `$request_time` of the access-log lines in the same window.
 */
function latencyQuantile({ name, quantile, title, caption, screenshot = null, graph = null, assignment = false }) {
  const buckets = (by) => `sum by (${by}) (rate(${LATENCY_BUCKETS}[${WINDOW}]))`;
  const checked = (answer, exact, value) => (answer === null || exact === null ? null : value());
  const promql = `histogram_quantile(${quantile}, ${buckets('le')})`;
  const promqlByHost = `histogram_quantile(${quantile}, ${buckets('instance, le')})`;
  return {
    name,
    kind: 'quantile',
    quantile,
    title,
    caption,
    assignment,
    screenshot,
    // its own PromQL over the run, and host by host
    graph: graph && {
      ...graph,
      promql,
      stacked: false,
      byHost: {
        file: `${graph.file.replace(/-graph$/, '')}-by-instance-graph`,
        caption: `${graph.caption}, each nginx host`,
        promql: promqlByHost,
        stacked: false,
      },
    },
    promql,
    promqlByHost,
    label: null,
    merge: { kind: 'histogram_buckets', promql: buckets('le') },
    field: `${name}_seconds`,
    exactField: `exact_${name}_seconds`,
    exactMethod: `nearest rank: the ceil(${quantile} n)-th smallest $request_time of the n access-log lines whose msec is in (promql_from, promql_to]`,
    /**
     * The exact answer over one scope's measurements: { requestTimes } (null without a log).
     * @param {Scope} scope
     */
    exactOf: ({ requestTimes }) => (requestTimes === null ? null : exactQuantile(requestTimes, quantile)),
    /** `answer` against a reference (the exact answer, or another engine's). */
    relativeTo: (answer, reference) =>
      answer === null || reference === null ? null : relativeError(answer, reference),
    withinBound: (answer, exact) => checked(answer, exact, () => withinP99Bound(answer, exact)),
    /** Its stand-wide fields of results.json (the p99's are those results.json has always had). */
    fields(answer, scope) {
      const exact = this.exactOf(scope);
      return {
        [this.field]: answer,
        [this.exactField]: exact,
        [`exact_${name}_method`]: this.exactMethod,
        [`exact_${name}_sample_count`]: exact === null ? null : scope.requestTimes.length,
        [`${name}_error_seconds`]: checked(answer, exact, () => answer - exact),
        [`${name}_relative_error`]: checked(answer, exact, () => relativeError(answer, exact)),
        [`${name}_bound_seconds`]: exact === null ? null : Math.max(0.05 * exact, 0.001),
        [`${name}_within_bound`]: this.withinBound(answer, exact),
      };
    },
  };
}

/**
 * Requests per status over the window; its exact counterpart is the growth of the raw counters between
 * both ends of the same window (what increase() estimates by extrapolation).
 */
const requestsByStatus = {
  name: 'requests_by_status',
  kind: 'by_status',
  title: 'Requests per response code over 5 minutes / Количество запросов по кодам ответа за 5 минут',
  caption: 'requests per status code in Prometheus',
  assignment: true,
  screenshot: { key: 'status_codes', file: 'status-codes' },
  // over the run: requests per second by status (increase() over 5m would draw each point as the 5 minutes
  // before it), stacked, so the top is the whole load; the statuses nobody got (av-exporter's presets at 0)
  // left out; host by host, each host's requests per second
  graph: {
    file: 'status-codes-graph',
    caption: 'requests per second by status over the run (stacked)',
    promql: `sum by (status) (rate(${REQUESTS}[1m])) > 0`,
    stacked: true,
    byHost: {
      file: 'requests-by-instance-graph',
      caption: 'requests per second over the run, each nginx host (stacked)',
      promql: `sum by (instance) (rate(${REQUESTS}[1m]))`,
      stacked: true,
    },
  },
  promql: `sum by (status) (increase(${REQUESTS}[${WINDOW}]))`,
  promqlByHost: `sum by (instance, status) (increase(${REQUESTS}[${WINDOW}]))`,
  label: 'status',
  merge: { kind: 'sum' },
  field: 'requests_by_status',
  exactField: 'window_requests_by_status',
  exactMethod: `the raw counters (${RAW_COUNTERS.stand}) at both ends of the window: their growth in (promql_from, promql_to]`,
  /**
   * The exact answer over one scope's measurements: { countersAtWindowStart, countersAtEnd }.
   * @param {Scope} scope
   */
  exactOf: ({ countersAtWindowStart, countersAtEnd }) => counterDelta(countersAtWindowStart, countersAtEnd),
  relativeTo: (answer, reference) =>
    Object.fromEntries(Object.entries(answer).map(([status, n]) => [status, relativeError(n, reference[status] ?? 0)])),
  withinBound: () => null,
  fields(answer, scope) {
    const exact = this.exactOf(scope);
    return {
      [this.field]: answer,
      [this.exactField]: exact,
      requests_by_status_relative_error: this.relativeTo(answer, exact),
      // increase() misses the first increment of a series born inside its window (prometheus/prometheus#3000)
      statuses_born_in_window: Object.keys(scope.countersAtEnd).filter(
        (status) => !(status in scope.countersAtWindowStart),
      ),
    };
  },
};

/** In the order the report shows them: the assignment's two first, as it numbers them. */
export const QUESTIONS = [
  latencyQuantile({
    name: 'p99',
    quantile: 0.99,
    title: 'p99 of response time over 5 minutes / 99-й перцентиль времени ответа за 5 минут',
    caption: 'p99 in Prometheus',
    screenshot: { key: 'p99', file: 'p99' },
    graph: { file: 'p99-graph', caption: 'p99 over the run' },
    assignment: true,
  }),
  requestsByStatus,
  latencyQuantile({
    name: 'p50',
    quantile: 0.5,
    title: 'p50 (median) of response time over 5 minutes / медиана времени ответа за 5 минут',
    caption: 'p50 in Prometheus',
  }),
];

export const questionNamed = (name) => QUESTIONS.find((question) => question.name === name);

/** results.json's `queries`: the assignment's two, as the report has always given them. */
export const assignmentQueries = (questions = QUESTIONS) =>
  Object.fromEntries(questions.filter((q) => q.assignment).map((q) => [q.name, q.promql]));

/** results.json's `questions`: what each question asked and how, as data. */
export const describeQuestions = (questions = QUESTIONS) =>
  questions.map((q) => ({
    name: q.name,
    kind: q.kind,
    ...(q.quantile !== undefined && { quantile: q.quantile }),
    title: q.title,
    assignment: q.assignment,
    promql: q.promql,
    promql_by_host: q.promqlByHost,
    merge: q.merge.kind,
    ...(q.merge.promql && { merge_promql: q.merge.promql }),
    field: q.field,
    exact_field: q.exactField,
    exact_method: q.exactMethod,
  }));
