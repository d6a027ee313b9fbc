// The report built from one model of its questions (scripts/lib/questions.mjs): the records and their
// PromQL, how several shards' answers merge, results.json assembled from a run's measurements and checked
// against docs/results.schema.json, and summary.md and index.html rendered from results.json alone.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { exactQuantile } from '../scripts/lib/exact-answers.mjs';
import { assignmentQueries, QUESTIONS, questionNamed, RAW_COUNTERS } from '../scripts/lib/questions.mjs';
import { renderReport } from '../scripts/lib/render.mjs';
import { markdownToHtml } from '../scripts/lib/report-page.mjs';
import { assembleResults } from '../scripts/lib/results.mjs';
import { addUp, eachShardsView, histogramQuantile, shardedPrometheus } from '../scripts/lib/shards.mjs';
import { checkResultsSchema } from './support/results-schema.mjs';

const EXAMPLE = new URL('../docs/report-example/', import.meta.url);
const example = () => JSON.parse(readFileSync(new URL('results.json', EXAMPLE), 'utf8'));
const p99 = questionNamed('p99');
const p50 = questionNamed('p50');
const requests = questionNamed('requests_by_status');

describe('the questions', () => {
  test("the assignment's two are asked exactly as the report always asked them", () => {
    assert.deepEqual(assignmentQueries(), {
      p99: 'histogram_quantile(0.99, sum by (le) (rate(av_nginx_http_request_duration_seconds_bucket[5m])))',
      requests_by_status: 'sum by (status) (increase(av_nginx_http_requests_total[5m]))',
    });
    assert.equal(
      p99.promqlByHost,
      'histogram_quantile(0.99, sum by (instance, le) (rate(av_nginx_http_request_duration_seconds_bucket[5m])))',
    );
    assert.equal(requests.promqlByHost, 'sum by (instance, status) (increase(av_nginx_http_requests_total[5m]))');
    assert.deepEqual(RAW_COUNTERS, {
      stand: 'sum by (status) (last_over_time(av_nginx_http_requests_total[5m]))',
      byHost: 'sum by (instance, status) (last_over_time(av_nginx_http_requests_total[5m]))',
    });
    assert.deepEqual(assignmentQueries(), example().queries, "the example report's queries");
  });

  test("the p50 is one more record: the p99's query at 0.5, its exact counterpart the nearest-rank median", () => {
    assert.equal(
      p50.promql,
      'histogram_quantile(0.5, sum by (le) (rate(av_nginx_http_request_duration_seconds_bucket[5m])))',
    );
    assert.equal(p50.merge.promql, p99.merge.promql);
    const times = [0.004, 0.001, 0.003, 0.002];
    assert.equal(p50.exactOf({ requestTimes: times }), exactQuantile(times, 0.5));
    assert.equal(p50.exactOf({ requestTimes: times }), 0.002);
    assert.equal(p50.exactOf({ requestTimes: null }), null);
  });

  test('every record has what the report needs of it, and a merge the shards know', () => {
    for (const question of QUESTIONS) {
      for (const key of ['name', 'title', 'promql', 'promqlByHost', 'field', 'exactField', 'exactMethod'])
        assert.equal(typeof question[key], 'string', `${question.name}.${key}`);
      assert.ok(['sum', 'histogram_buckets'].includes(question.merge.kind), question.name);
      assert.equal(typeof question.exactOf, 'function');
    }
    assert.deepEqual(
      QUESTIONS.map((q) => q.name),
      ['p99', 'requests_by_status', 'p50'],
    );
  });
});

