// Real signals to the built exporter: none ends it without the state saved, and SIGHUP re-reads the web
// config instead of ending it.
import assert from 'node:assert/strict';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { basicAuthHeader, PARSED, startExporter } from './support/exporter-process.js';
import { testWorkspace, waitFor } from './support/real-programs.js';

const LINE = '{"status":200,"request_time":0.010,"request_method":"GET"}\n';

describe('signals', () => {
  const workspace = testWorkspace('av-signals-');
  const { running } = workspace;

  const endings: Array<[NodeJS.Signals, number]> = [['SIGTERM', 0], ['SIGINT', 0], ['SIGQUIT', 0], ['SIGUSR2', 128 + constants.signals.SIGUSR2]];
  for (const [signal, exitCode] of endings) {
    test(`${signal} ends it only after the state is saved (exit ${exitCode})`, async () => {
      const log = join(workspace.path(), `${signal}.log`);
      const state = join(workspace.path(), `${signal}.state.json`);
      await writeFile(log, LINE.repeat(3));
      const exporter = await startExporter(log, ['--positions-file', state, '--start-at', 'beginning'], running);
      await exporter.scrapeUntil('3 parsed lines', (s) => s.get(PARSED) === 3);
      await appendFile(log, LINE.repeat(2));
      await exporter.scrapeUntil('5 parsed lines', (s) => s.get(PARSED) === 5);
      await exporter.exporter.stop(signal);
      assert.equal(exporter.exporter.child.signalCode, null, `killed by ${exporter.exporter.child.signalCode}`);
      assert.equal(exporter.exporter.child.exitCode, exitCode, exporter.exporter.output());
      assert.match(exporter.exporter.output(), new RegExp(`${signal}: saving and shutting down`));
      const saved = JSON.parse(await readFile(state, 'utf8')) as { tally: { parsedLines: number }; files: Array<{ offset: number }> };
      assert.equal(saved.tally.parsedLines, 5);
      assert.equal(saved.files.at(-1)?.offset, LINE.length * 5);
    });
  }

  test('SIGHUP does not end it: it re-reads the web config, so a changed password works without a restart', async () => {
    const log = join(workspace.path(), 'hup.log');
    const web = join(workspace.path(), 'hup-web.yml');
    await writeFile(log, LINE);
    const users = (password: string) => `basic_auth_users:\n  prom: "${bcrypt.hashSync(password, 4)}"\n`;
    await writeFile(web, users('first-password'));
    const exporter = await startExporter(log, ['--web-config', web], running, basicAuthHeader('prom', 'first-password'));
    const status = async (password: string) => (await fetch(`${exporter.base}/healthz`, { headers: basicAuthHeader('prom', password) })).status;
    assert.equal(await status('first-password'), 200);

    await writeFile(web, users('second-password'));
    exporter.exporter.child.kill('SIGHUP');
    await waitFor('the reload', async () => (/SIGHUP: reloaded web config/.test(exporter.exporter.output()) ? true : undefined), 5000, [exporter.exporter]);
    assert.equal(await status('second-password'), 200);
    assert.equal(await status('first-password'), 401);

    await writeFile(web, 'basic_auth_users:\n  prom: "not a hash"\n');
    exporter.exporter.child.kill('SIGHUP');
    await waitFor('the refused reload', async () => (/SIGHUP: web config not reloaded, the previous one stays: basic_auth_users\.prom in \S+hup-web\.yml, line 2, column 3/.test(exporter.exporter.output()) ? true : undefined), 5000, [exporter.exporter]);
    assert.equal(await status('second-password'), 200);
    assert.equal(exporter.exporter.child.exitCode, null, 'still running');
    await exporter.exporter.stop('SIGTERM');
    assert.equal(exporter.exporter.child.exitCode, 0);

  });
});
