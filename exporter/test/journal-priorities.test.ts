// Log lines carry journald's priority prefix (<6> info, <4> warning, <3> error) only when stderr is the
// journal stream systemd connected: JOURNAL_STREAM naming stderr's device and inode. The built exporter,
// its stderr a real file standing in for the journal's socket.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EXPORTER, freePort, testWorkspace, waitFor } from './support/real-programs.js';

describe('log lines and the journal', () => {
  const workspace = testWorkspace('av-journal-');

  /** Runs the exporter with stderr into a file; `journal`: JOURNAL_STREAM names that file, else another one. */
  async function stderrOf(name: string, args: string[], journal: boolean, until: (stderr: string) => boolean = () => false): Promise<{ stderr: string; code: number | null }> {
    const file = join(workspace.path(), `${name}.stderr`);
    const fd = openSync(file, 'w');
    const { dev, ino } = fstatSync(journal ? fd : 0);
    const child = spawn(process.execPath, [EXPORTER, ...args], { stdio: ['ignore', 'ignore', fd], env: { ...process.env, JOURNAL_STREAM: `${dev}:${ino}` } });
    closeSync(fd);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let done = false;
    void exited.then(() => (done = true));
    await waitFor(`${name}: its output`, async () => (done || until(readFileSync(file, 'utf8')) ? true : undefined), 10_000);
    if (!done) child.kill('SIGTERM');
    const code = await exited;
    return { stderr: readFileSync(file, 'utf8'), code };
  }

  test('under the journal: <3> before the error that stops it, <4> warnings, <6> the rest', async () => {
    const refused = await stderrOf('refused', ['--listen', 'foo'], true);
    assert.equal(refused.code, 2);
    assert.equal(refused.stderr, '<3>av-exporter: --listen: expected HOST:PORT (port 1-65535), got "foo"\n');

    const log = join(workspace.path(), 'access.log');
    writeFileSync(log, '');
    const openWeb = join(workspace.path(), 'open-web.yml');
    writeFileSync(openWeb, '');
    const running = await stderrOf('running', ['--log-file', log, '--listen', `127.0.0.1:${await freePort()}`, '--web-config', openWeb], true, (stderr) => /SIGTERM|listening/.test(stderr));
    const lines = running.stderr.trimEnd().split('\n');
    assert.ok(lines.length >= 3, running.stderr);
    for (const line of lines) assert.match(line, /^<[346]>av-exporter: /, running.stderr);
    assert.match(running.stderr, /^<4>av-exporter: warning: web config \S+ sets neither tls_server_config nor basic_auth_users/m);
    assert.match(running.stderr, /^<6>av-exporter: metrics listening on 127\.0\.0\.1:\d+$/m);
    assert.match(running.stderr, /^<6>av-exporter: SIGTERM: saving and shutting down$/m);
  });

  test('on a terminal or into a file (JOURNAL_STREAM absent, or naming another stream): clean lines', async () => {
    const refused = await stderrOf('refused-plain', ['--listen', 'foo'], false);
    assert.equal(refused.code, 2);
    assert.equal(refused.stderr, 'av-exporter: --listen: expected HOST:PORT (port 1-65535), got "foo"\n');
  });
});