/** A client whose Prometheus shards answer from tables: { [base]: { [query]: vector } }; it records every query asked. */
function fakeClient(answersByShard) {
  const asked = [];
  const vector = (base, query) => {
    asked.push([base, query]);
    const answer = answersByShard[base]?.[query];
    if (answer === undefined) throw new Error(`${base} was asked ${query}`);
    return answer;
  };
  return {
    asked,
    prometheus: (base) => {
      const api = {
        scalarQuery: async (query) => vector(base, query).scalar ?? null,
        byLabel: async (query) => ({ ...vector(base, query) }),
        answer: (query, label) => (label ? api.byLabel(query) : api.scalarQuery(query)),
        byInstanceAndLabel: async (query) => ({ ...vector(base, query) }),
        targetInstances: async () => answersByShard[base].instances,
      };
      return api;
    },
  };
}

describe('several shards, merged as each question says', () => {
  // two shards' bucket rates (cumulative, by le), as `sum by (le) (rate(..._bucket[5m]))` answers on each
  const shardA = { 0.005: 10, 0.01: 40, 0.05: 90, 0.1: 99, 0.5: 100, '+Inf': 100 };
  const shardB = { 0.005: 0, 0.01: 5, 0.05: 20, 0.1: 60, 0.5: 190, '+Inf': 200 };
  const shards = [
    { name: 'prom1', url: 'https://a/' },
    { name: 'prom2', url: 'https://b/' },
  ];
  const client = () =>
    fakeClient({
      'https://a/': { [p99.merge.promql]: shardA, [requests.promql]: { 200: 5, 404: 1 }, instances: ['web1'] },
      'https://b/': { [p99.merge.promql]: shardB, [requests.promql]: { 200: 7, 500: 2 }, instances: ['web2'] },
    });

  test('requests per status: summed status by status, a status on one shard only kept', async () => {
    assert.deepEqual(await shardedPrometheus(client(), shards).answer(requests, 100), { 200: 12, 404: 1, 500: 2 });
  });

  test("the p99 and the p50: histogram_quantile over the bucket rates summed by le, asked by the question's own bucket query", async () => {
    const c = client();
    const stand = shardedPrometheus(c, shards);
    assert.equal(await stand.answer(p99, 100), histogramQuantile(0.99, addUp([shardA, shardB])));
    assert.equal(await stand.answer(p50, 100), histogramQuantile(0.5, addUp([shardA, shardB])));
    assert.deepEqual([...new Set(c.asked.map(([, query]) => query))], [p99.merge.promql], 'no query of its own');
  });

  test("the merged p99 is what one Prometheus over both shards answers to the question's own PromQL (promtool)", async () => {
    // each shard's buckets as counters that grow by 60 × rate a minute, so rate(...[5m]) is the rate above
    const series = Object.entries({ a: shardA, b: shardB }).flatMap(([shard, buckets]) =>
      Object.entries(buckets).map(([le, rate]) => ({
        series: `av_nginx_http_request_duration_seconds_bucket{shard="${shard}",le="${le}"}`,
        values: `0+${rate * 60}x10`,
      })),
    );
    const stand = shardedPrometheus(client(), shards);
    const tests = [];
    for (const question of [p99, p50]) {
      tests.push({
        interval: '1m',
        input_series: series,
        promql_expr_test: [
          {
            expr: question.promql,
            eval_time: '10m',
            exp_samples: [{ labels: '{}', value: await stand.answer(question, 600) }],
          },
        ],
      });
    }
    const dir = mkdtempSync(`${tmpdir()}/merged-quantile-`);
    writeFileSync(`${dir}/rules.yml`, 'groups: []\n');
    writeFileSync(`${dir}/test.yml`, JSON.stringify({ rule_files: ['rules.yml'], tests }));
    assert.match(execFileSync('promtool', ['test', 'rules', `${dir}/test.yml`], { encoding: 'utf8' }), /SUCCESS/);
  });

  test("one shard: the question's own query, nothing merged", async () => {
    const c = fakeClient({ 'https://a/': { [p99.promql]: { scalar: 0.17 }, instances: ['web1'] } });
    assert.equal(await shardedPrometheus(c, shards.slice(0, 1)).answer(p99, 100), 0.17);
    assert.deepEqual(c.asked, [['https://a/', p99.promql]]);
  });

  test("each shard's own view answers every question with its own query", async () => {
    const c = fakeClient({
      'https://a/': new Proxy(
        { instances: ['web1'] },
        {
          /** @param {string} query the fake client asks it for PromQL and `instances`, never a symbol */
          get: (target, query) =>
            target[query] ?? (query === requests.promql || query.startsWith('avg by') ? { 200: 3 } : { scalar: 0.1 }),
        },
      ),
    });
    const [view] = await eachShardsView(c, shards.slice(0, 1), QUESTIONS, 100);
    assert.deepEqual([view.p99_seconds, view.p50_seconds, view.requests_by_status], [0.1, 0.1, { 200: 3 }]);
    assert.ok(c.asked.some(([, query]) => query === p50.promql) && c.asked.some(([, query]) => query === p99.promql));
  });
});

