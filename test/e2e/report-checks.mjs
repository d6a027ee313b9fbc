// Checks of a report written by scripts/load.mjs, for the end-to-end test.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const REQUIRED_FIELDS = ['p99_seconds', 'exact_p99_seconds', 'requests_by_status', 'exact_requests_by_status', 'siege', 'window', 'queries'];
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export function checkReport(dir) {
  const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
  for (const field of REQUIRED_FIELDS) assert.ok(results[field] !== undefined && results[field] !== null, `results.json has no ${field}`);

  // every request of the run that nginx logged is in the counter delta, status by status, and nothing else is
  assert.deepEqual(results.exact_requests_by_status, results.logged_requests_by_status, 'counter delta vs the run\'s lines in nginx\'s log');
  // siege's tally leaves out only what was in flight when it stopped: at most one request per user
  const inFlight = results.exact_requests_total - results.siege_requests_total;
  assert.ok(inFlight >= 0 && inFlight <= results.load.concurrency,
    `siege counted ${results.siege_requests_total} (${results.siege.transactions} + ${results.siege.failed_transactions} failed), nginx logged ${results.exact_requests_total}`);
  assert.ok(results.siege.transactions > 100, `siege made only ${results.siege.transactions} transactions`);

  const bound = Math.max(0.05 * results.exact_p99_seconds, 0.001);
  assert.ok(Math.abs(results.p99_seconds - results.exact_p99_seconds) <= bound,
    `PromQL p99 ${results.p99_seconds} s is more than ${bound} s from the exact ${results.exact_p99_seconds} s`);

  for (const [name, shot] of Object.entries({ 'p99.png': results.screenshots.p99, 'status-codes.png': results.screenshots.status_codes })) {
    const png = readFileSync(join(dir, name));
    assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE, `${name} is not a PNG`);
    const width = png.readUInt32BE(16);
    const height = png.readUInt32BE(20);
    assert.ok(width >= 800 && height >= 400 && png.length > 10_000, `${name} is ${width}x${height}, ${png.length} bytes: not a real screenshot`);
    assert.equal(shot.queryVisible, true, `${name}: the query was not in the page when it was taken`);
  }
  // the screenshots show the very numbers of results.json
  const same = (shown, expected) => shown.length === expected.length && shown.every((v, i) => Math.abs(v - expected[i]) <= 1e-9 * Math.max(1, Math.abs(expected[i])));
  assert.ok(same(results.screenshots.p99.shownValues, [results.p99_seconds]), `p99.png shows ${results.screenshots.p99.shownValues}, results.json has ${results.p99_seconds}`);
  const byStatus = Object.values(results.requests_by_status);
  assert.ok(same(results.screenshots.status_codes.shownValues, byStatus), `status-codes.png shows ${results.screenshots.status_codes.shownValues}, results.json has ${byStatus}`);

  const metrics = readFileSync(join(dir, 'exporter-metrics.txt'), 'utf8');
  assert.match(metrics, /^av_nginx_http_requests_total\{status="200",method="GET"\} \d+$/m);
  const lint = execFileSync('promtool', ['check', 'metrics'], { input: metrics, encoding: 'utf8' });
  assert.equal(lint.trim(), '', `promtool check metrics on exporter-metrics.txt:\n${lint}`);
  return results;
}
