// backup.yml and restore.yml on a provisioned stand, for the end-to-end test (a phase of the sharded stand,
// after a load run): answers recorded at a fixed time in the past on every Prometheus and VictoriaMetrics, a
// backup taken while the stand runs, one host's data wiped, restore.yml for that host alone, the same
// answers again, exactly.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tool } from '../support/ansible.mjs';
import { onHosts, standClientOf, standHosts } from './stand-checks.mjs';

/** Queries whose answers at a past time must not change: the load's requests, by status and in total, and the targets. */
export const BACKUP_QUERIES = [
  'sum(av_nginx_http_requests_total)',
  'sum by (instance, status) (av_nginx_http_requests_total)',
  'sum by (le) (av_nginx_http_request_duration_seconds_bucket)',
  'count by (job) (up)',
];

/** Every query's answer at `at` on every Prometheus host and VictoriaMetrics host: { "host query": [series, sorted] }. */
async function answersAt(inventory, client, at, queries) {
  const { prometheus, victoriametrics } = await standHosts(inventory);
  const servers = [
    ...prometheus.map((host) => [host.name, `https://${host.address}:${host.vars.stand_prometheus_port}/`]),
    // VictoriaMetrics asked past its cache of answers, as scripts/lib/victoriametrics.mjs asks it
    ...victoriametrics.map((host) => [
      host.name,
      `https://${host.address}:${host.vars.stand_victoriametrics_port}/`,
      { name: 'VictoriaMetrics', params: { nocache: '1' } },
    ]),
  ];
  const answers = {};
  for (const [name, url, engine] of servers) {
    for (const query of queries) {
      const result = await client.prometheus(url, engine).instantQuery(query, at);
      answers[`${name} ${query}`] = result.map((series) => JSON.stringify([series.metric, series.value])).sort();
    }
  }
  return answers;
}

/**
 * backup.yml, then `wipe` (by default the last Prometheus host) loses its data: Prometheus stopped and its TSDB
 * emptied. With `replaceVictoriaMetrics` (a lab only), VictoriaMetrics' host is lost with its disk: made anew,
 * fresh, by `lab.mjs replace`, and provisioned by site.yml, as docs/backup.md says. Then restore.yml --limit
 * those hosts, from that backup. The answers of BACKUP_QUERIES (or `queries`) at `at`
 * (Unix seconds; by default 60 s before the backup, inside the load run that came before) on every Prometheus
 * and VictoriaMetrics must be exactly those before the backup, and not empty. Resolves with
 * { backupSeconds, replaceSeconds, restoreSeconds, files: { "<host>/<file>": bytes }, at, restored: [hosts] }.
 * @param {string} inventory
 * @param {{ wipe?: string[], replaceVictoriaMetrics?: boolean, at?: number, queries?: string[] }} [options]
 */
export async function checkBackupRestore(
  inventory,
  { wipe, replaceVictoriaMetrics = false, at, queries = BACKUP_QUERIES } = {},
) {
  const { prometheus, victoriametrics } = await standHosts(inventory);
  const client = await standClientOf(inventory);
  const when = at ?? Math.floor(Date.now() / 1000) - 60;
  const restored = wipe ?? [prometheus.at(-1).name];
  const vmHosts = replaceVictoriaMetrics ? victoriametrics.map((host) => host.name) : [];
  const before = await answersAt(inventory, client, when, queries);
  const empty = Object.entries(before)
    .filter(([, series]) => series.length === 0)
    .map(([key]) => key);
  assert.deepEqual(empty, [], `no answer before the backup at ${when}: is there a load run before it?`);

  const backupDir = await mkdtemp(join(tmpdir(), 'av-stand-backups-'));
  try {
    let started = Date.now();
    await tool('ansible-playbook', ['-i', inventory, 'backup.yml', '-e', `backup_dir=${backupDir}`]);
    const backupSeconds = (Date.now() - started) / 1000;
    const [run, ...more] = await readdir(backupDir);
    assert.equal(more.length, 0, `backup.yml made more than one backup in ${backupDir}`);
    const files = {};
    // each host's files in a directory of its own, beside the run's backup.json (written once all are done)
    const entries = await readdir(join(backupDir, run), { withFileTypes: true });
    assert.ok(
      entries.some((entry) => entry.name === 'backup.json' && entry.isFile()),
      `no backup.json in ${run}`,
    );
    for (const host of entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name)) {
      for (const file of await readdir(join(backupDir, run, host)))
        files[`${host}/${file}`] = (await stat(join(backupDir, run, host, file))).size;
    }
    for (const host of [...prometheus.map((h) => h.name)])
      assert.ok(
        files[`${host}/prometheus.tar.gz`] && files[`${host}/alertmanager.tar.gz`],
        `no backup of ${host}: ${JSON.stringify(files)}`,
      );
    for (const host of victoriametrics.map((h) => h.name))
      assert.ok(files[`${host}/victoriametrics.tar.gz`], `no backup of ${host}: ${JSON.stringify(files)}`);

    // the host dies with its data: Prometheus stopped, its TSDB gone
    for (const host of restored)
      await onHosts(
        inventory,
        host,
        'systemctl stop prometheus && find /var/lib/prometheus/metrics2 -mindepth 1 -delete',
      );
    // VictoriaMetrics' host dies with its disk: a new one in its place, provisioned as any fresh host
    started = Date.now();
    if (vmHosts.length > 0) {
      await tool('npx', ['zx', 'scripts/lab.mjs', 'replace', ...vmHosts]);
      await tool('ansible-playbook', ['-i', inventory, 'site.yml']);
    }
    const replaceSeconds = (Date.now() - started) / 1000;

    started = Date.now();
    await tool('ansible-playbook', [
      '-i',
      inventory,
      'restore.yml',
      '-e',
      `backup_from=${join(backupDir, run)}`,
      '--limit',
      [...restored, ...vmHosts].join(','),
    ]);
    const restoreSeconds = (Date.now() - started) / 1000;

    const after = await answersAt(inventory, client, when, queries);
    assert.deepEqual(
      after,
      before,
      `the answers at ${when} changed after restoring ${[...restored, ...vmHosts].join(', ')}`,
    );
    return { backupSeconds, replaceSeconds, restoreSeconds, files, at: when, restored: [...restored, ...vmHosts] };
  } finally {
    await rm(backupDir, { recursive: true, force: true });
  }
}