/** What a one-host run of 200 requests measured: times 1..200 ms, 180 × 200 and 20 × 404. */
function measurement({ withLog = true, global = null } = {}) {
  const agent = 'av-load/test';
  const lines = Array.from({ length: 200 }, (_, i) =>
    JSON.stringify({
      msec: 1000 + i,
      request_time: (i + 1) / 1000,
      status: i < 180 ? 200 : 404,
      http_user_agent: agent,
    }),
  );
  const counters = { runStart: { 200: 10, 404: 0 }, windowStart: { 200: 10, 404: 0 }, end: { 200: 190, 404: 20 } };
  return {
    stand: { targets: ['http://10.77.0.21/'], prometheus: [{ name: 'prom1', url: 'https://10.77.0.10:9090/' }] },
    load: {
      duration: { text: '60s', seconds: 60 },
      concurrency: 10,
      delaySeconds: 0.2,
      urls: [{ siegeLine: 'http://10.77.0.21/' }],
      userAgent: agent,
    },
    window: { start: new Date(999_000), end: new Date(1_199_000), evaluatedAt: 1200, windowFrom: 900 },
    answers: { p99: 0.1985, p50: 0.1004, requests_by_status: { 200: 181.5, 404: 20.2, 500: 0 } },
    answersByHost: {
      p99: { web1: 0.1985 },
      p50: { web1: 0.1004 },
      requests_by_status: { web1: { 200: 181.5, 404: 20.2 } },
    },
    counters,
    countersByHost: Object.fromEntries(Object.entries(counters).map(([when, byStatus]) => [when, { web1: byStatus }])),
    logs: withLog ? { web1: `${lines.join('\n')}\n` } : null,
    hosts: withLog ? [{ name: 'web1', address: '10.77.0.21' }] : null,
    siege: {
      transactions: 200,
      failed_transactions: 0,
      successful_transactions: 180,
      availability: 100,
      elapsed_time: 60,
      transaction_rate: 3.3,
      response_time: 0.1,
      longest_transaction: 0.2,
    },
    shardViews: [
      {
        name: 'prom1',
        url: 'https://10.77.0.10:9090/',
        av_exporter_instances: ['web1'],
        p99_seconds: 0.1985,
        requests_by_status: { 200: 181.5, 404: 20.2, 500: 0 },
        p50_seconds: 0.1004,
        costs: {
          samples_per_second: 600,
          head_series: 3000,
          cpu_seconds_per_second: 0.003,
          scrapes_per_second: 1,
          cpu_seconds_per_scrape: 0.003,
          resident_bytes: 9e7,
          samples_per_scrape_by_job: { av_exporter: 321 },
        },
      },
    ],
    global,
    exporterSource: withLog ? 'web1 (10.77.0.21), from 127.0.0.1' : null,
    notChecked: [],
  };
}

