// The log path under attack, with the built exporter: something other than a regular file there, and a
// file that ends without a newline for --one-shot.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { PARSED, startExporter, type RunningExporter } from './support/exporter-process.js';
import { EXPORTER, testWorkspace, waitFor } from './support/real-programs.js';

const LINE = '{"status":200,"request_time":0.010,"request_method":"GET"}\n';

async function healthWhen(exporter: RunningExporter, status: number): Promise<Record<string, unknown>> {
  return waitFor(`/healthz ${status}`, async () => {
    const response = await fetch(`${exporter.base}/healthz`);
    const body = (await response.json()) as Record<string, unknown>;
    return response.status === status ? body : undefined;
  }, 10_000, [exporter.exporter]);
}

/**
 * While something other than a regular file is at the log path: /healthz 503 naming it, readable 0, one
 * log line. Then `makeRegular` puts a regular file there, and counting goes on to `parsed` lines.
 */
async function assertReportedUntilRegular(exporter: RunningExporter, problem: RegExp, makeRegular: () => Promise<void>, parsed: number): Promise<void> {
  const body = await healthWhen(exporter, 503);
  assert.match(String(body.last_error), problem);
  assert.equal((await exporter.scrape()).get('av_nginx_log_readable'), 0);
  await makeRegular();
  await exporter.scrapeUntil(`${parsed} parsed lines`, (s) => s.get(PARSED) === parsed);
  await healthWhen(exporter, 200);
  assert.equal(exporter.exporter.output().match(new RegExp(problem.source, 'g'))?.length, 1, exporter.exporter.output());
}

/** Stops with SIGTERM and returns how long the exit took, in ms. */
async function stopTimed(exporter: RunningExporter): Promise<number> {
  const started = Date.now();
  await exporter.exporter.stop('SIGTERM');
  return Date.now() - started;
}

describe('what is at the log path', () => {
  const workspace = testWorkspace('av-hostile-log-');
  const { running } = workspace;

  test('a directory at the log path is reported (503, readable 0, one log line) and counting resumes with a regular file', async () => {
    const log = join(workspace.path(), 'dir.log');
    await writeFile(log, LINE.repeat(2));
    const exporter = await startExporter(log, ['--start-at', 'beginning'], running);
    await exporter.scrapeUntil('2 parsed lines', (s) => s.get(PARSED) === 2);
    await rm(log);
    await mkdir(log);
    await assertReportedUntilRegular(exporter, /dir\.log is a directory, not a regular file/, async () => {
      await rmdir(log);
      await writeFile(log, LINE.repeat(3));
    }, 5);
    assert.equal(await stopTimed(exporter) < 5000, true);
    assert.equal(exporter.exporter.child.exitCode, 0);
  });

  test('a FIFO at the log path is reported, never hangs, SIGTERM still ends it, and a regular file brings counting back', async () => {
    const log = join(workspace.path(), 'fifo.log');
    execFileSync('mkfifo', [log]);
    let exporter = await startExporter(log, ['--start-at', 'beginning'], running);
    await assertReportedUntilRegular(exporter, /fifo\.log is a FIFO, not a regular file/, async () => {
      await rm(log);
      await writeFile(log, LINE.repeat(4));
    }, 4);
    await exporter.exporter.stop('SIGTERM');

    await rm(log);
    execFileSync('mkfifo', [log]);
    exporter = await startExporter(log, [], running);
    await healthWhen(exporter, 503);
    const ms = await stopTimed(exporter);
    assert.ok(ms < 5000, `SIGTERM took ${ms} ms`);
    assert.equal(exporter.exporter.child.exitCode, 0, exporter.exporter.output());
  });

  test('--one-shot counts a last line without a newline', async () => {
    const log = join(workspace.path(), 'unterminated.log');
    await writeFile(log, LINE + LINE.trimEnd());
    const result = spawnSync(process.execPath, [EXPORTER, '--log-file', log, '--one-shot'], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^av_nginx_log_lines_total\{result="parsed"\} 2$/m);
    assert.match(result.stdout, /^av_nginx_log_lines_total\{result="malformed"\} 0$/m);
  });
});
