// The built exporter as it runs in production: a first start on a log with history, nginx's workers
// writing to both files after a rotation, the rotated file gone while the exporter was down, lag, and
// health with the log missing. Real files, real processes, real time where the behaviour is about time.
import assert from 'node:assert/strict';
import { appendFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { PARSED, startExporter } from './support/exporter-process.js';
import { temporaryDirectory, type RunningProgram } from './support/real-programs.js';

function line(i: number, status = 200): string {
  return `{"msec":${1764064800 + i / 1000},"status":${status},"request_time":0.00${i % 10},"request_method":"GET"}\n`;
}

function lines(count: number, first = 0): string {
  let text = '';
  for (let i = first; i < first + count; i++) text += line(i);
  return text;
}

const REQUESTS_500 = 'av_nginx_http_requests_total{status="500",method="GET"}';
const UNREAD = 'av_nginx_log_unread_bytes';

describe('the exporter in production', () => {
  let dir: { path: string; remove: () => Promise<void> };
  const running: RunningProgram[] = [];

  before(async () => {
    dir = await temporaryDirectory('av-production-');
  });
  after(async () => {
    await Promise.all(running.map((p) => p.stop('SIGKILL')));
    await dir.remove();
  });

  test('a first start on a log with history counts nothing until new lines come, with every preset series at 0', async () => {
    const log = join(dir.path, 'history.log');
    await writeFile(log, lines(500));
    const { exporter, scrape, scrapeUntil } = await startExporter(log, ['--positions-file', join(dir.path, 'history.state.json')], running);
    const first = await scrapeUntil('the totals', (s) => s.has(PARSED));
    assert.equal(first.get(PARSED), 0, 'the history was counted');
    for (const status of [200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 408, 429, 499, 500, 502, 503, 504]) {
      for (const method of ['GET', 'HEAD', 'POST']) {
        assert.equal(first.get(`av_nginx_http_requests_total{status="${status}",method="${method}"}`), 0, `${status} ${method}`);
      }
    }
    await appendFile(log, line(500, 500) + line(501));
    const after = await scrapeUntil('the two new lines', (s) => s.get(PARSED) === 2);
    assert.equal(after.get(REQUESTS_500), 1);
    assert.match(exporter.output(), /no position to resume: reading .*history\.log from its end/);
    assert.equal((await scrape()).get(PARSED), 2);
    await exporter.stop();
  });

  test('--start-at beginning reads the history, and no scrape sees part of it', async () => {
    const log = join(dir.path, 'big.log');
    const total = 400_000;
    const chunk = lines(10_000);
    await writeFile(log, '');
    for (let i = 0; i < total / 10_000; i++) await appendFile(log, chunk);
    const { exporter, scrape } = await startExporter(log, ['--start-at', 'beginning'], running);
    const seen: Array<number | undefined> = [];
    let whileReading = 0;
    for (;;) {
      const samples = await scrape();
      const parsed = samples.get(PARSED);
      seen.push(parsed);
      if (parsed === undefined && (samples.get(UNREAD) ?? 0) > 0) whileReading++;
      if (parsed !== undefined) break;
    }
    assert.deepEqual(seen.filter((parsed) => parsed !== undefined), [total], `a scrape saw a partial history: ${seen.join(', ')}`);
    console.log(`# ${whileReading} of ${seen.length} scrapes came while the history was being read`);
    assert.ok(whileReading > 0, 'no scrape came during the read: the test did not test anything');
    await exporter.stop();
  });

  test('several writers after a rename: lines keep going to the old file for 2 s, every one is counted once', async () => {
    const log = join(dir.path, 'writers.log');
    await writeFile(log, '');
    const { exporter, scrapeUntil } = await startExporter(log, ['--start-at', 'beginning'], running);
    await appendFile(log, lines(1000));
    await scrapeUntil('the first 1000 lines', (s) => s.get(PARSED) === 1000);
    await rename(log, `${log}.1`);
    await writeFile(log, '');
    const ends = Date.now() + 2000;
    let written = 1000;
    for (let i = 0; Date.now() < ends; i++) {
      await appendFile(i % 2 === 0 ? log : `${log}.1`, line(written++)); // workers reopen one by one
      await sleep(10);
    }
    const samples = await scrapeUntil(`all ${written} lines`, (s) => s.get(PARSED) === written, 15_000);
    assert.equal(samples.get('av_nginx_log_lines_total{result="malformed"}'), 0);
    assert.equal(samples.get('av_nginx_log_rotations_total{kind="rename"}'), 1);
    await sleep(300); // nothing more arrives later: no line was counted twice
    assert.equal((await scrapeUntil('a scrape', () => true)).get(PARSED), written);
    await exporter.stop();
  });

  test('the rotated file removed while the exporter was down: a warning and av_nginx_log_gaps_total', async () => {
    const log = join(dir.path, 'gone.log');
    const state = join(dir.path, 'gone.state.json');
    await writeFile(log, '');
    let { exporter, scrapeUntil } = await startExporter(log, ['--positions-file', state], running);
    await appendFile(log, lines(10));
    await scrapeUntil('10 lines', (s) => s.get(PARSED) === 10);
    await exporter.stop();
    await appendFile(log, lines(5, 10)); // never read
    await rename(log, `${log}.1`);
    await rm(`${log}.1`);
    await writeFile(log, lines(3, 15));
    ({ exporter, scrapeUntil } = await startExporter(log, ['--positions-file', state], running));
    const samples = await scrapeUntil('the new file', (s) => s.get(PARSED) === 13);
    assert.equal(samples.get('av_nginx_log_gaps_total'), 1);
    assert.match(exporter.output(), /warning: .*(is gone|now holds another file).*not counted/);
    await exporter.stop();
  });

  test('the unread bytes rise while the log grows faster than the exporter reads it', async () => {
    const log = join(dir.path, 'lag.log');
    await writeFile(log, '');
    const { exporter, scrapeUntil, scrape } = await startExporter(log, ['--poll-interval-ms', '60000'], running);
    await scrapeUntil('the first poll', (s) => s.has(PARSED));
    const unread: number[] = [];
    for (let i = 0; i < 3; i++) {
      await appendFile(log, lines(100, i * 100));
      unread.push((await scrape()).get(UNREAD)!);
    }
    const bytes = (n: number) => Buffer.byteLength(lines(n));
    assert.deepEqual(unread, [bytes(100), bytes(200), bytes(300)]);
    assert.equal((await scrape()).get('av_nginx_log_last_read_timestamp_seconds'), 0);
    await exporter.stop();
  });

  test('/healthz answers 503 while the log is missing, and 200 once it is there', async () => {
    const log = join(dir.path, 'missing.log');
    const { exporter, base, scrapeUntil } = await startExporter(log, [], running);
    await scrapeUntil('the readable gauge at 0', (s) => s.get('av_nginx_log_readable') === 0);
    const missing = await fetch(`${base}/healthz`);
    assert.equal(missing.status, 503);
    assert.equal(((await missing.json()) as { log_missing: boolean }).log_missing, true);
    await writeFile(log, line(1));
    await scrapeUntil('the line', (s) => s.get(PARSED) === 1 && s.get('av_nginx_log_readable') === 1);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.ok((await scrapeUntil('a scrape', () => true)).get('av_nginx_log_last_read_timestamp_seconds')! > Date.now() / 1000 - 60);
    await exporter.stop();
  });
});