describe('results.json, assembled from what a run measured', () => {
  test('each question beside its exact counterpart, under the fields results.json has always had', () => {
    const r = assembleResults(measurement());
    assert.equal(r.p99_seconds, 0.1985);
    assert.equal(r.exact_p99_seconds, 0.198); // the 198th of 200
    assert.equal(r.exact_p99_sample_count, 200);
    assert.ok(Math.abs(r.p99_error_seconds - 0.0005) < 1e-12);
    assert.equal(r.p99_bound_seconds, Math.max(0.05 * 0.198, 0.001));
    assert.equal(r.p99_within_bound, true);
    assert.equal(
      r.exact_p99_method,
      'nearest rank: the ceil(0.99 n)-th smallest $request_time of the n access-log lines whose msec is in (promql_from, promql_to]',
    );
    assert.equal(r.p50_seconds, 0.1004);
    assert.equal(r.exact_p50_seconds, 0.1);
    assert.deepEqual(r.window_requests_by_status, { 200: 180, 404: 20 });
    assert.deepEqual(r.exact_requests_by_status, { 200: 180, 404: 20 });
    assert.deepEqual(r.logged_requests_by_status, { 200: 180, 404: 20 });
    assert.deepEqual(r.per_host.web1.window_requests_by_status, { 200: 180, 404: 20 });
    assert.equal(r.per_host.web1.exact_p50_seconds, 0.1);
    assert.deepEqual(r.statuses_born_in_window, []);
    assert.deepEqual(r.queries, assignmentQueries());
    assert.deepEqual(
      r.questions.map((q) => [q.name, q.merge]),
      [
        ['p99', 'histogram_buckets'],
        ['requests_by_status', 'sum'],
        ['p50', 'histogram_buckets'],
      ],
    );
    checkResultsSchema(r);
  });

  test('without a log: every exact value null, nothing made up, and still the schema', () => {
    const r = assembleResults(measurement({ withLog: false }));
    for (const field of [
      'exact_p99_seconds',
      'exact_p99_sample_count',
      'p99_error_seconds',
      'p99_within_bound',
      'exact_p50_seconds',
      'logged_requests_by_status',
      'per_host',
    ])
      assert.equal(r[field], null, field);
    checkResultsSchema(r);
  });

  test("the global view: every question asked of VictoriaMetrics, beside the exact and Prometheus' answers", () => {
    const global = {
      url: 'https://10.77.0.50:8428/',
      answers: { p99: 0.199, p50: 0.1, requests_by_status: { 200: 180, 404: 20 } },
      end_counters: { 200: 190, 404: 20 },
      window_start_counters: { 200: 10 },
    };
    const vm = assembleResults(measurement({ global })).victoriametrics;
    assert.equal(vm.p99_seconds, 0.199);
    assert.equal(vm.p50_seconds, 0.1);
    assert.equal(vm.p99_within_bound, true);
    assert.equal(vm.p50_relative_error, 0);
    assert.deepEqual(vm.window_requests_by_status, { 200: 180, 404: 20 });
    assert.deepEqual(vm.requests_by_status_relative_error, { 200: 0, 404: 0 });
    assert.ok(Math.abs(vm.vs_prometheus.p99_relative - (0.199 / 0.1985 - 1)) < 1e-12);
    checkResultsSchema(assembleResults(measurement({ global })));
  });
});

describe('results.json against docs/results.schema.json', () => {
  test('the example report matches it', () => checkResultsSchema(example(), 'docs/report-example/results.json'));

  test('a report that leaves it is refused, each place named', () => {
    const r = example();
    delete r.siege.transactions;
    r.requests_by_status['2xx'] = 1;
    assert.throws(
      () => checkResultsSchema(r),
      /** @param {Error} error */
      (error) =>
        /\/siege must have required property 'transactions'/.test(error.message) &&
        /\/requests_by_status/.test(error.message),
    );
  });
});

