// The state file under attack: numbers that JSON reads as Infinity, a full disk, values no log could
// have made. Each test runs the built exporter on real files, and checks that no count nginx logged is
// lost and nothing Prometheus would misread is exposed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { saveState } from '../src/state-file.js';
import { PARSED, startExporter, type RunningExporter } from './support/exporter-process.js';
import { testWorkspace, waitFor } from './support/real-programs.js';

const MALFORMED = 'av_nginx_log_lines_total{result="malformed"}';
const SAVE_FAILURES = 'av_exporter_state_save_failures_total';

function goodLines(count: number, status = 200): string {
  return `{"status":${status},"request_time":0.010,"request_method":"GET","body_bytes_sent":100}\n`.repeat(count);
}

async function readState(path: string): Promise<{ files: Array<Record<string, unknown>>; tally: Record<string, unknown> }> {
  return JSON.parse(await readFile(path, 'utf8'));
}

async function health(exporter: RunningExporter): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${exporter.base}/healthz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('the state file against hostile input and faults', () => {
  const workspace = testWorkspace('av-hostile-state-');
  const { running } = workspace;

  const start = (log: string, state: string, startAt = 'beginning') =>
    startExporter(log, ['--positions-file', state, '--start-at', startAt], running);

  /** Runs the exporter on `text` until it has counted `parsed` lines, stops it, and returns its state file. */
  async function countThenStop(log: string, state: string, text: string, parsed: number) {
    await writeFile(log, text);
    const exporter = await start(log, state);
    await exporter.scrapeUntil(`${parsed} parsed lines`, (s) => s.get(PARSED) === parsed);
    await exporter.exporter.stop('SIGTERM');
    return readState(state);
  }

  test('a number JSON reads as Infinity is a malformed line and cannot wipe the counts at the next start', async () => {
    const log = join(workspace.path(), 'infinity.log');
    const state = join(workspace.path(), 'infinity.state.json');
    await writeFile(log, goodLines(3) + '{"status":200,"request_time":1e999}\n' +
      '{"status":200,"request_time":1.7e308}\n{"status":200,"request_time":1.7e308}\n' +
      '{"status":200,"request_time":0.1,"body_bytes_sent":1e999}\n');
    let exporter = await start(log, state);
    let samples = await exporter.scrapeUntil('3 parsed lines', (s) => s.get(PARSED) === 3);
    assert.equal(samples.get(MALFORMED), 4);
    assert.equal(samples.get('av_nginx_http_request_duration_seconds_sum'), 0.03);
    assert.equal(samples.get('av_nginx_http_response_body_bytes_total'), 300);
    await exporter.exporter.stop('SIGTERM');
    assert.doesNotMatch(await readFile(state, 'utf8'), /null|Infinity/);

    await appendFile(log, goodLines(2));
    exporter = await start(log, state);
    samples = await exporter.scrapeUntil('5 parsed lines', (s) => s.get(PARSED) === 5);
    assert.equal(samples.get(MALFORMED), 4, 'the malformed count went on from the saved one');
    assert.doesNotMatch(exporter.exporter.output(), /moved it to|refused/);
    await exporter.exporter.stop('SIGTERM');
  });

  test('negative and absurd totals in a state file are refused by name, and the position and the sound totals are kept', async () => {
    const log = join(workspace.path(), 'absurd.log');
    const state = join(workspace.path(), 'absurd.state.json');
    const saved = await countThenStop(log, state, goodLines(6, 200) + goodLines(4, 404), 10);
    const requests = saved.tally.requests as Array<{ status: string; method: string; count: number }>;
    requests.find((r) => r.status === '200' && r.method === 'GET')!.count = -5;
    saved.tally.malformedLines = 2 ** 60;
    await writeFile(state, JSON.stringify(saved));
    await appendFile(log, goodLines(1, 200) + goodLines(1, 404));

    const exporter = await start(log, state);
    const samples = await exporter.scrapeUntil('12 parsed lines', (s) => s.get(PARSED) === 12);
    const output = exporter.exporter.output();
    assert.match(output, /refused request count \{"status":"200","method":"GET","count":-5\}: expected a whole number >= 0, got -5; it starts from zero/);
    assert.match(output, /refused total malformedLines: 1152921504606847000 is past 2\^53, more than any log holds; it starts from zero/);
    assert.match(output, /kept the parts that are sound; the file as it was is copied to \S+absurd\.state\.json\.refused-\d+/);
    assert.equal(samples.get('av_nginx_http_requests_total{status="200",method="GET"}'), 1, 'the refused count starts over, with the new line only');
    assert.equal(samples.get('av_nginx_http_requests_total{status="404",method="GET"}'), 5, 'a sound count goes on, and no line was read twice');
    assert.equal(samples.get(MALFORMED), 0);
    await exporter.exporter.stop('SIGTERM');
  });

  test('a fingerprint of 2^50 bytes in a state file is refused, not stuck at 503, and the position holds', async () => {
    const log = join(workspace.path(), 'fingerprint.log');
    const state = join(workspace.path(), 'fingerprint.state.json');
    const saved = await countThenStop(log, state, goodLines(5), 5);
    (saved.files[0]!.fingerprint as { bytes: number }).bytes = 2 ** 50;
    await writeFile(state, JSON.stringify(saved));
    await appendFile(log, goodLines(2));

    const exporter = await start(log, state);
    await exporter.scrapeUntil('7 parsed lines', (s) => s.get(PARSED) === 7);
    assert.match(exporter.exporter.output(), /refused the fingerprint of \S+fingerprint\.log: expected 0 to 256 bytes, got 1125899906842624 \(the file is known by its inode alone\)/);
    assert.equal((await health(exporter)).status, 200);
    await exporter.exporter.stop('SIGTERM');
  });

  test('a scrape does not save the state file: the save runs after reading, off the request path', async () => {
    const log = join(workspace.path(), 'scrape.log');
    const state = join(workspace.path(), 'scrape.state.json');
    await writeFile(log, goodLines(3));
    const exporter = await start(log, state);
    await exporter.scrapeUntil('3 parsed lines', (s) => s.get(PARSED) === 3);
    await sleep(200); // the save after the last read is done
    const before = (await readState(state) as unknown as { savedAt: string }).savedAt;
    for (let i = 0; i < 5; i++) await exporter.scrape();
    assert.equal((await readState(state) as unknown as { savedAt: string }).savedAt, before);
    await appendFile(log, goodLines(1));
    const samples = await exporter.scrapeUntil('4 parsed lines', (s) => s.get(PARSED) === 4);
    assert.ok(((await readState(state)).tally.parsedLines as number) >= samples.get(PARSED)!, 'exposed totals never exceed saved ones');
    await exporter.exporter.stop('SIGTERM');
  });

  test('a full disk leaves the previous state file whole, is reported, and loses no count', async (t) => {
    const mountPoint = join(workspace.path(), 'small-fs');
    await mkdir(mountPoint);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=96k', 'tmpfs', mountPoint], { stdio: 'pipe' });
    } catch (error) {
      t.skip(`cannot mount a small tmpfs here (needs root): ${(error as Error).message.split('\n')[0]}`);
      return;
    }
    t.after(() => execFileSync('umount', [mountPoint]));
    const log = join(workspace.path(), 'full-disk.log');
    const state = join(mountPoint, 'state.json');
    const filler = join(mountPoint, 'filler');
    await writeFile(log, goodLines(10));
    let exporter = await start(log, state);
    await exporter.scrapeUntil('10 parsed lines', (s) => s.get(PARSED) === 10);

    await writeFile(filler, Buffer.alloc(256 * 1024)).catch(() => {}); // ENOSPC: the file system is now full
    await appendFile(log, goodLines(5, 404));
    const failing = await waitFor('a failed save', async () => {
      const answer = await health(exporter);
      return answer.status === 503 ? answer : undefined;
    }, 10_000, [exporter.exporter]);
    assert.match(String(failing.body.state_save_error), /cannot save state file \S+state\.json: (ENOSPC|short write)/);
    assert.equal(failing.body.ok, false);
    const frozen = await exporter.scrapeUntil('the failures counted', (s) => s.get(SAVE_FAILURES)! > 0);
    assert.equal(frozen.get(PARSED), 10, 'totals that could not be saved are not exposed');
    assert.equal((await readState(state)).tally.parsedLines, 10, 'the previous state file is whole');
    assert.match(exporter.exporter.output(), /warning: cannot save state file .*; the previous state stays/);

    await rm(filler);
    await exporter.scrapeUntil('15 parsed lines once saved again', (s) => s.get(PARSED) === 15);
    assert.equal((await health(exporter)).status, 200);
    await exporter.exporter.stop('SIGKILL');
    await appendFile(log, goodLines(1));
    exporter = await start(log, state);
    const samples = await exporter.scrapeUntil('16 parsed lines', (s) => s.get(PARSED) === 16);
    assert.equal(samples.get('av_nginx_http_requests_total{status="404",method="GET"}'), 5);
    await exporter.exporter.stop('SIGTERM');
  });
});

describe('saving the state', () => {
  const workspace = testWorkspace('av-save-');

  test('a snapshot holding a value it could not read back is not saved, and the previous file stays', async () => {
    const path = join(workspace.path(), 'state.json');
    const tally = { requests: [], duration: { bounds: [1], counts: [1, 0], sum: 0.5, count: 1 }, upstream: { bounds: [1], counts: [0, 0], sum: 0, count: 0 }, bodyBytes: 0, parsedLines: 1, malformedLines: 0 };
    await saveState(path, null, tally);
    const before = await readFile(path, 'utf8');
    await assert.rejects(saveState(path, null, { ...tally, duration: { ...tally.duration, sum: Infinity } }),
      /refusing to save a state it could not read back: the duration histogram: expected a finite number >= 0, got Infinity/);
    assert.equal(await readFile(path, 'utf8'), before);
  });
});
