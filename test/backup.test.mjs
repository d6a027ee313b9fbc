// backup.yml and restore.yml (issue #26, item 3) without the lab: the playbooks themselves, run by Ansible
// against this machine (connection local) whose "stand" is a real Prometheus (Debian 12's, /usr/bin/prometheus)
// and a real Alertmanager on loopback, with the stand's HTTPS and password, each in a temporary directory:
// Prometheus scrapes itself and two av-exporters following logs the test writes; a silence is made in
// Alertmanager. backup.yml snapshots Prometheus through its admin API and packs Alertmanager's state; restore.yml
// puts them into fresh data directories (its tasks that stop and start systemd units are tagged
// backup_service_control and skipped here: this machine's own services are never touched); a second
// Prometheus and Alertmanager on those directories answer the same queries exactly and hold the silence. The
// refusals, each before anything changes, by their messages. Every process is stopped by its pid.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  cpSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { tool } from './support/ansible.mjs';
import { freePort } from '../scripts/lib/ports.mjs';
import {
  debian12Build,
  DEBIAN12_MISSING,
  makeSecrets,
  startAvExporters,
  startProcess,
  startPrometheus,
  victoriaMetricsBinary,
  waitForData,
} from './support/local-prometheus.mjs';

const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';
const HOST = 'local1';
const VM_HOST = 'local2';
/** POSTs `text` to an HTTPS `url` with the stand's CA and user, as remote_write would; resolves with the status. */
function postText(url, text, secretsDir) {
  const password = readFileSync(join(secretsDir, 'admin.password'), 'utf8').trim();
  return new Promise((resolve, reject) => {
    const request = https.request(
      url,
      { method: 'POST', ca: readFileSync(join(secretsDir, 'ca.crt')), auth: `admin:${password}` },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode));
      },
    );
    request.on('error', reject);
    request.end(text);
  });
}

/** Bytes under a directory (du -sb). */
const sizeOf = (path) => Number(execFileSync('du', ['-sb', path], { encoding: 'utf8' }).split('\t')[0]);

