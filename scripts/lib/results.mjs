// results.json from what a run measured: every question's answer beside its exact counterpart (both
// from the question's record, questions.mjs), the run's own accounting, each host's and each shard's
// share and the global view. Pure: load.mjs measures, this assembles, render.mjs renders.
import { counterDelta, logLinesByStatus, reconcileWithSiege, requestTimesInWindow } from './exact-answers.mjs';
import { assignmentQueries, describeQuestions, QUESTIONS, RAW_COUNTERS } from './questions.mjs';
import { globalView } from './victoriametrics.mjs';

const iso = (seconds) => new Date(seconds * 1000).toISOString();

/**
 * `measured`:
 * - stand: { targets, prometheus: [{ name, url }] }; load: { duration: { text, seconds }, concurrency,
 *   delaySeconds, urls: [{ siegeLine }], userAgent }; window: { start, end (Dates), evaluatedAt, windowFrom (s) }
 * - answers: { [question]: stand-wide answer }; answersByHost: { [question]: { [instance]: answer } }
 * - counters, countersByHost: the raw counters by status (by host: { [instance]: { status: n } }) at
 *   { runStart, windowStart, end }
 * - logs: { [host]: access-log text } or null when nginx's log could not be read; hosts: the nginx hosts
 *   [{ name, address }] whose own logs were read, or null
 * - siege (its JSON summary), shardViews (eachShardsView), global (globalAnswers, or null)
 * - exporterSource, notChecked: [{ what, why }]
 */
export function assembleResults(measured, questions = QUESTIONS) {
  const { stand, load, window, answers, answersByHost, counters, countersByHost, logs, hosts, siege } = measured;
  const from = window.windowFrom;
  const to = window.evaluatedAt;
  const logText = logs === null ? null : Object.values(logs).join('');
  const standScope = {
    requestTimes: logText === null ? null : requestTimesInWindow(logText, from, to),
    countersAtWindowStart: counters.windowStart,
    countersAtEnd: counters.end,
  };
  const hostScope = (name) => ({
    requestTimes: requestTimesInWindow(logs[name], from, to),
    countersAtWindowStart: countersByHost.windowStart[name] ?? {},
    countersAtEnd: countersByHost.end[name] ?? {},
  });
  const exactRequests = counterDelta(counters.runStart, counters.end);
  const exact = Object.fromEntries(questions.map((q) => [q.name, q.exactOf(standScope)]));
  const assignment = questions.filter((q) => q.assignment);

  // host by host, where each host's own log was read
  const perHost =
    hosts &&
    Object.fromEntries(
      hosts.map((host) => {
        const scope = hostScope(host.name);
        return [
          host.name,
          {
            address: host.address,
            ...Object.fromEntries(
              questions.flatMap((q) => [
                [q.field, answersByHost[q.name][host.name] ?? (q.label ? {} : null)],
                [q.exactField, q.exactOf(scope)],
              ]),
            ),
            exact_requests_by_status: counterDelta(
              countersByHost.runStart[host.name] ?? {},
              countersByHost.end[host.name] ?? {},
            ),
            logged_requests_by_status: logLinesByStatus(logs[host.name], load.userAgent),
          },
        ];
      }),
    );

  return {
    target: stand.targets[0],
    targets: stand.targets,
    prometheus: stand.prometheus.map((shard) => shard.url).join(', '),
    load: {
      duration: load.duration.text,
      duration_seconds: load.duration.seconds,
      concurrency: load.concurrency,
      delay_seconds: load.delaySeconds,
      urls: load.urls.map((u) => u.siegeLine),
      user_agent: load.userAgent,
    },
    window: {
      ...(measured.began !== undefined && { warm_up_start: new Date(measured.began).toISOString() }), // the warm-up's first request: the graphs of the run start here
      start: window.start.toISOString(), // siege's first request; the run's counter delta starts just before it
      end: window.end.toISOString(), // siege done
      evaluated_at: iso(to), // the PromQL `time=`
      promql_from: iso(from), // the queries' 5 minutes: (promql_from, promql_to]
      promql_to: iso(to),
    },
    queries: assignmentQueries(questions),
    exact_query: RAW_COUNTERS.stand,
    queries_by_host: {
      ...Object.fromEntries(assignment.map((q) => [q.name, q.promqlByHost])),
      raw_counters: RAW_COUNTERS.byHost,
    },
    // every question of the report: its PromQL, how the shards' answers merge, its exact counterpart
    questions: describeQuestions(questions),

    // each question's answer beside its exact counterpart (p99_seconds, exact_p99_seconds, ...,
    // requests_by_status, window_requests_by_status, ...; the exact counts are the raw counters at both
    // ends of increase()'s window)
    ...Object.assign({}, ...questions.map((q) => q.fields(answers[q.name], standScope))),

    // the run itself: raw counters after the warm-up and after the last scrape
    exact_requests_by_status: exactRequests,
    exact_requests_total: Object.values(exactRequests).reduce((a, b) => a + b, 0),
    logged_requests_by_status: logText === null ? null : logLinesByStatus(logText, load.userAgent),
    siege, // its JSON summary; siege 4.0.7 counts nothing by status
    siege_requests_total: siege.transactions + siege.failed_transactions,
    // the counter delta against siege's tally, class by class (see scripts/lib/siege.mjs)
    siege_accounting: reconcileWithSiege({ exact: exactRequests, siege, concurrency: load.concurrency }),
    // each nginx host's share: PromQL by instance beside the exact values from that host's own log
    per_host: perHost,
    // each Prometheus: the hosts it scrapes, its own answers over them, what it costs (one entry: the whole stand)
    prometheus_shards: measured.shardViews,
    // the global view, where there is one: the same questions asked of VictoriaMetrics
    victoriametrics: measured.global && globalView(measured.global, { questions, exact, prometheus: answers }),
    exporter_source: measured.exporterSource,
    screenshots: null, // taken after this is first written
    // other pictures of the run besides the screenshots, taken after this is first written: the questions'
    // graphs over the run and the live dashboard, [{ file, caption, question?, kind, shard, promql?, ... }]
    pictures: [],
    not_checked: measured.notChecked,
    report_failures: [],
  };
}
