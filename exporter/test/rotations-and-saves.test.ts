// The built exporter against rotations it did not see happen, odd directory entries, a deleted log,
// lines with the largest values nginx writes, and a state file it must not follow or overwrite: real
// files, real renames, real signals.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { watch } from 'node:fs';
import { appendFile, chmod, mkdir, readFile, readdir, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { saveState } from '../src/state-file.js';
import { PARSED, startExporter, type RunningExporter } from './support/exporter-process.js';
import { EXPORTER, freePort, startProgram, testWorkspace, waitFor } from './support/real-programs.js';

const STATUSES = [200, 404, 500, 301];
const GAPS = 'av_nginx_log_gaps_total';
const GAP_BYTES = 'av_nginx_log_gap_bytes_total';
const RENAMES = 'av_nginx_log_rotations_total{kind="rename"}';
const SAVE_FAILURES = 'av_exporter_state_save_failures_total';

/** `count` lines numbered from `first`, their statuses cycling through STATUSES. */
function lines(count: number, first: number): string {
  let text = '';
  for (let i = first; i < first + count; i++) text += `{"status":${STATUSES[i % STATUSES.length]},"request_time":0.0${i % 10},"request_method":"GET"}\n`;
  return text;
}

function assertStatusCounts(samples: Map<string, number>, total: number): void {
  for (const status of STATUSES) {
    const expected = Array.from({ length: total }, (_, i) => STATUSES[i % STATUSES.length]).filter((s) => s === status).length;
    assert.equal(samples.get(`av_nginx_http_requests_total{status="${status}",method="GET"}`), expected, `status ${status}`);
  }
}

async function health(exporter: RunningExporter): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${exporter.base}/healthz`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('rotations the exporter did not see happen', () => {
  const workspace = testWorkspace('av-unseen-');
  const start = (log: string, state: string, flags: string[] = []) =>
    startExporter(log, ['--positions-file', state, '--start-at', 'beginning', ...flags], workspace.running);

  /** A log of `count` lines counted by an exporter that is then stopped. */
  async function countedThenStopped(name: string, count: number) {
    const log = join(workspace.path(), `${name}.log`);
    const state = join(workspace.path(), `${name}.state.json`);
    await writeFile(log, lines(count, 0));
    const exporter = await start(log, state);
    await exporter.scrapeUntil(`${count} parsed lines`, (s) => s.get(PARSED) === count);
    await exporter.exporter.stop('SIGTERM');
    return { log, state };
  }

  test('rotated twice while it was stopped: after a restart every line is counted, the middle file too', async () => {
    const { log, state } = await countedThenStopped('twice', 10);
    await appendFile(log, lines(5, 10));
    await rename(log, `${log}.1`);
    await writeFile(log, lines(20, 15)); // the middle file, never seen
    await rename(`${log}.1`, `${log}.2`);
    await rename(log, `${log}.1`);
    await writeFile(log, lines(7, 35));
    const exporter = await start(log, state);
    const samples = await exporter.scrapeUntil('42 parsed lines', (s) => s.get(PARSED) === 42);
    assertStatusCounts(samples, 42);
    assert.equal(samples.get(RENAMES), 2);
    assert.equal(samples.get(GAPS), 0);
    await sleep(300);
    assert.equal((await exporter.scrape()).get(PARSED), 42, 'nothing counted twice');
    await exporter.exporter.stop('SIGTERM');
  });

  test('rotated twice within one poll: the middle file is counted', async () => {
    const log = join(workspace.path(), 'one-poll.log');
    const state = join(workspace.path(), 'one-poll.state.json');
    await writeFile(log, lines(10, 0));
    const exporter = await start(log, state, ['--poll-interval-ms', '1500']);
    await exporter.scrapeUntil('10 parsed lines', (s) => s.get(PARSED) === 10);
    // both rotations within a few ms: the next poll finds the log two rotations on
    await appendFile(log, lines(3, 10));
    await rename(log, `${log}.1`);
    await writeFile(log, lines(12, 13));
    await rename(`${log}.1`, `${log}.2`);
    await rename(log, `${log}.1`);
    await writeFile(log, lines(4, 25));
    const samples = await exporter.scrapeUntil('29 parsed lines', (s) => s.get(PARSED) === 29);
    assertStatusCounts(samples, 29);
    assert.equal(samples.get(RENAMES), 2);
    await exporter.exporter.stop('SIGTERM');
  });

  test('a gzipped middle file is one gap, with its bytes; the files around it are read', async () => {
    const { log, state } = await countedThenStopped('gzipped', 8);
    await appendFile(log, lines(2, 8));
    await rename(log, `${log}.1`);
    const lost = lines(30, 101); // other first bytes than the saved file's: a copy of it would be known by them
    await writeFile(log, lost);
    await rename(`${log}.1`, `${log}.2`);
    await writeFile(`${log}.1.gz`, gzipSync(lost)); // logrotate's compress: the middle file, compressed
    await rm(log);
    await writeFile(log, lines(6, 10));
    const exporter = await start(log, state);
    const samples = await exporter.scrapeUntil('16 parsed lines', (s) => s.get(PARSED) === 16);
    assertStatusCounts(samples, 16);
    assert.equal(samples.get(GAPS), 1);
    assert.equal(samples.get(GAP_BYTES), Buffer.byteLength(lost));
    assert.match(exporter.exporter.output(), /gzipped\.log\.1\.gz was rotated and compressed before it could be read: its lines were not counted/);
    await exporter.exporter.stop('SIGTERM');
  });

  test('entries of the log directory that cannot be stat\'ed do not stop the resume, and /healthz stays 200', async () => {
    const sub = join(workspace.path(), 'odd-entries');
    await mkdir(sub);
    const log = join(sub, 'access.log');
    const state = join(workspace.path(), 'odd-entries.state.json');
    await writeFile(log, lines(5, 0));
    let exporter = await start(log, state);
    await exporter.scrapeUntil('5 parsed lines', (s) => s.get(PARSED) === 5);
    await exporter.exporter.stop('SIGTERM');
    await symlink('loop-b', join(sub, 'loop-a'));
    await symlink('loop-a', join(sub, 'loop-b'));
    await symlink('access.log.3', join(sub, 'access.log.3')); // a loop under a rotation's own name
    await writeFile(join(sub, 'plain-file'), '');
    await symlink(join(sub, 'plain-file', 'below'), join(sub, 'access.log-20250101')); // ENOTDIR
    await appendFile(log, lines(3, 5));
    await rename(log, `${log}.1`);
    await writeFile(log, lines(4, 8));
    exporter = await start(log, state);
    const samples = await exporter.scrapeUntil('12 parsed lines', (s) => s.get(PARSED) === 12);
    assertStatusCounts(samples, 12);
    assert.equal((await health(exporter)).status, 200);
    await exporter.exporter.stop('SIGTERM');
  });

  test('a log deleted and not recreated: /healthz says so after the rotate wait, and no descriptor holds the deleted file', async () => {
    const log = join(workspace.path(), 'deleted.log');
    const state = join(workspace.path(), 'deleted.state.json');
    await writeFile(log, lines(5, 0));
    const exporter = await start(log, state, ['--rotate-wait-seconds', '0.5']);
    await exporter.scrapeUntil('5 parsed lines', (s) => s.get(PARSED) === 5);
    assert.equal((await health(exporter)).status, 200);
    await rm(log);
    const unhealthy = await waitFor('/healthz to answer 503', async () => {
      const answer = await health(exporter);
      return answer.status === 503 ? answer : undefined;
    }, 10_000, [exporter.exporter]);
    assert.equal(unhealthy.body.log_missing, true);
    assert.match(String(unhealthy.body.log_problem), /deleted\.log was deleted or renamed and nothing took its place within the rotate wait \(0\.5 s\)/);
    const pid = exporter.exporter.child.pid!;
    const held = await Promise.all((await readdir(`/proc/${pid}/fd`)).map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
    assert.deepEqual(held.filter((target) => target.endsWith('(deleted)')), [], 'a descriptor still points at a deleted file');
    assert.equal((await exporter.scrape()).get('av_nginx_log_readable'), 0);
    await writeFile(log, lines(2, 5));
    await exporter.scrapeUntil('7 parsed lines', (s) => s.get(PARSED) === 7);
    assert.equal((await health(exporter)).status, 200);
    await exporter.exporter.stop('SIGTERM');
  });
});

describe('saving the state, under load and against its surroundings', () => {
  const workspace = testWorkspace('av-saves-');
  const start = (log: string, state: string) =>
    startExporter(log, ['--positions-file', state, '--start-at', 'beginning'], workspace.running);

  test('lines with the largest body nginx writes never block a save, and the counters survive a restart', async () => {
    const log = join(workspace.path(), 'huge-bodies.log');
    const state = join(workspace.path(), 'huge-bodies.state.json');
    await writeFile(log, '{"status":200,"request_time":0.001,"request_method":"GET","body_bytes_sent":9223372036854775807}\n'.repeat(200));
    let exporter = await start(log, state);
    let samples = await exporter.scrapeUntil('200 parsed lines', (s) => s.get(PARSED) === 200);
    assert.equal(samples.get(SAVE_FAILURES), 0);
    assert.equal(samples.get('av_nginx_http_response_body_bytes_total'), 200 * 2 ** 63);
    assert.equal((await health(exporter)).status, 200);
    await exporter.exporter.stop('SIGTERM');
    await appendFile(log, '{"status":200,"request_time":0.001,"request_method":"GET","body_bytes_sent":1}\n');
    exporter = await start(log, state);
    samples = await exporter.scrapeUntil('201 parsed lines', (s) => s.get(PARSED) === 201);
    assert.equal(samples.get('av_nginx_http_requests_total{status="200",method="GET"}'), 201);
    assert.doesNotMatch(exporter.exporter.output(), /refused|moved it to/);
    await exporter.exporter.stop('SIGTERM');
  });

  test('at most one save a second under a steady load, and a SIGKILL right after writing costs no count', async () => {
    const log = join(workspace.path(), 'steady.log');
    const state = join(workspace.path(), 'steady.state.json');
    await writeFile(log, '');
    let exporter = await start(log, state);
    let saves = 0;
    const watcher = watch(workspace.path(), (_event, name) => {
      if (name === 'steady.state.json') saves++; // each save renames the temporary file onto it
    });
    let written = 0;
    const startedAt = Date.now();
    while (Date.now() - startedAt < 3000) {
      await appendFile(log, lines(20, written));
      written += 20;
      await sleep(20);
    }
    const seconds = (Date.now() - startedAt) / 1000;
    watcher.close();
    assert.ok(saves <= Math.ceil(seconds) + 1, `${saves} saves in ${seconds} s`);
    assert.ok(saves >= 2, `${saves} saves in ${seconds} s: the state must still be saved`);
    await appendFile(log, lines(20, written));
    written += 20;
    await exporter.exporter.stop('SIGKILL');
    exporter = await start(log, state);
    const samples = await exporter.scrapeUntil(`${written} parsed lines`, (s) => s.get(PARSED) === written);
    assertStatusCounts(samples, written);
    assert.equal(samples.get('av_nginx_http_request_duration_seconds_count'), written);
    await exporter.exporter.stop('SIGTERM');
  });

  test('a symlink at the temporary name is not followed: the file it points at stays as it was', async () => {
    const path = join(workspace.path(), 'symlinked.state.json');
    const victim = join(workspace.path(), 'precious.txt');
    await writeFile(victim, 'precious\n');
    await symlink(victim, `${path}.tmp`);
    const tally = { requests: [], duration: { bounds: [1], counts: [1, 0], sum: 0.5, count: 1 }, upstream: { bounds: [1], counts: [0, 0], sum: 0, count: 0 }, bodyBytes: 0, parsedLines: 1, malformedLines: 0 };
    await saveState(path, null, tally);
    assert.equal(await readFile(victim, 'utf8'), 'precious\n');
    assert.ok((await stat(path)).isFile());
    assert.equal(JSON.parse(await readFile(path, 'utf8')).tally.parsedLines, 1);
    // a stale regular temporary file (left by a crash) is replaced as well
    await writeFile(`${path}.tmp`, 'half a state');
    await saveState(path, null, { ...tally, parsedLines: 2, duration: { ...tally.duration, counts: [2, 0], count: 2 } });
    assert.equal(JSON.parse(await readFile(path, 'utf8')).tally.parsedLines, 2);
  });

  test('a state file that cannot be read stops the start, names the file and what to do, and is left in place', async () => {
    const log = join(workspace.path(), 'blocked.log');
    const state = join(workspace.path(), 'blocked.state.json');
    await writeFile(log, lines(3, 0));
    await mkdir(state); // EISDIR, whoever runs the test
    const exporter = startProgram('av-exporter', process.execPath, [EXPORTER, '--log-file', log, '--positions-file', state, '--listen', `127.0.0.1:${await freePort()}`]);
    workspace.running.push(exporter);
    await waitFor('the exporter to exit', async () => (exporter.child.exitCode !== null ? true : undefined), 10_000, [exporter]);
    assert.equal(exporter.child.exitCode, 1);
    assert.match(exporter.output(), new RegExp(`cannot read state file ${state} \\(EISDIR[^)]*\\): it is kept as it is, and the exporter does not start\\. Something other than a file is at that path`));
    assert.ok((await stat(state)).isDirectory(), 'not moved aside');
    assert.deepEqual((await readdir(workspace.path())).filter((name) => name.includes('unusable')), []);
  });

  test('a state file the exporter\'s user may not read (EACCES, run as nobody) stops the start and is left in place', async (t) => {
    const dir = join(workspace.path(), 'as-nobody');
    await mkdir(dir);
    await chmod(workspace.path(), 0o755);
    await chmod(dir, 0o777);
    const log = join(dir, 'access.log');
    const state = join(dir, 'state.json');
    await writeFile(log, lines(3, 0), { mode: 0o644 });
    await writeFile(state, '{"version":2}', { mode: 0o600 }); // root's, as after a run by hand as root
    const asNobody = ['--reuid=nobody', '--regid=nogroup', '--clear-groups'];
    try {
      execFileSync('setpriv', [...asNobody, process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(EXPORTER)})`], { stdio: 'pipe' });
      execFileSync('setpriv', [...asNobody, 'cat', state], { stdio: 'pipe' });
      t.skip('nobody can read the state file here (not running as root?)');
      return;
    } catch (error) {
      if (!/Permission denied/.test(String((error as { stderr?: Buffer }).stderr ?? ''))) {
        t.skip(`cannot run node as nobody here: ${(error as Error).message.split('\n')[0]}`);
        return;
      }
    }
    const exporter = startProgram('av-exporter', 'setpriv', [...asNobody, process.execPath, EXPORTER, '--log-file', log, '--positions-file', state, '--listen', `127.0.0.1:${await freePort()}`]);
    workspace.running.push(exporter);
    await waitFor('the exporter to exit', async () => (exporter.child.exitCode !== null ? true : undefined), 10_000, [exporter]);
    assert.equal(exporter.child.exitCode, 1);
    assert.match(exporter.output(), new RegExp(`cannot read state file ${state} \\(EACCES[^)]*\\): it is kept as it is, and the exporter does not start\\. Give it back to the exporter's user \\(chown`));
    assert.equal(await readFile(state, 'utf8'), '{"version":2}');
  });
});