describe('summary.md and index.html, rendered from results.json alone', () => {
  const { 'index.html': html, 'summary.md': markdown } = renderReport(example());

  test("the example's files are what the renderer makes of its results.json", () => {
    assert.equal(
      readFileSync(new URL('summary.md', EXAMPLE), 'utf8'),
      markdown,
      'regenerate: npx zx scripts/load.mjs --render docs/report-example',
    );
    assert.equal(
      readFileSync(new URL('index.html', EXAMPLE), 'utf8'),
      html,
      'regenerate: npx zx scripts/load.mjs --render docs/report-example',
    );
  });

  test('index.html has every status, the p99 and the p50, the pictures the run has, the links', () => {
    for (const status of ['200', '301', '404', '499', '500', '503'])
      assert.match(html, new RegExp(`<tr><td>${status}</td><td>`), status);
    assert.match(html, /<strong>0\.1709 s<\/strong>/);
    assert.match(html, /<h2>3\. p50 \(median\) of response time/);
    assert.match(html, /<img src="p99\.png" alt="p99 in Prometheus"/);
    assert.match(html, /<img src="status-codes\.png" alt="requests per status code in Prometheus"/);
    assert.equal([...html.matchAll(/<img /g)].length, 2, 'only the pictures the run has');
    assert.match(html, /<a href="results\.json">/);
    assert.match(html, /<a href="exporter-metrics\.txt">/);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, 'nothing loaded from elsewhere');
    assert.doesNotMatch(html, /<link|<script|@import|url\(/);
  });

  test("the p50's answer, where the run asked it, in both", () => {
    const r = assembleResults(measurement());
    r.screenshots = {
      p99: {
        shard: 'prom1',
        file: 'p99.png',
        queryVisible: true,
        shownSeries: { '{}': 0.1985 },
        url: 'https://10.77.0.10:9090/graph',
      },
    };
    const rendered = renderReport(r);
    assert.match(
      rendered['summary.md'],
      /## 3\. p50 \(median\)[^]*```promql\nhistogram_quantile\(0\.5, [^]*\| PromQL \(`histogram_quantile` over av-exporter's buckets\) \| \*\*0\.1004 s\*\* \|\n\| exact: nearest rank over the 200 `\$request_time` values nginx logged in the same window \| 0\.1000 s \|/,
    );
    assert.match(rendered['summary.md'], /^\| host \| p50 PromQL \| p50 exact \(its log, same window\) \| error \|$/m);
    assert.match(rendered['index.html'], /<td><strong>0\.1004 s<\/strong><\/td>/);
  });

  test('graphs of the run and a dashboard are shown only where the run lists them', () => {
    const r = {
      ...example(),
      pictures: [
        { file: 'p99-graph.png', caption: 'p99 over the run', question: 'p99' },
        { file: 'dashboard.png', caption: 'the live dashboard' },
      ],
    };
    const { 'index.html': page, 'summary.md': md } = renderReport(r);
    assert.match(page, /<img src="p99-graph\.png" alt="p99 over the run"/);
    assert.match(page, /<img src="dashboard\.png" alt="the live dashboard"/);
    assert.doesNotMatch(page, /status-codes-graph\.png/);
    assert.ok(md.indexOf('p99-graph.png') < md.indexOf('## 2.'), "a question's graph in its section");
  });

  test('everything interpolated is escaped; a link or picture elsewhere stays words', () => {
    const r = {
      ...example(),
      report_failures: ['the screenshot p99: <script>alert(1)</script> & "more"'],
      pictures: [{ file: 'x.png', caption: '<img src=x onerror=alert(1)>' }],
    };
    const page = renderReport(r)['index.html'];
    assert.match(page, /&lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; &quot;more&quot;/);
    assert.doesNotMatch(page, /<script>|<img src=x/);
    assert.equal(
      markdownToHtml('![x](https://cdn.example/x.png)\n\n[a](javascript:alert(1)) [b](results.json)'),
      '<p>![x](https://cdn.example/x.png)</p>\n<p>[a](javascript:alert(1)) <a href="results.json">b</a></p>',
    );
  });
});
