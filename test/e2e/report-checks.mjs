// Checks of a report written by scripts/load.mjs, for the end-to-end test (not a test file itself):
//   await checkReport('report/latest')
// Each assertion names what disagreed. Resolves with the report's results.json.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { reconcileWithSiege } from '../../scripts/lib/exact-answers.mjs';
import { siegeCountsAsFailed } from '../../scripts/lib/siege.mjs';
import { checkResultsSchema } from '../support/results-schema.mjs';

const REQUIRED_FIELDS = {
  p99_seconds: 'number',
  exact_p99_seconds: 'number',
  exact_p99_sample_count: 'number',
  p99_relative_error: 'number',
  requests_by_status: 'object',
  window_requests_by_status: 'object',
  exact_requests_by_status: 'object',
  logged_requests_by_status: 'object',
  siege: 'object',
  siege_accounting: 'object',
  window: 'object',
  queries: 'object',
  load: 'object',
  screenshots: 'object',
};
const QUERIES = {
  p99: 'histogram_quantile(0.99, sum by (le) (rate(av_nginx_http_request_duration_seconds_bucket[5m])))',
  requests_by_status: 'sum by (status) (increase(av_nginx_http_requests_total[5m]))',
};
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** @type {(object: Record<string, number>, keep?: (key: string) => boolean) => number} */
const sum = (object, keep = () => true) =>
  Object.entries(object)
    .filter(([key]) => keep(key))
    .reduce((total, [, n]) => total + n, 0);