describe('backup.yml and restore.yml, on a Prometheus and an Alertmanager on loopback', { timeout: 600_000 }, () => {
  let work;
  let secretsDir;
  let client;
  let exporters;
  let prometheus;
  let alertmanager;
  let amDir;
  let inventory;
  const stopped = [];
  const figures = {};
  let build;
  let skip = '';
  let vmBinary = null;
  let vm = null;

  /** VictoriaMetrics on loopback on `dir`, with the stand's TLS and user, as role victoriametrics starts it. */
  async function startVictoriaMetrics(dir) {
    const port = await freePort();
    const password = readFileSync(join(secretsDir, 'admin.password'), 'utf8').trim();
    const url = `https://127.0.0.1:${port}`;
    const proc = await startProcess(
      'VictoriaMetrics',
      vmBinary,
      [
        `-storageDataPath=${dir}`,
        `-httpListenAddr=127.0.0.1:${port}`,
        '-retentionPeriod=1y',
        '-search.latencyOffset=0s',
        '-tls',
        `-tlsCertFile=${join(secretsDir, 'server.crt')}`,
        `-tlsKeyFile=${join(secretsDir, 'server.key')}`,
        '-httpAuth.username=admin',
        `-httpAuth.password=${password}`,
      ],
      async () => (await client.get(`${url}/health`, { timeoutMs: 2000 })).status === 200,
    );
    return { url, port, dir, ...proc };
  }

  /** VictoriaMetrics' answers over [from, to]: the same range queries. */
  async function vmAnswers(url, from, to) {
    const { body } = await client.getJson(
      `${url}/api/v1/query_range?query=${encodeURIComponent('sum by (instance, status) (backup_test_requests_total)')}&start=${from}&end=${to}&step=60&nocache=1`,
    );
    assert.equal(body?.status, 'success', JSON.stringify(body));
    return body.data.result.map((r) => JSON.stringify(r)).sort();
  }

  /** An Alertmanager on loopback (plain HTTP, no cluster) on `dir`, writing its state every second. */
  async function startAlertmanager(dir) {
    const port = await freePort();
    const config = join(work, `alertmanager-${port}.yml`);
    writeFileSync(config, 'route: {receiver: none}\nreceivers: [{name: none}]\n');
    const proc = await startProcess(
      'Alertmanager',
      ALERTMANAGER,
      [
        `--config.file=${config}`,
        `--storage.path=${dir}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
        '--data.maintenance-interval=1s',
      ],
      async () => (await fetch(`http://127.0.0.1:${port}/-/ready`)).ok,
    );
    return { url: `http://127.0.0.1:${port}`, ...proc };
  }

  /** ansible-playbook PLAYBOOK against this machine's "stand", with these extra vars; its output, failed or not. */
  async function playbook(name, extraVars = {}, args = []) {
    const varsFile = join(work, `vars-${Date.now()}.json`);
    writeFileSync(
      varsFile,
      JSON.stringify({
        // role vars outrank the inventory: where this "stand" keeps its data, and who owns it, as extra vars
        _alertmanager_storage_path: amDir,
        _prometheus_user: 'root',
        _alertmanager_user: 'root',
        _victoriametrics_user: 'root',
        // where the "hosts" pack and unpack the archives: not this machine's /var/tmp
        _backup_host_tmp: join(work, 'host-tmp'),
        ...extraVars,
      }),
    );
    const started = Date.now();
    const output = await tool('ansible-playbook', ['-i', inventory, name, '-e', `@${varsFile}`, ...args]).then(
      (out) => ({ ok: true, out }),
      (error) => ({ ok: false, out: error.output ?? error.message }),
    );
    return { ...output, seconds: (Date.now() - started) / 1000 };
  }

  /** The answers the two Prometheus must give alike: a few series over [from, to] at 1 s steps, and instant queries at `to`. */
  async function answers(url, from, to) {
    const ask = async (path) => {
      const { body } = await client.getJson(`${url}api/v1/${path}`);
      assert.equal(body?.status, 'success', JSON.stringify(body));
      return body.data.result.map((r) => JSON.stringify(r)).sort();
    };
    const range = (query) => ask(`query_range?query=${encodeURIComponent(query)}&start=${from}&end=${to}&step=1`);
    const instant = (query) => ask(`query?query=${encodeURIComponent(query)}&time=${to}`);
    return {
      requests: await range('sum by (instance, status) (av_nginx_http_requests_total)'),
      p99: await range(
        'histogram_quantile(0.99, sum by (le) (rate(av_nginx_http_request_duration_seconds_bucket[5s])))',
      ),
      up: await range('up'),
      total: await instant('sum(av_nginx_http_requests_total)'),
      series: await instant('count({__name__=~".+"})'),
    };
  }

  before(async () => {
    if (!existsSync(ALERTMANAGER)) {
      skip = `${ALERTMANAGER} is not installed (apt-get install prometheus-alertmanager)`;
      return;
    }
    work = mkdtempSync(join(tmpdir(), 'av-backup-'));
    build = debian12Build();
    if (!build) {
      skip = DEBIAN12_MISSING;
      return;
    }
    secretsDir = join(work, 'secrets');
    client = makeSecrets(secretsDir);
    exporters = await startAvExporters(work, 2);
    stopped.push(() => exporters.stop());
    prometheus = await startPrometheus({
      build,
      work,
      secretsDir,
      client,
      exporters: exporters.exporters,
      extraArgs: ['--web.enable-admin-api'],
    });
    stopped.push(() => prometheus.stop());
    amDir = join(work, 'alertmanager');
    alertmanager = await startAlertmanager(amDir);
    stopped.push(() => alertmanager.stop());
    vmBinary = victoriaMetricsBinary(work);
    if (vmBinary) {
      vm = await startVictoriaMetrics(join(work, 'victoria-metrics-data'));
      stopped.push(() => vm.stop());
    }
    inventory = join(work, 'hosts.yml');
    // this machine as the stand's hosts: Ansible's local connection, without become, and this "stand"'s CA and password
    const here = {
      ansible_connection: 'local',
      ansible_python_interpreter: '/usr/bin/python3',
      ansible_become: false,
      stand_web_ca_file: join(secretsDir, 'ca.crt'),
      stand_web_password_file: join(secretsDir, 'admin.password'),
      stand_secrets_dir: secretsDir,
    };
    const prometheusHost = {
      ...here,
      stand_prometheus_port: prometheus.port,
      prometheus_config_flags_extra: { 'storage.tsdb.path': prometheus.dataDir },
    };
    const vmHost = vm && { ...here, stand_victoriametrics_port: vm.port, victoriametrics_storage_path: vm.dir };
    writeFileSync(
      inventory,
      JSON.stringify({
        all: {
          children: {
            prometheus: { hosts: { [HOST]: prometheusHost } },
            ...(vm ? { victoriametrics: { hosts: { [VM_HOST]: vmHost } } } : {}),
          },
        },
      }),
    );
  });

  after(async () => {
    for (const stop of stopped.reverse()) await stop().catch(() => {});
    if (work) rmSync(work, { recursive: true, force: true });
    if (Object.keys(figures).length) console.log(`# figures: ${JSON.stringify(figures)}`);
  });

  test('a backup taken while they run, restored into fresh directories, answers exactly the same (VictoriaMetrics too, when its binary is here)', async (t) => {
    if (skip) return t.skip(skip);
    // samples for 8 seconds, and a silence
    const from = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 16; i++) {
      exporters.write(50);
      await sleep(500);
    }
    await waitForData(client, prometheus.url, 'av_nginx_http_requests_total');
    const silence = await (
      await fetch(`${alertmanager.url}/api/v2/silences`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          matchers: [{ name: 'alertname', value: 'BackupTest', isRegex: false }],
          startsAt: new Date().toISOString(),
          endsAt: new Date(Date.now() + 3600e3).toISOString(),
          createdBy: 'test',
          comment: 'kept by the backup',
        }),
      })
    ).json();
    await sleep(2500); // Alertmanager writes its state every second here (15 minutes in the stand)
    const vmFrom = from - 3600;
    if (vm) {
      // an hour of a counter a minute apart, for two instances and three statuses, as remote_write would bring them
      const lines = [];
      for (let minute = 0; minute <= 60; minute++) {
        for (const instance of ['web1', 'web2'])
          for (const [k, status] of ['200', '404', '500'].entries()) {
            lines.push(
              `backup_test_requests_total{instance="${instance}",status="${status}"} ${minute * (k + 1) * 7} ${(vmFrom + minute * 60) * 1000}`,
            );
          }
      }
      const imported = await postText(`${vm.url}/api/v1/import/prometheus`, lines.join('\n'), secretsDir);
      assert.ok(imported < 300, `import: HTTP ${imported}`);
      await client.get(`${vm.url}/internal/force_flush`);
    }
    const to = Math.floor(Date.now() / 1000) - 1;

    const backupDir = join(work, 'backups');
    const backup = await playbook('backup.yml', { backup_dir: backupDir });
    assert.ok(backup.ok, backup.out);
    figures.backup_seconds = backup.seconds;
    const runs = readdirSync(backupDir);
    assert.equal(runs.length, 1);
    assert.match(runs[0], /^\d{8}T\d{6}Z$/);
    const hostDir = join(backupDir, runs[0], HOST);
    assert.deepEqual(readdirSync(hostDir).sort(), [
      'alertmanager.json',
      'alertmanager.tar.gz',
      'prometheus.json',
      'prometheus.tar.gz',
    ]);
    if (vm) {
      assert.deepEqual(readdirSync(join(backupDir, runs[0], VM_HOST)).sort(), [
        'victoriametrics.json',
        'victoriametrics.tar.gz',
      ]);
      figures.victoriametrics_archive_bytes = statSync(
        join(backupDir, runs[0], VM_HOST, 'victoriametrics.tar.gz'),
      ).size;
      // the snapshot deleted again
      assert.deepEqual(readdirSync(join(vm.dir, 'snapshots')), []);
    }
    assert.deepEqual(
      JSON.parse(readFileSync(join(backupDir, runs[0], 'backup.json'), 'utf8')).hosts,
      vm ? [HOST, VM_HOST] : [HOST],
    );
    // a backup that failed half-way, newer: not the one restore.yml takes by default
    mkdirSync(join(backupDir, '29990101T000000Z', HOST), { recursive: true });
    const manifest = JSON.parse(readFileSync(join(hostDir, 'prometheus.json'), 'utf8'));
    assert.equal(manifest.host, HOST);
    assert.equal(manifest.service, 'prometheus');
    assert.equal(manifest.bytes, statSync(join(hostDir, 'prometheus.tar.gz')).size);
    figures.tsdb_bytes = sizeOf(prometheus.dataDir);
    figures.prometheus_archive_bytes = manifest.bytes;
    figures.alertmanager_archive_bytes = statSync(join(hostDir, 'alertmanager.tar.gz')).size;
    // the snapshot and the packed copy are gone from the "host"
    assert.deepEqual(readdirSync(join(prometheus.dataDir, 'snapshots')), []);
    assert.deepEqual(readdirSync(join(work, 'host-tmp')), []);

    // restore into fresh directories, as onto a freshly provisioned host
    const freshTsdb = join(work, 'restored-tsdb');
    const freshAm = join(work, 'restored-alertmanager');
    const freshVm = join(work, 'restored-victoria-metrics');
    const restore = await playbook(
      'restore.yml',
      {
        backup_dir: backupDir,
        _alertmanager_storage_path: freshAm,
        prometheus_config_flags_extra: { 'storage.tsdb.path': freshTsdb },
        victoriametrics_storage_path: freshVm,
      },
      ['--skip-tags', 'backup_service_control'],
    );
    assert.ok(restore.ok, restore.out);
    figures.restore_seconds = restore.seconds;
    assert.ok(
      readdirSync(freshTsdb).some((name) => /^[0-9A-Z]{26}$/.test(name)),
      `no block in ${readdirSync(freshTsdb)}`,
    );

    const second = await startPrometheus({
      build,
      work,
      secretsDir,
      client,
      exporters: exporters.exporters,
      dataDir: freshTsdb,
    });
    stopped.push(() => second.stop());
    const [original, restored] = [await answers(prometheus.url, from, to), await answers(second.url, from, to)];
    assert.ok(original.requests.length >= 4, JSON.stringify(original.requests).slice(0, 300));
    assert.deepEqual(restored, original);

    if (vm) {
      const secondVm = await startVictoriaMetrics(freshVm);
      stopped.push(() => secondVm.stop());
      const [originalVm, restoredVm] = [
        await vmAnswers(vm.url, vmFrom, vmFrom + 3600),
        await vmAnswers(secondVm.url, vmFrom, vmFrom + 3600),
      ];
      assert.equal(originalVm.length, 6, JSON.stringify(originalVm).slice(0, 300));
      assert.deepEqual(restoredVm, originalVm);
    } else {
      t.diagnostic("VictoriaMetrics left out: no /usr/bin/victoria-metrics, nor its .deb in the lab's apt cache");
    }

    const secondAm = await startAlertmanager(freshAm);
    stopped.push(() => secondAm.stop());
    const silences = await (await fetch(`${secondAm.url}/api/v2/silences`)).json();
    assert.deepEqual(
      silences.map((s) => [s.id, s.comment, s.status.state]),
      [[silence.silenceID, 'kept by the backup', 'active']],
    );
  });

  test("refused before anything changes: a backup_dir it cannot write; the admin API off; a backup missing, or without this host's data", async (t) => {
    if (skip) return t.skip(skip);
    const notADir = join(work, 'a-file');
    writeFileSync(notADir, '');
    const refused = await playbook('backup.yml', { backup_dir: join(notADir, 'backups') });
    assert.equal(refused.ok, false);
    assert.match(
      refused.out,
      /backup_dir: the control machine cannot write the backup to .*a-file\/backups\/\d{8}T\d{6}Z .* No host was touched/,
    );
    assert.doesNotMatch(refused.out, /snapshot its TSDB/);
    assert.deepEqual(readdirSync(join(prometheus.dataDir, 'snapshots')), []);

    const closed = await playbook('backup.yml', {
      backup_dir: join(work, 'closed-backups'),
      prometheus_web_enable_admin_api: false,
    });
    assert.equal(closed.ok, false);
    assert.match(
      closed.out,
      /backup.yml takes Prometheus' data through its admin API's snapshot, which prometheus_web_enable_admin_api\s+turns on/,
    );
    assert.deepEqual(readdirSync(join(prometheus.dataDir, 'snapshots')), []);

    // a data directory that must stay as it is
    const untouched = join(work, 'untouched');
    mkdirSync(untouched);
    writeFileSync(join(untouched, 'marker'), 'x');
    const onto = {
      _alertmanager_storage_path: untouched,
      prometheus_config_flags_extra: { 'storage.tsdb.path': untouched },
      victoriametrics_storage_path: untouched,
    };
    const restore = (vars) => playbook('restore.yml', { ...onto, ...vars }, ['--skip-tags', 'backup_service_control']);

    const none = await restore({ backup_dir: join(work, 'no-backups') });
    assert.equal(none.ok, false);
    assert.match(
      none.out,
      /no backup under .*no-backups \(backup.yml makes them; backup_dir says where\); nothing was restored/,
    );

    const missing = await restore({ backup_from: join(work, 'backups', '20000101T000000Z') });
    assert.equal(missing.ok, false);
    assert.match(
      missing.out,
      /the backup .*20000101T000000Z does not hold local1's prometheus \(.*prometheus.tar.gz, and prometheus.json naming this host\), alertmanager/,
    );

    // another host's backup under this host's name
    const [run] = readdirSync(join(work, 'backups')).filter((name) => name !== '29990101T000000Z');
    const other = join(work, 'other-backups', run);
    cpSync(join(work, 'backups', run), other, { recursive: true });
    const manifest = join(other, HOST, 'prometheus.json');
    writeFileSync(manifest, JSON.stringify({ ...JSON.parse(readFileSync(manifest, 'utf8')), host: 'prom9' }));
    const foreign = await restore({ backup_dir: join(work, 'other-backups') });
    assert.equal(foreign.ok, false);
    assert.match(foreign.out, /does not hold local1's prometheus \(/);
    assert.doesNotMatch(foreign.out, /does not hold local1's prometheus .*alertmanager/);

    assert.deepEqual(readdirSync(untouched), ['marker']);
  });
});
