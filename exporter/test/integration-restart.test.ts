// The built exporter, killed with SIGKILL and restarted: Prometheus must see exact totals, never a
// counter going back, no line lost or counted twice.
import assert from 'node:assert/strict';
import { appendFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PARSED, startExporter } from './support/exporter-process.js';
import { fetchText, parseExposition, temporaryDirectory, waitFor, type RunningProgram } from './support/real-programs.js';

const STATUSES = [200, 200, 404, 500, 301];

function lines(count: number, first: number): string {
  let text = '';
  for (let i = first; i < first + count; i++) {
    text += `{"status":${STATUSES[i % STATUSES.length]},"request_time":${(i % 97) / 1000},"request_method":"GET"}\n`;
  }
  return text;
}

function expectedStatusCounts(total: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < total; i++) {
    const key = `av_nginx_http_requests_total{status="${STATUSES[i % STATUSES.length]}",method="GET"}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

describe('the exporter across restarts', () => {
  let dir: { path: string; remove: () => Promise<void> };
  const running: RunningProgram[] = [];

  before(async () => {
    dir = await temporaryDirectory('av-restart-');
  });
  after(async () => {
    await Promise.all(running.map((p) => p.stop('SIGKILL')));
    await dir.remove();
  });

  async function start(logFile: string, stateFile: string) {
    // from the beginning: these tests count a log that exists before the exporter's first start
    const { exporter, base } = await startExporter(logFile, ['--positions-file', stateFile, '--start-at', 'beginning'], running);
    return { exporter, url: `${base}/metrics` };
  }

  async function scrapeWhen(url: string, parsed: number, exporter: RunningProgram) {
    return waitFor(`${parsed} parsed lines`, async () => {
      const samples = parseExposition(await fetchText(url));
      return samples.get(PARSED) === parsed ? samples : undefined;
    }, 10_000, [exporter]);
  }

  test('continues exactly after kill -9, counting lines written while it was down once', async () => {
    const log = join(dir.path, 'kill.log');
    const state = join(dir.path, 'kill.state.json');
    await writeFile(log, lines(100, 0));
    let { exporter, url } = await start(log, state);
    await scrapeWhen(url, 100, exporter);
    await appendFile(log, lines(50, 100));
    const lastScraped = await scrapeWhen(url, 150, exporter);
    await appendFile(log, lines(30, 150)); // read, perhaps, but never scraped
    await exporter.stop('SIGKILL');
    await appendFile(log, lines(20, 180));

    ({ exporter, url } = await start(log, state));
    const samples = await scrapeWhen(url, 200, exporter);
    for (const [series, count] of expectedStatusCounts(200)) assert.equal(samples.get(series), count, series);
    for (const [series, value] of lastScraped) {
      if (series.startsWith('av_nginx_')) assert.ok(samples.get(series)! >= value, `${series} went back from ${value} to ${samples.get(series)}`);
    }
    assert.equal(samples.get('av_nginx_http_request_duration_seconds_count'), 200);
    await exporter.stop('SIGTERM');
    assert.equal(exporter.child.exitCode, 0, exporter.output());
  });

  test('finishes a file that was rotated away while it was down, then reads the new one', async () => {
    const log = join(dir.path, 'rotate.log');
    const state = join(dir.path, 'rotate.state.json');
    await writeFile(log, lines(40, 0));
    let { exporter, url } = await start(log, state);
    await scrapeWhen(url, 40, exporter);
    await exporter.stop('SIGKILL');
    await appendFile(log, lines(25, 40)); // the tail of the old file, written before the rotation
    await rename(log, `${log}.1`);
    await writeFile(log, lines(15, 65));

    ({ exporter, url } = await start(log, state));
    const samples = await scrapeWhen(url, 80, exporter);
    for (const [series, count] of expectedStatusCounts(80)) assert.equal(samples.get(series), count, series);
    assert.equal(samples.get('av_nginx_log_rotations_total{kind="rename"}'), 1);
    await exporter.stop('SIGTERM');
  });

  test('moves an unusable state file aside and starts from zero, saying so', async () => {
    const log = join(dir.path, 'corrupt.log');
    const state = join(dir.path, 'corrupt.state.json');
    await writeFile(log, lines(10, 0));
    await writeFile(state, '{ not json');
    const { exporter, url } = await start(log, state);
    await scrapeWhen(url, 10, exporter);
    assert.match(exporter.output(), /state file .* is not valid JSON; moved it to .*unusable-\d+ and starting from zero/);
    await exporter.stop('SIGTERM');
  });
});