export async function checkReport(reportDir, { nginxHosts = null } = {}) {
  const results = JSON.parse(await readFile(join(reportDir, 'results.json'), 'utf8'));
  checkResultsSchema(results, join(reportDir, 'results.json'));
  if (nginxHosts) checkPerHost(results, nginxHosts);

  for (const [field, type] of Object.entries(REQUIRED_FIELDS)) {
    assert.equal(
      typeof results[field],
      type,
      `results.json: ${field} should be a ${type}, is ${JSON.stringify(results[field])}`,
    );
  }
  assert.deepEqual(results.queries, QUERIES, "results.json: the queries are not the assignment's");
  for (const key of ['start', 'end', 'evaluated_at'])
    assert.ok(!Number.isNaN(Date.parse(results.window[key])), `results.json: window.${key} is not a time`);
  assert.ok(Date.parse(results.window.start) < Date.parse(results.window.end), 'the window ends before it starts');
  assert.ok(
    Date.parse(results.window.end) <= Date.parse(results.window.evaluated_at),
    'the queries were evaluated before the run ended',
  );
  for (const field of ['requests_by_status', 'exact_requests_by_status']) {
    for (const [status, n] of Object.entries(results[field]))
      assert.ok(/^\d{3}$/.test(status) && n >= 0, `results.json: ${field} has ${status}: ${n}`);
  }
  for (const field of ['transactions', 'failed_transactions', 'successful_transactions']) {
    assert.equal(typeof results.siege[field], 'number', `results.json: siege's JSON has no ${field}`);
  }

  // The run's counter delta holds exactly the run's requests: what nginx logged with the run's
  // User-Agent, status by status (the warm-up, before the start snapshot, is not in it).
  assert.deepEqual(
    results.exact_requests_by_status,
    results.logged_requests_by_status,
    "the counter delta vs the run's lines in nginx's log",
  );
  assert.equal(results.exact_requests_total, sum(results.exact_requests_by_status));

  // ... and agrees with what siege sent (siege 4.0.7, which counts by class, not by status: see
  // scripts/lib/siege.mjs). Each class in the counters holds at least what siege counted of it; the
  // rest are the requests siege cut off when its time was up, at most one per user, 499s among them.
  const { concurrency } = results.load;
  const exact = results.exact_requests_by_status;
  const siege = results.siege;
  const inClass = (keep) => sum(exact, (status) => keep(Number(status)));
  const answered = inClass((s) => s !== 499 && !siegeCountsAsFailed(s));
  const failed = inClass(siegeCountsAsFailed);
  const successful = inClass((s) => s < 400 || s === 401 || s === 407);
  assert.ok(siege.transactions > 100, `siege made only ${siege.transactions} transactions`);
  assert.ok(
    answered >= siege.transactions,
    `siege counted ${siege.transactions} transactions, the counters grew by ${answered} answers other than 408, 5xx, 499`,
  );
  assert.ok(
    failed >= siege.failed_transactions,
    `siege counted ${siege.failed_transactions} failed transactions, the counters grew by ${failed} 408/5xx answers: requests failed without an answer`,
  );
  assert.ok(
    successful >= siege.successful_transactions &&
      successful - siege.successful_transactions <= answered - siege.transactions,
    `siege counted ${siege.successful_transactions} successful transactions, the counters grew by ${successful} answers below 400`,
  );
  const cutOff = results.exact_requests_total - (siege.transactions + siege.failed_transactions);
  assert.ok(
    cutOff >= 0 && cutOff <= concurrency,
    `${cutOff} requests reached nginx that siege did not count; at most one per user (${concurrency}) may`,
  );
  assert.equal(cutOff, answered - siege.transactions + failed - siege.failed_transactions + (exact['499'] ?? 0));
  assert.deepEqual(reconcileWithSiege({ exact, siege, concurrency }).problems, [], 'the siege accounting');
  assert.deepEqual(results.siege_accounting.problems, [], 'the siege accounting in results.json');

  // The assignment's p99 against the exact one: within max(5 %, 1 ms).
  const bound = Math.max(0.05 * results.exact_p99_seconds, 0.001);
  assert.ok(
    results.exact_p99_sample_count >= results.siege.transactions / 2,
    `the exact p99 is over only ${results.exact_p99_sample_count} log lines`,
  );
  assert.ok(
    Math.abs(results.p99_seconds - results.exact_p99_seconds) <= bound + 1e-12,
    `PromQL p99 ${results.p99_seconds} s is more than ${bound} s from the exact ${results.exact_p99_seconds} s`,
  );
  // increase() against the raw counters of its window: they differ by extrapolation only, which
  // stretches the sampled span to the window's edges (by up to one scrape interval: 5 s of 300 in the
  // lab, 15 s with Prometheus' default); a sanity check, for the statuses with enough requests
  for (const [status, n] of Object.entries(results.window_requests_by_status)) {
    if (n < 100) continue;
    const promql = results.requests_by_status[status] ?? 0;
    assert.ok(
      Math.abs(promql - n) <= 0.1 * n,
      `status ${status}: increase() says ${promql}, the counters grew by ${n} in the window`,
    );
  }

  // Both screenshots of every shard: real PNGs of a page that showed the query and the very series and
  // values of results.json, that shard's own answers (the classic UI lists series in Prometheus' order, not ours).
  // With one Prometheus, they are p99.png and status-codes.png, and its answers are the stand's.
  const shards = results.prometheus_shards;
  const byStatus = (counts) =>
    Object.fromEntries(Object.entries(counts).map(([status, value]) => [`{status="${status}"}`, value]));
  const expectedKeys =
    shards.length === 1
      ? ['p99', 'status_codes']
      : shards.flatMap((shard) => [`p99-${shard.name}`, `status_codes-${shard.name}`]);
  assert.deepEqual(Object.keys(results.screenshots).sort(), expectedKeys.sort(), 'results.json: the screenshots taken');
  if (shards.length === 1) {
    assert.equal(shards[0].p99_seconds, results.p99_seconds, "one Prometheus: its own p99 is the stand's");
    assert.deepEqual(
      shards[0].requests_by_status,
      results.requests_by_status,
      "one Prometheus: its own counts are the stand's",
    );
  }
  const shots = {};
  for (const shot of Object.values(results.screenshots)) {
    const shard = shards.find((s) => s.name === shot.shard);
    assert.ok(shard, `a screenshot of an unknown shard ${shot.shard}`);
    shots[shot.file] = [
      shot,
      shot.file.startsWith('p99') ? { '{}': shard.p99_seconds } : byStatus(shard.requests_by_status),
    ];
  }
  if (shards.length === 1) assert.deepEqual(Object.keys(shots).sort(), ['p99.png', 'status-codes.png']);
  for (const [name, [shot, expected]] of Object.entries(shots)) {
    await checkPng(reportDir, name);
    assert.equal(
      shot?.queryVisible,
      true,
      `${name}: the query was not in the page when it was taken (${shot?.error ?? ''})`,
    );
    const shown = shot.shownSeries ?? {};
    const same =
      Object.keys(shown).sort().join() === Object.keys(expected).sort().join() &&
      Object.entries(expected).every(
        ([series, value]) => Math.abs(shown[series] - value) <= 1e-9 * Math.max(1, Math.abs(value)),
      );
    assert.ok(same, `${name} shows ${JSON.stringify(shown)}, results.json has ${JSON.stringify(expected)}`);
  }

  await checkPictures(reportDir, results, { severalHosts: (nginxHosts?.length ?? results.targets.length) > 1 });

  // The exporter's metrics as handed in: our counter and histogram, and clean for promtool.
  const metricsFile = join(reportDir, 'exporter-metrics.txt');
  assert.ok((await stat(metricsFile)).size > 0, 'exporter-metrics.txt is empty');
  const metrics = await readFile(metricsFile, 'utf8');
  assert.match(metrics, /^# TYPE av_nginx_http_requests_total counter$/m);
  assert.match(metrics, /^av_nginx_http_requests_total\{status="200",method="GET"\} \d+$/m);
  assert.match(metrics, /^av_nginx_http_request_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
  assert.equal(lint.error, undefined, `promtool: ${lint.error?.message}`);
  assert.equal(lint.status, 0, `promtool check metrics on exporter-metrics.txt:\n${lint.stdout}${lint.stderr}`);
  assert.equal(
    `${lint.stdout}${lint.stderr}`.trim(),
    '',
    `promtool check metrics on exporter-metrics.txt:\n${lint.stdout}${lint.stderr}`,
  );
  return results;
}

/** A real screenshot: a PNG of at least 800x400 and 10 kB. */
async function checkPng(reportDir, name) {
  const png = await readFile(join(reportDir, name));
  assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE, `${name} is not a PNG`);
  assert.equal(png.toString('latin1', 12, 16), 'IHDR', `${name} has no PNG header chunk`);
  const [width, height] = [png.readUInt32BE(16), png.readUInt32BE(20)];
  assert.ok(
    width >= 800 && height >= 400 && png.length > 10_000,
    `${name} is ${width}x${height}, ${png.length} bytes: not a real screenshot`,
  );
}

/**
 * The graphs of the run and the dashboard, of every shard (suffixed -<shard> with several): p99-graph.png
 * and status-codes-graph.png (stacked) on the Graph tab, from the warm-up to the end, by instance too with
 * several nginx hosts; dashboard.png; each listed in results.json's pictures, and shown in summary.md and
 * index.html. A shard that scrapes no nginx host has none of them.
 */
export async function checkPictures(reportDir, results, { severalHosts }) {
  const shards = results.prometheus_shards;
  const suffix = (shard) => (shards.length === 1 ? '' : `-${shard.name}`);
  const graphs = [
    'p99-graph',
    'status-codes-graph',
    ...(severalHosts ? ['p99-by-instance-graph', 'requests-by-instance-graph'] : []),
  ];
  const drawn = shards.filter((shard) => (shard.av_exporter_instances ?? []).length > 0);
  assert.ok(drawn.length > 0, 'no shard scrapes an nginx host');
  const expected = drawn.flatMap((shard) => [...graphs, 'dashboard'].map((name) => `${name}${suffix(shard)}.png`));
  const pictures = results.pictures ?? [];
  assert.deepEqual(
    pictures.map((p) => p.file).sort(),
    [...expected].sort(),
    `results.json: the pictures (failures: ${results.report_failures.join('; ')})`,
  );
  const summary = await readFile(join(reportDir, 'summary.md'), 'utf8');
  const html = await readFile(join(reportDir, 'index.html'), 'utf8');
  const warmUp = Date.parse(results.window.warm_up_start ?? results.window.start);
  for (const picture of pictures) {
    await checkPng(reportDir, picture.file);
    assert.ok(summary.includes(`](${picture.file})`), `summary.md does not show ${picture.file}`);
    assert.ok(html.includes(`<img src="${picture.file}"`), `index.html does not show ${picture.file}`);
    // the whole run: from the warm-up (or before it) to the moment the questions were asked (or after it)
    assert.ok(
      Date.parse(picture.from) <= warmUp && Date.parse(picture.to) >= Date.parse(results.window.evaluated_at),
      `${picture.file} shows ${picture.from} to ${picture.to}, not the whole run`,
    );
    if (picture.kind === 'graph') {
      assert.equal(picture.stacked, !picture.file.startsWith('p99'), `${picture.file}: stacked`);
      const url = new URL(picture.url);
      assert.equal(url.searchParams.get('g0.expr'), picture.promql, `${picture.file}: the page's expression`);
      assert.equal(url.searchParams.get('g0.tab'), '0', `${picture.file}: the Graph tab`);
    }
  }
  const p99 = results.questions?.find((q) => q.name === 'p99');
  for (const picture of pictures.filter((p) => p.file.startsWith('p99-graph')))
    assert.equal(picture.promql, p99?.promql ?? QUERIES.p99, `${picture.file}: the p99 question's PromQL`);
}

/**
 * Sharded scraping and the global view: each shard answers for the hosts it scrapes, together they cover
 * every nginx host once; the merged answers hold (checked by checkReport against the exact ones), and
 * VictoriaMetrics' answers, over every shard, are the exact ones within the same bounds: its p99 within
 * max(5 %, 1 ms), its increase() within 10 % of the raw counters' growth in the window (statuses with 100
 * or more requests), and as it does not extrapolate, within 1 % of the growth it holds itself.
 */
export function checkShardsAndGlobalView(results, { nginxHosts, shardNames }) {
  const shards = results.prometheus_shards;
  assert.deepEqual(
    shards.map((s) => s.name),
    shardNames,
    'results.json: prometheus_shards',
  );
  assert.deepEqual(
    shards.flatMap((s) => s.av_exporter_instances).sort(),
    [...nginxHosts].sort(),
    'every nginx host is scraped by exactly one shard',
  );
  for (const shard of shards) {
    assert.ok(
      shard.costs.samples_per_second > 0 && shard.costs.head_series > 0 && shard.costs.cpu_seconds_per_scrape > 0,
      `${shard.name}: costs ${JSON.stringify(shard.costs)}`,
    );
  }
  const merged = {};
  for (const shard of shards)
    for (const [status, n] of Object.entries(shard.requests_by_status)) merged[status] = (merged[status] ?? 0) + n;
  for (const [status, n] of Object.entries(results.requests_by_status))
    assert.ok(
      Math.abs(merged[status] - n) < 1e-6 * Math.max(1, n),
      `status ${status}: the shards add up to ${merged[status]}, the report says ${n}`,
    );

  const vm = results.victoriametrics;
  assert.ok(vm && typeof vm.p99_seconds === 'number', `results.json: victoriametrics ${JSON.stringify(vm)}`);
  assert.equal(typeof vm.requests_by_status, 'object');
  const bound = Math.max(0.05 * results.exact_p99_seconds, 0.001);
  assert.ok(
    Math.abs(vm.p99_seconds - results.exact_p99_seconds) <= bound + 1e-12,
    `VictoriaMetrics' p99 ${vm.p99_seconds} s is more than ${bound} s from the exact ${results.exact_p99_seconds} s`,
  );
  for (const [status, n] of Object.entries(results.window_requests_by_status)) {
    if (n < 100) continue;
    const answer = vm.requests_by_status[status] ?? 0;
    assert.ok(
      Math.abs(answer - n) <= 0.1 * n,
      `status ${status}: VictoriaMetrics' increase() says ${answer}, the counters grew by ${n} in the window`,
    );
    const own = vm.window_requests_by_status[status] ?? 0;
    assert.ok(
      Math.abs(answer - own) <= 0.01 * own,
      `status ${status}: VictoriaMetrics' increase() says ${answer}, its own counters grew by ${own}`,
    );
  }
}

/**
 * The load reached every nginx host, and each host's answers hold: its counter delta equals the run's
 * lines in its own log, the hosts add up to the stand-wide figures, its p99 is within the same bound.
 */
function checkPerHost(results, nginxHosts) {
  assert.deepEqual(
    Object.keys(results.per_host ?? {}).sort(),
    [...nginxHosts].sort(),
    'results.json: per_host should name every nginx host',
  );
  const summed = {};
  for (const [name, host] of Object.entries(results.per_host)) {
    assert.deepEqual(
      host.exact_requests_by_status,
      host.logged_requests_by_status,
      `${name}: the counter delta vs the run's lines in its log`,
    );
    const requests = sum(host.exact_requests_by_status);
    assert.ok(
      requests >= results.exact_requests_total / nginxHosts.length / 2,
      `${name} got ${requests} of ${results.exact_requests_total} requests: the load did not spread`,
    );
    for (const [status, n] of Object.entries(host.exact_requests_by_status)) summed[status] = (summed[status] ?? 0) + n;
    const bound = Math.max(0.05 * host.exact_p99_seconds, 0.001);
    assert.ok(
      Math.abs(host.p99_seconds - host.exact_p99_seconds) <= bound + 1e-12,
      `${name}: PromQL p99 ${host.p99_seconds} s is more than ${bound} s from the exact ${host.exact_p99_seconds} s`,
    );
  }
  assert.deepEqual(
    summed,
    results.exact_requests_by_status,
    "the hosts' counter deltas do not add up to the stand-wide one",
  );
}
