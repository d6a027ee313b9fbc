// The stand end to end on the local lab, once on Debian 13 hosts (the default) and once on Debian 12 hosts,
// each time with two nginx hosts set up like cloud VMs (a sudo user, no root login, logrotate): check mode on
// fresh hosts, provisioning beside a foreign nftables table, idempotence, every service, target and firewall
// rule, and a load run during which logrotate rotates nginx's log. Then once past one Prometheus: three
// nginx hosts, two Prometheus shards and VictoriaMetrics, the load over all of them, and the global view's
// answers against the exact ones. Each phase prints how long it took; the lab is taken down at the end
// whatever happened.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import https from 'node:https';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcryptjs';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ROOT } from './support/ansible.mjs';
import { examplePlaybook } from './support/readme.mjs';
import { thisMachinesDebianSources } from '../scripts/lab/apt-sources.mjs';
import { runCommand } from '../scripts/lib/run-command.mjs';
import { pollUntil } from '../scripts/lib/wait.mjs';
import { trixieAnsibleCore } from './support/trixie-ansible.mjs';
import {
  checkAlertRoundTrip,
  checkAlertmanagerCluster,
  checkDeadMansSwitch,
  checkHeartbeats,
  waitForNotification,
  checkEveryEndpointLockedDown,
  httpsEndpoints,
  checkEveryHostProvisioned,
  checkFirewall,
  checkIdempotent,
  checkNoWarnings,
  checkNothingElseListens,
  checkServicesActive,
  checkTargetsUp,
  loadStandSecrets,
  onHosts,
  tcpAnswers,
  promValue,
  standClientOf,
  standHosts,
} from './e2e/stand-checks.mjs';
import { checkReport, checkShardsAndGlobalView } from './e2e/report-checks.mjs';
import { deliveryInventoryVars, startDeliveryServers, waitFor } from './support/delivery-servers.mjs';
import { BRIDGE_ADDRESS } from '../scripts/lab/layout.mjs';
import { checkDashboardExpressions } from './e2e/dashboard-checks.mjs';
import { checkBackupRestore } from './e2e/backup-checks.mjs';
import { BareMachine } from '../scripts/lab/bare-machine.mjs';
import {
  checkReplicasScrapeAlike,
  checkReportAskedAround,
  checkVictoriaMetricsCountsOnce,
  stopReplicaDuring,
} from './e2e/replica-checks.mjs';

const INVENTORY = 'inventory/lab/hosts.yml';
const NGINX_HOSTS = 2;
const timings = [];
const failed = new Set();
/** [phase, error] of each phase that failed, repeated at the end: CI keeps only the tail of the output. */
const failures = [];

/**
 * Runs a command from the repository root; resolves with its output, rejects with its tail. `onOutput` sees it live.
 * @param {string} command
 * @param {string[]} args
 * @param {{ timeoutMs?: number, onOutput?: (output: string) => void, env?: Record<string, string> }} [options]
 */
function run(command, args, { timeoutMs = 20 * 60_000, onOutput, env = {} } = {}) {
  return runCommand(command, args, {
    cwd: ROOT,
    env: { ...process.env, ANSIBLE_FORCE_COLOR: '0', ANSIBLE_NOCOLOR: '1', ...env },
    timeoutMs,
    onChunk: (chunk, output) => {
      process.stderr.write(chunk); // progress of long phases, live
      onOutput?.(output);
    },
  });
}

const playbook = async (...args) => {
  const output = await run('ansible-playbook', ['site.yml', ...args]);
  checkNoWarnings(output);
  return output;
};

/** A phase: timed, and skipped when a phase it needs failed. */
function phase(release, name, needs, body) {
  const qualified = (phaseName) => `${release}: ${phaseName}`;
  test(qualified(name), async (t) => {
    const missing = needs.map(qualified).filter((need) => failed.has(need));
    if (missing.length > 0) {
      failed.add(qualified(name)); // what needs this phase is skipped too, not run on a stand that is not there
      t.skip(`needs: ${missing.join(', ')}`);
      return;
    }
    const started = Date.now();
    try {
      await body();
    } catch (error) {
      failed.add(qualified(name));
      failures.push([qualified(name), error]);
      throw error;
    } finally {
      timings.push([qualified(name), (Date.now() - started) / 1000]);
    }
  });
}

/** The secrets site.yml made beside the lab's inventory: the contract's files there, the directory 0700, every file 0600. */
async function checkSecretsKept() {
  const dir = `${ROOT}inventory/lab/secrets`;
  for (const file of ['ca.crt', 'admin.password']) assert.ok(existsSync(`${dir}/${file}`), `no ${dir}/${file}`);
  assert.equal((await stat(dir)).mode & 0o777, 0o700, `${dir} is not 0700`);
  for (const file of await readdir(dir, { recursive: true })) {
    const mode = (await stat(`${dir}/${file}`)).mode;
    if ((mode & 0o170000) === 0o100000) assert.equal(mode & 0o777, 0o600, `${dir}/${file} is not 0600`);
  }
}

// As Docker or fail2ban would have: a table of their own, with a forward chain that drops by default.
const FOREIGN_TABLE =
  'table ip foreign_like_docker {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n\t\tiifname "docker0" accept\n\t}\n}';

// The alerting path's timing (role stand, roles/prometheus): Alertmanager repeats each Watchdog every
// HEARTBEAT s, a receiver reports one unheard for 3 of those; Prometheus resends its alerts every RESEND s, so
// Alertmanager lets a stopped Prometheus's Watchdog expire after 4 of those.
const HEARTBEAT = 15;
const RESEND = 15;
/**
 * The team's receivers of the inventory (alertmanager_receivers, _route, _smtp: docs/alerts.md) for the time of
 * `body`: a real SMTP relay (STARTTLS, AUTH) and HTTPS webhooks (basic auth, bearer) on this machine at the
 * lab's bridge, certified by the stand's CA, put into an inventory beside the lab's that site.yml runs with
 * first. `body(servers)` then checks what they got; the servers stop afterwards.
 */
async function withTeamReceivers(body) {
  const dir = await mkdtemp(join(tmpdir(), 'av-delivery-'));
  const secrets = `${ROOT}inventory/lab/secrets`;
  const servers = await startDeliveryServers({
    dir,
    host: BRIDGE_ADDRESS,
    ca: { cert: `${secrets}/ca.crt`, key: `${secrets}/ca.key` },
  });
  const withReceivers = `${ROOT}inventory/lab/hosts-receivers.yml`;
  try {
    const lab = parseYaml(await readFile(`${ROOT}${INVENTORY}`, 'utf8'));
    Object.assign(lab.all.vars, deliveryInventoryVars(servers, { caFile: '/etc/av-stand/tls/ca.crt' }));
    await writeFile(withReceivers, stringifyYaml(lab));
    await playbook('-i', withReceivers);
    return await body(servers);
  } finally {
    await servers.stop();
    await rm(withReceivers, { force: true });
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The team's notifications of TargetDown for `host` that `servers` got: one FIRING and then one RESOLVED mail,
 * and the same at both webhooks, with their credentials, and nothing after them within a group interval and
 * the cluster's waits (a second Alertmanager's copy, or a stale FIRING after the RESOLVED, would come by then).
 * Resolves with the firing mail.
 */
async function checkTeamNotified(servers, host) {
  const mails = () =>
    servers.smtp
      .messages()
      .filter((m) => /^\[(FIRING|RESOLVED)\] TargetDown/.test(m.subject) && m.subject.includes(` on ${host}`));
  const hooks = (path) =>
    servers.https
      .requests()
      .filter(
        (r) =>
          r.path === path &&
          r.json?.alerts.some((a) => a.labels.alertname === 'TargetDown' && a.labels.instance === host),
      );
  const endpoints = {
    mail: () => mails().map((m) => (m.subject.startsWith('[FIRING]') ? 'firing' : 'resolved')),
    '/webhook/basic': () => hooks('/webhook/basic').map((r) => r.json.status),
    '/webhook/bearer': () => hooks('/webhook/bearer').map((r) => r.json.status),
  };
  for (const [endpoint, statuses] of Object.entries(endpoints)) {
    await waitFor(
      () => statuses().filter((s) => s === 'resolved'),
      () => true,
      { seconds: 150, what: `a RESOLVED TargetDown for ${host} at ${endpoint}` },
    );
  }
  await sleep(15_000);
  const seen = ['/webhook/basic', '/webhook/bearer'].flatMap((path) =>
    hooks(path).map((r) => `${path} ${r.json.status} from ${r.from} at ${r.at.toFixed(1)}`),
  );
  for (const [endpoint, statuses] of Object.entries(endpoints)) {
    assert.deepEqual(
      statuses(),
      ['firing', 'resolved'],
      `TargetDown for ${host} at the team's ${endpoint}: ${seen.join('; ')}`,
    );
  }
  const [mail] = mails();
  assert.deepEqual(
    [mail.starttls, mail.auth?.[1], mail.to],
    [true, servers.smtp.user, ['oncall@team.example']],
    JSON.stringify(mail),
  );
  assert.match(mail.text, /silence/i, `the mail has no link to silence it: ${mail.text}`);
  assert.deepEqual(
    servers.https
      .requests()
      .filter((r) => r.status !== 200)
      .map((r) => `${r.path} ${r.status}`),
    [],
    'requests the endpoints refused',
  );
  return mail;
}

/**
 * GET over HTTPS trusting `ca` (PEM), with basic auth ("user:password") when given: { status, body }.
 * @param {string} url
 * @param {{ ca: string, auth?: string }} options
 */
function httpsGet(url, { ca, auth }) {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { ca, auth, timeout: 10_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        body += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode, body }));
    });
    request.on('error', reject);
    request.on('timeout', () => request.destroy(new Error(`${url}: no answer in 10 s`)));
  });
}

const REPORTED_AFTER_PROMETHEUS_STOPS = 4 * RESEND + 3 * HEARTBEAT + 15;
const REPORTED_AFTER_ALERTMANAGER_STOPS = 4 * HEARTBEAT + 10;
// The e2e's labs wait 20 s, not the stand's 1 min, before TargetDown and SiteDown (and PrometheusDown) fire:
// the same rules, routes and receivers, 40 s less waiting in each of the five phases that stop a target. The
// defaults' own timing is checked by promtool's rule tests (roles/alert_rules/files/tests).
const E2E_DOWN_FOR = '20s';
const E2E_GROUP_VARS_DIR = `${ROOT}inventory/lab/group_vars`;
const TARGET_DOWN = { forSeconds: 20, evaluationSeconds: 5, scrapeSeconds: 5, groupWaitSeconds: 1 };

/** Group vars beside the lab's inventory for the rest of a scenario (`name`: its file, e2e-<name>.yml). */
async function useE2eGroupVars(name, vars) {
  const file = `${E2E_GROUP_VARS_DIR}/all/e2e-${name}.yml`;
  await mkdir(dirname(file), { recursive: true });
  await writeFile(
    file,
    `# written by test/stand.test.mjs for its scenario; removed with the lab\n${stringifyYaml(vars)}`,
  );
}

/** The scenario's alerts fire after E2E_DOWN_FOR. */
const useE2eAlertTiming = () =>
  useE2eGroupVars('alert-timing', {
    alert_rules_target_down_for: E2E_DOWN_FOR,
    alert_rules_site_down_for: E2E_DOWN_FOR,
  });

async function dropE2eGroupVars() {
  await rm(E2E_GROUP_VARS_DIR, { recursive: true, force: true });
}

/** { host: seconds } as JSON, to one decimal, for the test's log. */
const secondsByHost = (seconds) =>
  JSON.stringify(Object.fromEntries(Object.entries(seconds).map(([host, s]) => [host, Number(s.toFixed(1))])));

function standScenario(
  release,
  {
    alsoCheckOnFreshHosts = false,
    alsoTrixieControl = false,
    alsoWithoutInventory = false,
    alsoWatchdog = false,
    alsoInventoryChanges = false,
  } = {},
) {
  phase(release, 'lab up with fresh hosts', [], async () => {
    await run('npx', ['zx', 'scripts/lab.mjs', 'down']); // fresh hosts: a lab left up would be provisioned already
    await run('npx', ['zx', 'scripts/lab.mjs', 'up', '--release', release, '--nginx', String(NGINX_HOSTS)]);
    await useE2eAlertTiming();
    const { nginx } = await standHosts(INVENTORY);
    assert.equal(nginx.length, NGINX_HOSTS);
    const release_ = await onHosts(
      INVENTORY,
      'all',
      'grep VERSION_CODENAME /etc/os-release; id -un; sudo -n true && echo sudo-ok',
    );
    assert.equal(
      (release_.match(new RegExp(`VERSION_CODENAME=${release}`, 'g')) ?? []).length,
      NGINX_HOSTS + 1,
      release_,
    );
  });

  // check mode's side of the roles, the same on either release: run once
  if (alsoCheckOnFreshHosts) {
    phase(
      release,
      'check mode on fresh hosts shows what would change and fails nothing',
      ['lab up with fresh hosts'],
      async () => {
        const output = await playbook('--check', '--diff');
        assert.match(output, /changed=[1-9]/, 'check mode on fresh hosts would change nothing?');
        assert.doesNotMatch(output, /failed=[1-9]|unreachable=[1-9]/);
      },
    );
  }

  phase(release, 'a foreign nftables table is in place before provisioning', ['lab up with fresh hosts'], async () => {
    await onHosts(
      INVENTORY,
      'all',
      `DEBIAN_FRONTEND=noninteractive apt-get install -y -q nftables >/dev/null && printf '%s\\n' '${FOREIGN_TABLE}' | nft -f -`,
    );
  });

  phase(release, 'first provisioning reaches every member of every group', ['lab up with fresh hosts'], async () => {
    await checkEveryHostProvisioned(await playbook(), INVENTORY);
    await loadStandSecrets(INVENTORY);
    await checkSecretsKept();
  });

  phase(
    release,
    'second provisioning changes nothing',
    ['first provisioning reaches every member of every group'],
    async () => {
      checkIdempotent(await playbook());
    },
  );

  // the inventory's side of Ansible, the same on either release: run once
  if (alsoInventoryChanges) {
    phase(
      release,
      'an inventory that calls the groups monitoring and web finds the same stand, converged',
      ['second provisioning changes nothing'],
      async () => {
        // beside the lab's own, so that it shares its secrets directory (inventory_dir/secrets)
        const renamed = `${ROOT}inventory/lab/hosts-renamed.yml`;
        const lab = parseYaml(await readFile(`${ROOT}${INVENTORY}`, 'utf8'));
        const { prometheus, nginx, ...others } = lab.all.children;
        lab.all.children = { monitoring: prometheus, web: nginx, ...others };
        lab.all.vars.stand_group_names = { prometheus: 'monitoring', nginx: 'web' };
        await writeFile(renamed, stringifyYaml(lab));
        try {
          const output = await playbook('-i', renamed);
          checkIdempotent(output);
          await checkEveryHostProvisioned(output, 'inventory/lab/hosts-renamed.yml');
        } finally {
          await rm(renamed, { force: true });
        }
      },
    );

    phase(
      release,
      'an exporter of your own, added through the inventory alone, is up after one more run; Prometheus is reloaded, not restarted',
      ['second provisioning changes nothing'],
      async () => {
        const {
          prometheus: [prom],
          nginx: [web],
        } = await standHosts(INVENTORY);
        const port = 9555;
        // an exporter the stand knows nothing of: python3's http.server serving a metrics file, as a transient unit
        await onHosts(
          INVENTORY,
          web.name,
          `mkdir -p /run/own-exporter && printf 'own_app_up 1\\n' > /run/own-exporter/metrics && systemd-run --unit own-exporter -p WorkingDirectory=/run/own-exporter python3 -m http.server ${port}`,
        );
        const own = `${ROOT}inventory/lab/hosts-own-target.yml`;
        const lab = parseYaml(await readFile(`${ROOT}${INVENTORY}`, 'utf8'));
        lab.all.vars.prometheus_targets = {
          own_app: [{ targets: [`${web.address}:${port}`], labels: { team: 'test' } }],
        };
        await writeFile(own, stringifyYaml(lab));
        const prometheus = (await standClientOf(INVENTORY)).prometheus(
          `https://${prom.address}:${prom.vars.stand_prometheus_port}`,
        );
        const targets = () => prometheus.activeTargets();
        const promStarted = () =>
          promValue(prom, `process_start_time_seconds{job="prometheus",instance="${prom.name}"}`);
        const reloaded = () =>
          promValue(prom, `prometheus_config_last_reload_success_timestamp_seconds{instance="${prom.name}"}`);
        try {
          const [startedBefore, reloadedBefore] = [await promStarted(), await reloaded()];
          await playbook('-i', own);
          /** @type {any} its entry in the active targets */
          let target;
          await pollUntil(
            async () => (target = (await targets()).find((t) => t.labels.job === 'own_app'))?.health === 'up',
            { seconds: 60, intervalMs: 1000, onTimeout: () => false },
          );
          assert.equal(target?.health, 'up', `own_app's target: ${JSON.stringify(target)}`);
          assert.equal(target.labels.team, 'test');
          assert.equal(await promStarted(), startedBefore, 'Prometheus was restarted');
          // the reload's time shows at Prometheus's next scrape of itself, which may come after own_app's first
          /** @type {number} */
          let reloadedAfter;
          await pollUntil(async () => (reloadedAfter = await reloaded()) > reloadedBefore, {
            seconds: 15,
            intervalMs: 1000,
            onTimeout: () => false,
          });
          assert.ok(
            reloadedAfter > reloadedBefore,
            `Prometheus did not reload its config (its last reload at ${reloadedAfter}, before the run ${reloadedBefore})`,
          );
          checkIdempotent(await playbook('-i', own));
        } finally {
          await rm(own, { force: true });
          await onHosts(INVENTORY, web.name, 'systemctl stop own-exporter; rm -rf /run/own-exporter');
        }
        await playbook(); // without it again: the job and its file go
        const left = (await targets()).filter((t) => t.labels.job === 'own_app');
        assert.deepEqual(left, [], 'own_app is still scraped after it left the inventory');
        assert.match(await onHosts(INVENTORY, prom.name, 'ls /etc/prometheus/file_sd/ | wc -l'), /\b0\b/);
      },
    );

    phase(
      release,
      'a run that leaves a service down fails, naming the unit and showing its log',
      ['second provisioning changes nothing'],
      async () => {
        const {
          nginx: [web],
        } = await standHosts(INVENTORY);
        const port = web.vars.stand_demo_service_listen.split(':').pop();
        // a squatter on av-demo's loopback port: restarted, av-demo cannot listen and crash-loops (Restart=always)
        await onHosts(
          INVENTORY,
          web.name,
          `systemctl stop av-demo && systemd-run --unit port-squatter python3 -m http.server ${port} --bind 127.0.0.1 && sleep 1 && systemctl start av-demo`,
        );
        let output = '';
        try {
          // the web host alone: what fails is its role's check that its units stay up
          const passed = await run('ansible-playbook', ['site.yml', '--limit', web.name], {
            onOutput: (text) => {
              output = text;
            },
          }).then(
            () => true,
            () => false,
          );
          assert.ok(!passed, 'site.yml passed with av-demo unable to listen');
          const fatal = output.split('\n').find((line) => line.startsWith(`fatal: [${web.name}]: FAILED!`)) ?? '';
          assert.match(
            fatal,
            /av-demo is (activating|active|failed|inactive), not steadily up; its last lines/,
            `the failure names av-demo: ${fatal.slice(0, 2000)}`,
          );
          assert.match(fatal, /EADDRINUSE|address already in use/i, "the failure shows av-demo's own log");
        } finally {
          await onHosts(INVENTORY, web.name, 'systemctl stop port-squatter');
        }
        await playbook('--limit', web.name); // the squatter gone, the next run brings av-demo back (its start limit may have stopped the restarts) and passes
      },
    );
  }

  // the converged stand's check mode: with this machine's ansible-core, or on Debian 13 with Debian 13's instead
  if (!alsoTrixieControl) {
    phase(
      release,
      'check mode with diff on the provisioned stand runs clean',
      ['first provisioning reaches every member of every group'],
      async () => {
        checkIdempotent(await playbook('--check', '--diff'));
      },
    );
  } else {
    phase(
      release,
      "Debian 13's ansible-core sees the stand converged, without a warning",
      ['second provisioning changes nothing'],
      async () => {
        const lab = JSON.parse(await readFile(`${ROOT}inventory/lab/lab.json`, 'utf8'));
        const ansibleCore = await trixieAnsibleCore({
          proxy: lab.aptProxy,
          mirror: thisMachinesDebianSources().archive.viaProxy,
        });
        try {
          const [python, script] = ansibleCore.command('ansible-playbook');
          assert.match(
            await run(python, [script, '--version'], { env: ansibleCore.env }),
            /ansible-playbook \[core 2\.19\./,
          );
          const output = await run(python, [script, 'site.yml', '--check', '--diff'], { env: ansibleCore.env });
          checkNoWarnings(output);
          checkIdempotent(output);
        } finally {
          await rm(ansibleCore.dir, { recursive: true, force: true });
        }
      },
    );
  }

  phase(
    release,
    'the foreign nftables table is untouched',
    ['first provisioning reaches every member of every group'],
    async () => {
      const output = await onHosts(INVENTORY, 'all', 'nft list table ip foreign_like_docker');
      assert.equal(output.split(FOREIGN_TABLE.split('\n')[0]).length - 1, NGINX_HOSTS + 1, output);
      assert.equal(output.split('iifname "docker0" accept').length - 1, NGINX_HOSTS + 1, output);
    },
  );

  phase(
    release,
    'every service is active on every host',
    ['first provisioning reaches every member of every group'],
    () => checkServicesActive(INVENTORY),
  );

  phase(
    release,
    'Prometheus scrapes every target of every host',
    ['first provisioning reaches every member of every group'],
    () => checkTargetsUp(INVENTORY),
  );

  phase(
    release,
    'every endpoint: no plain HTTP, 401 without or with a wrong password, 200 with the right one, a certificate naming its host',
    ['first provisioning reaches every member of every group'],
    async () => {
      const probes = await checkEveryEndpointLockedDown(INVENTORY);
      console.log(
        `# ${probes.length} endpoints locked down; plain HTTP got: ${[...new Set(probes.map((p) => p.plain.replace(/\d+\.\d+\.\d+\.\d+/g, 'A')))].join(' | ')}`,
      );
    },
  );

  phase(
    release,
    "a scan of every host's listening ports finds only SSH, nginx's demo site and the locked-down endpoints",
    ['first provisioning reaches every member of every group'],
    async () => {
      console.log(`# listening beyond loopback: ${JSON.stringify(await checkNothingElseListens(INVENTORY))}`);
    },
  );

  phase(
    release,
    'tls_auth_renew_certificates=true: every endpoint serves its new certificate, every target stays up, CertificateExpiresSoon sees the short ones',
    [
      'every endpoint: no plain HTTP, 401 without or with a wrong password, 200 with the right one, a certificate naming its host',
    ],
    async () => {
      const certificate = (host) => readFile(`${ROOT}inventory/lab/secrets/hosts/${host}.crt`, 'utf8');
      const before = await certificate('web1');
      // re-issued for 10 days: inside CertificateExpiresSoon's 14, so every probed certificate makes it pending
      await playbook('-e', 'tls_auth_renew_certificates=true', '-e', 'tls_auth_certificate_days=10');
      assert.notEqual(await certificate('web1'), before, "web1's certificate was not renewed");
      await checkEveryEndpointLockedDown(INVENTORY); // each endpoint serves the new file's certificate
      await checkTargetsUp(INVENTORY);
      checkIdempotent(await playbook());
      const { prometheus, ...hosts } = await standHosts(INVENTORY);
      const probed = httpsEndpoints({ prometheus, ...hosts }).length;
      let expiring = 0;
      const allExpiring = async () => {
        const counts = await Promise.all(
          prometheus.map((prom) => promValue(prom, 'count(ALERTS{alertname="CertificateExpiresSoon"})')),
        );
        expiring = counts.reduce((sum, n) => sum + n, 0);
        return expiring >= probed;
      };
      await pollUntil(allExpiring, { seconds: 60, intervalMs: 2000, onTimeout: () => false });
      assert.equal(
        expiring,
        probed,
        `CertificateExpiresSoon pending or firing for ${expiring} of ${probed} certificates after a 10-day re-issue`,
      );
    },
  );

  // Side by side, on two hosts: each waits a minute for its rule's `for`; the team's receivers get them too.
  phase(
    release,
    "av-exporter stopped on one web host and nginx on the other: TargetDown and SiteDown reach the stand's receiver, and the team's mailbox and webhooks, and clear again",
    ['Prometheus scrapes every target of every host'],
    async () => {
      await withTeamReceivers(async (servers) => {
        const {
          nginx: [web],
        } = await standHosts(INVENTORY);
        const [targetDown, siteDown] = await Promise.all([
          checkAlertRoundTrip(INVENTORY, { ...TARGET_DOWN, nginxHost: 0 }),
          checkAlertRoundTrip(INVENTORY, {
            ...TARGET_DOWN,
            alertname: 'SiteDown',
            unit: 'nginx',
            labels: (host) => ({ host: host.name }),
            nginxHost: 1,
          }),
        ]);
        for (const [what, { firedAfter, resolvedAfter, bound }] of /** @type {const} */ ([
          ['av-exporter stopped: TargetDown', targetDown],
          ['nginx stopped: SiteDown', siteDown],
        ])) {
          console.log(
            `# ${release}: ${what} reached the receiver ${firedAfter.toFixed(1)} s after the stop (bound ${bound} s), resolved ${resolvedAfter.toFixed(1)} s after the start`,
          );
        }
        const mail = await checkTeamNotified(servers, web.name);
        console.log(
          `# ${release}: the team's mailbox got ${servers.smtp.messages().length} mails, its webhooks ${servers.https.requests().length} requests; the first: ${mail.subject}`,
        );
      });
    },
  );

  // Debian 12's Alertmanager sends the Watchdog on to the receiver; what the receiver makes of a stopped Prometheus
  // or Alertmanager is its own code, the same on either release, run on the sharded stand
  if (alsoWatchdog) {
    phase(release, 'the Watchdog reaches the receiver', ['Prometheus scrapes every target of every host'], async () => {
      const {
        prometheus: [prom],
      } = await standHosts(INVENTORY);
      console.log(
        `# heartbeat ages: ${JSON.stringify(await checkHeartbeats(INVENTORY, [prom.name], 2 * HEARTBEAT + 5))}`,
      );
    });
  }

  phase(
    release,
    'exporter ports answer only the Prometheus host, Prometheus answers the control machine',
    ['first provisioning reaches every member of every group'],
    () => checkFirewall(INVENTORY),
  );

  phase(
    release,
    'requests sent to each nginx host show up in av_nginx_http_requests_total',
    ['Prometheus scrapes every target of every host'],
    async () => {
      const {
        prometheus: [prom],
        nginx,
      } = await standHosts(INVENTORY);
      for (const host of nginx) {
        const query = `sum(av_nginx_http_requests_total{status="404",instance="${host.name}"})`;
        const before = await promValue(prom, query);
        const sent = 25;
        for (let i = 0; i < sent; i++) {
          const response = await fetch(`http://${host.address}:${host.vars.stand_nginx_port}/no-such-page-${i}`);
          await response.arrayBuffer();
          assert.equal(response.status, 404);
        }
        let seen = before;
        await pollUntil(async () => (seen = await promValue(prom, query)) >= before + sent, {
          seconds: 60,
          intervalMs: 1000,
          onTimeout: () => false,
        });
        assert.equal(
          seen - before,
          sent,
          `Prometheus saw ${seen - before} new 404s from ${host.name}, ${sent} were sent`,
        );
      }
    },
  );

  phase(
    release,
    'restarting av-exporter under load: no 502 from the demo service, and no request lost to the counters',
    ['Prometheus scrapes every target of every host'],
    async () => {
      const {
        prometheus: [prom],
        nginx: [web],
      } = await standHosts(INVENTORY);
      const query = `sum(av_nginx_http_requests_total{instance="${web.name}",method="GET"})`;
      const before = await promValue(prom, query);
      const statuses = new Map();
      let sending = true;
      const user = async () => {
        while (sending) {
          const response = await fetch(`http://${web.address}:${web.vars.stand_nginx_port}/api/fast`);
          await response.arrayBuffer();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        }
      };
      const users = Array.from({ length: 4 }, user);
      await sleep(1000);
      const restart = await onHosts(
        INVENTORY,
        web.name,
        'systemctl show -p MainPID --value av-exporter; systemctl restart av-exporter; systemctl show -p MainPID --value av-exporter',
      );
      await sleep(1000);
      sending = false;
      await Promise.all(users);
      const [pidBefore, pidAfter] = (restart.match(/\(stdout\) (\d+)\\n(\d+)/) ?? []).slice(1);
      assert.ok(pidBefore && pidAfter && pidBefore !== pidAfter, `av-exporter was not restarted: ${restart}`);
      const sent = [...statuses.values()].reduce((a, b) => a + b, 0);
      assert.deepEqual(
        [...statuses.keys()],
        [200],
        `answers during the restart: ${JSON.stringify(Object.fromEntries(statuses))}`,
      );
      assert.ok(sent > 50, `only ${sent} requests were sent during the restart`);
      let seen = before;
      await pollUntil(async () => (seen = await promValue(prom, query)) >= before + sent, {
        seconds: 60,
        intervalMs: 1000,
        onTimeout: () => false,
      });
      assert.equal(
        seen - before,
        sent,
        `the counters grew by ${seen - before} across the restart, ${sent} requests were answered`,
      );
      console.log(
        `# ${web.name}: ${sent} requests to /api/ while av-exporter restarted, all answered 200 and all counted`,
      );
    },
  );

  phase(
    release,
    "av-exporter's and av-demo's units are sandboxed (systemd-analyze security at most 2.0)",
    ['first provisioning reaches every member of every group'],
    async () => {
      const { nginx } = await standHosts(INVENTORY);
      for (const host of nginx) {
        const output = await onHosts(
          INVENTORY,
          host.name,
          'for u in av-exporter av-demo; do systemd-analyze security --no-pager $u | tail -1; done',
        );
        const levels = [...output.matchAll(/Overall exposure level for (av-[a-z]+)\.service: ([\d.]+)/g)].map((m) => [
          m[1],
          Number(m[2]),
        ]);
        assert.equal(levels.length, 2, `systemd-analyze security on ${host.name}: ${output}`);
        for (const [unit, level] of levels)
          assert.ok(level <= 2.0, `${unit} on ${host.name}: exposure ${level}, more than 2.0`);
        console.log(`# ${host.name}: ${levels.map(([unit, level]) => `${unit} ${level}`).join(', ')}`);
      }
    },
  );

  phase(
    release,
    'a 40 s load run with a logrotate in the middle writes a report that matches the exact answers',
    ['Prometheus scrapes every target of every host'],
    async () => {
      const {
        nginx: [web],
      } = await standHosts(INVENTORY);
      const log = web.vars.stand_access_log_path;
      let rotation = null;
      await run('npx', ['zx', 'scripts/load.mjs', '--duration', '40s'], {
        onOutput: (output) => {
          // 20 s into siege, as logrotate's nightly run would: rename, then nginx reopens its log (USR1)
          if (rotation || !/siege: 0:2\d of /.test(output)) return;
          rotation = onHosts(INVENTORY, web.name, 'logrotate -f /etc/logrotate.d/nginx');
        },
      });
      assert.ok(rotation, 'the log was not rotated during the run');
      await rotation;
      const results = await checkReport(`${ROOT}report/latest`, {
        nginxHosts: (await standHosts(INVENTORY)).nginx.map((h) => h.name),
      });
      // the run's lines are in both files, and the report counted them in both
      const agent = results.load.user_agent;
      const counts = await onHosts(
        INVENTORY,
        web.name,
        `grep -c '${agent}' ${log}.1 || true; grep -c '${agent}' ${log} || true`,
      );
      const [inRotated, inCurrent] = (counts.match(/\(stdout\) (\d+)\\n(\d+)/) ?? []).slice(1).map(Number); // ansible -o: one line, \n escaped
      assert.ok(inRotated > 0 && inCurrent > 0, `the run's lines: ${inRotated} in ${log}.1, ${inCurrent} in ${log}`);
      const logged = Object.values(results.per_host[web.name].logged_requests_by_status).reduce((a, b) => a + b, 0);
      assert.equal(
        logged,
        inRotated + inCurrent,
        `the report's logged lines of ${web.name} vs the run's lines in both its files`,
      );
    },
  );

  phase(
    release,
    'every expression of the live dashboard returns data after the load run',
    ['a 40 s load run with a logrotate in the middle writes a report that matches the exact answers'],
    async () => {
      await dashboardHasData();
    },
  );

  if (alsoWithoutInventory) {
    phase(
      release,
      'a load run with --target and --prometheus and no inventory says what it could not check',
      ['Prometheus scrapes every target of every host'],
      async () => {
        const {
          prometheus: [prom],
          nginx: [web],
        } = await standHosts(INVENTORY);
        const out = await mkdtemp(join(tmpdir(), 'av-report-'));
        try {
          await run('npx', [
            'zx',
            'scripts/load.mjs',
            '--duration',
            '15s',
            '--out',
            out,
            '--target',
            `http://${web.address}:${web.vars.stand_nginx_port}/`,
            '--prometheus',
            `https://${prom.address}:${prom.vars.stand_prometheus_port}/`,
            '--secrets',
            `${ROOT}inventory/lab/secrets`,
          ]);
          const results = JSON.parse(await readFile(join(out, 'latest/results.json'), 'utf8'));
          assert.equal(results.exact_p99_seconds, null);
          assert.equal(results.logged_requests_by_status, null);
          assert.deepEqual(
            results.not_checked.map((n) => n.what),
            [
              "the exact p99, and the run's lines in nginx's log",
              'the answers host by host',
              "exporter-metrics.txt, av-exporter's metrics",
            ],
          );
          assert.deepEqual(results.report_failures, []);
          assert.equal(results.screenshots.p99.queryVisible, true);
          assert.match(await readFile(join(out, 'latest/summary.md'), 'utf8'), /\*\*Not checked:\*\*/);
        } finally {
          await rm(out, { recursive: true, force: true });
        }
      },
    );
  }

  phase(release, 'lab down leaves nothing behind', ['lab up with fresh hosts'], async () => {
    await dropE2eGroupVars();
    await run('npx', ['zx', 'scripts/lab.mjs', 'down']);
    assert.equal(existsSync(`${ROOT}${INVENTORY}`), false, 'the lab inventory is still there');
    const links = await run('ip', ['-o', 'link', 'show']);
    assert.doesNotMatch(links, /avlab0|vb-/, 'a lab network link is still there');
    const processes = await run('ps', ['-eo', 'args']);
    assert.doesNotMatch(processes, /systemd-nspawn .*avlab|apt-cacher-ng/, 'a lab process is still running');
    const tables = await run('nft', ['list', 'tables']);
    assert.doesNotMatch(tables, /av_lab/, "the lab's nftables table is still there");
  });
}

/** Where a report's window began against the times an alert phase had a unit stopped: inside one, or after the last. */
function windowStartAgainst(results, stops) {
  const from = Date.parse(results.window.promql_from) / 1000;
  assert.ok(Number.isFinite(from), `results.json's window.promql_from: ${results.window.promql_from}`);
  const inside = stops.find((stop) => stop.from <= from && from <= stop.to);
  if (inside)
    return `while ${inside.unit} on ${inside.host} was stopped (${(from - inside.from).toFixed(1)} s into its ${(inside.to - inside.from).toFixed(1)} s)`;
  const before = stops.filter((stop) => stop.to < from).at(-1);
  return before
    ? `${(from - before.to).toFixed(1)} s after ${before.unit} on ${before.host} was started again`
    : 'before any unit was stopped';
}

/** The live dashboard on every Prometheus host: served only with the password, every expression with data (shards together). */
async function dashboardHasData() {
  const { prometheus } = await standHosts(INVENTORY);
  const urls = prometheus.map((prom) => `https://${prom.address}:${prom.vars.stand_prometheus_port}/`);
  const { expressions, pages } = await checkDashboardExpressions(await standClientOf(INVENTORY), urls);
  console.log(`# the dashboard's ${expressions} expressions all have data on ${pages.join(', ')}`);
}

/** Three nginx hosts, two Prometheus shards, VictoriaMetrics: sharded scraping and the global view. */
function shardedScenario(release) {
  const label = `${release}, 3 nginx hosts, 2 Prometheus shards, VictoriaMetrics`;
  const shape = { nginx: 3, prometheus: 2 };
  phase(label, 'lab up with fresh hosts', [], async () => {
    await run('npx', ['zx', 'scripts/lab.mjs', 'down']);
    await run('npx', [
      'zx',
      'scripts/lab.mjs',
      'up',
      '--release',
      release,
      '--nginx',
      String(shape.nginx),
      '--prometheus',
      String(shape.prometheus),
      '--victoriametrics',
    ]);
    await useE2eAlertTiming();
    const { prometheus, nginx, victoriametrics } = await standHosts(INVENTORY);
    assert.deepEqual([prometheus.length, nginx.length, victoriametrics.length], [shape.prometheus, shape.nginx, 1]);
  });

  phase(label, 'first provisioning reaches every member of every group', ['lab up with fresh hosts'], async () => {
    await checkEveryHostProvisioned(await playbook(), INVENTORY);
    await loadStandSecrets(INVENTORY);
  });

  phase(
    label,
    'second provisioning changes nothing',
    ['first provisioning reaches every member of every group'],
    async () => {
      checkIdempotent(await playbook());
    },
  );

  phase(
    label,
    'every service is active on every host',
    ['first provisioning reaches every member of every group'],
    () => checkServicesActive(INVENTORY),
  );

  phase(
    label,
    'every target is scraped by exactly one shard, and is up',
    ['first provisioning reaches every member of every group'],
    async () => {
      const split = await checkTargetsUp(INVENTORY);
      console.log(`# av-exporter targets by shard: ${JSON.stringify(split)}`);
      assert.ok(
        Object.values(split).every((instances) => instances.length > 0),
        `a shard scrapes no nginx host: ${JSON.stringify(split)}`,
      );
    },
  );

  phase(
    label,
    'exporter ports answer only the Prometheus hosts, Prometheus and VictoriaMetrics answer the control machine',
    ['first provisioning reaches every member of every group'],
    () => checkFirewall(INVENTORY),
  );

  phase(
    label,
    'every endpoint, VictoriaMetrics included, is HTTPS with basic auth, and nothing else listens beyond loopback',
    ['first provisioning reaches every member of every group'],
    async () => {
      await checkEveryEndpointLockedDown(INVENTORY);
      console.log(`# listening beyond loopback: ${JSON.stringify(await checkNothingElseListens(INVENTORY))}`);
    },
  );

  phase(
    label,
    'a 40 s load run over every nginx host: exact per host and stand-wide, the global view within the bounds',
    ['every target is scraped by exactly one shard, and is up'],
    async () => {
      await run('npx', ['zx', 'scripts/load.mjs', '--duration', '40s']);
      const { prometheus, nginx } = await standHosts(INVENTORY);
      const results = await checkReport(`${ROOT}report/latest`, { nginxHosts: nginx.map((h) => h.name) });
      checkShardsAndGlobalView(results, {
        nginxHosts: nginx.map((h) => h.name),
        shardNames: prometheus.map((h) => h.name),
      });
      const vm = results.victoriametrics;
      console.log(
        `# p99: exact ${results.exact_p99_seconds} s, Prometheus shards merged ${results.p99_seconds} s, VictoriaMetrics ${vm.p99_seconds} s`,
      );
      console.log(
        `# per status, window exact / Prometheus / VictoriaMetrics: ${Object.keys(results.window_requests_by_status)
          .map(
            (s) =>
              `${s} ${results.window_requests_by_status[s]}/${results.requests_by_status[s]?.toFixed(1)}/${vm.requests_by_status[s]?.toFixed(1)}`,
          )
          .join(', ')}`,
      );
      for (const shard of results.prometheus_shards) console.log(`# ${shard.name}: ${JSON.stringify(shard.costs)}`);
    },
  );

  phase(
    label,
    'every expression of the live dashboard returns data on the shards after the load run',
    ['a 40 s load run over every nginx host: exact per host and stand-wide, the global view within the bounds'],
    dashboardHasData,
  );

  phase(
    label,
    "every Prometheus's and vmalert's Watchdog reaches every receiver, and the Alertmanagers are one cluster",
    ['every target is scraped by exactly one shard, and is up'],
    async () => {
      const { prometheus, victoriametrics } = await standHosts(INVENTORY);
      console.log(
        `# heartbeat ages: ${JSON.stringify(
          await checkHeartbeats(
            INVENTORY,
            [...prometheus, ...victoriametrics].map((h) => h.name),
            2 * HEARTBEAT + 5,
          ),
        )}`,
      );
      await checkAlertmanagerCluster(prometheus);
    },
  );

  // from here on, the same hosts as one shard of two replicas: the alert phases (an alert both replicas raise is
  // notified once), then its load run, whose 5 min window must start after the change (VictoriaMetrics'
  // look-back, docs/extending.md); it may start while the alert phases had an av-exporter stopped, as a team's
  // window may: the raw counters then hold its last value (test/raw-counters.test.mjs)
  /** @type {{ host: string, unit: string, from: number, to: number }[]} */
  const exporterStops = [];
  const replicated =
    'stand_prometheus_replicas: 2 makes prom1 and prom2 one shard of two replicas, which scrape every target alike, up';
  let replicatedAt = 0;
  phase(label, replicated, ['second provisioning changes nothing'], async () => {
    await useE2eGroupVars('replicas', { stand_prometheus_replicas: 2 });
    await playbook();
    replicatedAt = Date.now();
    console.log(`# replicas: targets per shard ${JSON.stringify(await checkReplicasScrapeAlike(INVENTORY))}`);
  });

  phase(
    label,
    "an alert every Prometheus sends to every Alertmanager is notified once, to the stand's receivers and the team's; a host's maintenance silence made at one Alertmanager holds at the other",
    ['every target is scraped by exactly one shard, and is up'],
    async () => {
      await withTeamReceivers(async (servers) => {
        const {
          prometheus: [first, second],
          nginx: [web, other],
        } = await standHosts(INVENTORY);
        const { firedAfter, bound, firingNotifications, stopped } = await checkAlertRoundTrip(INVENTORY, TARGET_DOWN);
        exporterStops.push(stopped);
        await checkTeamNotified(servers, web.name);
        console.log(
          `# TargetDown notified ${firingNotifications} time(s) over both receivers and once to the team's mailbox and each webhook, ${firedAfter.toFixed(1)} s after av-exporter stopped (bound ${bound} s)`,
        );
        // scripts/silence.mjs at the first Alertmanager; the second has it from the cluster's gossip
        const alertmanagerUrl = (host) => `https://${host.address}:${host.vars.stand_alertmanager_port}`;
        const made = await run('npx', [
          'zx',
          'scripts/silence.mjs',
          '--alertmanager',
          alertmanagerUrl(first),
          '--host',
          other.name,
          '--duration',
          '10m',
        ]);
        const ids = /: (\S+(, \S+)*)\n/.exec(made)?.[1]?.split(', ') ?? [];
        assert.equal(ids.length, 2, made);
        const client = await standClientOf(INVENTORY);
        let seen = [];
        await pollUntil(
          async () => {
            const { body } = await client.getJson(`${alertmanagerUrl(second)}/api/v2/silences`);
            seen = (body ?? []).filter((silence) => ids.includes(silence.id) && silence.status.state === 'active');
            return seen.length === ids.length;
          },
          { seconds: 30, intervalMs: 1000, onTimeout: () => false },
        );
        assert.equal(
          seen.length,
          ids.length,
          `${second.name}'s Alertmanager has ${seen.length} of the ${ids.length} silences made at ${first.name}'s`,
        );
        await run('npx', [
          'zx',
          'scripts/silence.mjs',
          '--alertmanager',
          alertmanagerUrl(first),
          '--expire',
          ids.join(','),
        ]);
      });
    },
  );

  phase(
    label,
    'Prometheus stopped on prom2: PrometheusDown naming it comes from prom1, and both receivers report its silence',
    ['every target is scraped by exactly one shard, and is up'],
    async () => {
      const {
        prometheus: [first, second],
      } = await standHosts(INVENTORY);
      const bound =
        TARGET_DOWN.forSeconds +
        2 * TARGET_DOWN.evaluationSeconds +
        TARGET_DOWN.scrapeSeconds +
        TARGET_DOWN.groupWaitSeconds +
        20;
      const stoppedAt = Date.now() / 1000;
      const {
        reportedAfter,
        resolvedAfter,
        during: down,
      } = await checkDeadMansSwitch(INVENTORY, {
        host: second.name,
        unit: 'prometheus',
        silent: second.name,
        reporters: [first.name, second.name],
        boundSeconds: REPORTED_AFTER_PROMETHEUS_STOPS,
        whileStopped: () =>
          waitForNotification(INVENTORY, {
            alertname: 'PrometheusDown',
            labels: { instance: second.name },
            since: stoppedAt,
            limitSeconds: bound,
          }),
      });
      // the alert's link is Prometheus' external URL: in the stand, its host's inventory address
      assert.match(
        down.generator,
        new RegExp(`//(${first.name}|${first.address.replaceAll('.', '\\.')})[:/]`),
        `PrometheusDown for ${second.name} was not sent from ${first.name}: ${down.generator}`,
      );
      console.log(
        `# PrometheusDown ${second.name} from ${first.name} after ${(down.at - stoppedAt).toFixed(1)} s (bound ${bound} s); DeadMansSwitch after ${secondsByHost(reportedAfter)} s (bound ${REPORTED_AFTER_PROMETHEUS_STOPS} s), resolved ${secondsByHost(resolvedAfter)} s after its start`,
      );
    },
  );

  phase(
    label,
    'Alertmanager stopped on prom1: its receiver reports the silence, and an alert still arrives, once',
    ['every target is scraped by exactly one shard, and is up'],
    async () => {
      const {
        prometheus: [first, second],
      } = await standHosts(INVENTORY);
      const {
        reportedAfter,
        resolvedAfter,
        during: roundTrip,
      } = await checkDeadMansSwitch(INVENTORY, {
        host: first.name,
        unit: 'prometheus-alertmanager',
        silent: second.name,
        reporters: [first.name],
        boundSeconds: REPORTED_AFTER_ALERTMANAGER_STOPS,
        whileStopped: () => checkAlertRoundTrip(INVENTORY, TARGET_DOWN),
      });
      exporterStops.push(roundTrip.stopped);
      console.log(
        `# ${first.name}'s receiver reported the silence after ${reportedAfter[first.name].toFixed(1)} s (bound ${REPORTED_AFTER_ALERTMANAGER_STOPS} s); TargetDown notified ${roundTrip.firingNotifications} time(s), ${roundTrip.firedAfter.toFixed(1)} s after the stop; resolved ${secondsByHost(resolvedAfter)} s after its start`,
      );
    },
  );

  phase(
    label,
    'a 40 s load run with prom2 stopped 20 s into it: the report asks its fellow replica, complete and exact, and VictoriaMetrics counts every request once',
    [replicated],
    async () => {
      const { nginx } = await standHosts(INVENTORY);
      // the run's 5 min window starts after the change to replicas (its 40 s and the warm-up included)
      await sleep(Math.max(0, replicatedAt + 270_000 - Date.now()));
      const stopped = await stopReplicaDuring(
        INVENTORY,
        'prom2',
        () => run('npx', ['zx', 'scripts/load.mjs', '--duration', '40s']),
        { afterMs: 20_000 },
      );
      const written = JSON.parse(await readFile(`${ROOT}report/latest/results.json`, 'utf8'));
      console.log(`# replicas: the window began ${windowStartAgainst(written, exporterStops)}`);
      const results = await checkReport(`${ROOT}report/latest`, { nginxHosts: nginx.map((h) => h.name) });
      await checkReportAskedAround(results, stopped, INVENTORY);
      await checkVictoriaMetricsCountsOnce(INVENTORY, results);
      console.log(
        `# replicas: prom2 stopped 20 s into the run; the report asked ${results.prometheus}; requests in the window ${JSON.stringify(results.window_requests_by_status)}, the same in VictoriaMetrics`,
      );
    },
  );

  // last: it wipes prom2's Prometheus and replaces vm1, which the alert phases above would see
  phase(
    label,
    'backup.yml while the stand runs; prom2 wiped, vm1 replaced by a fresh host and provisioned; restore.yml --limit them: the load run answers the same, exactly',
    ['a 40 s load run over every nginx host: exact per host and stand-wide, the global view within the bounds'],
    async () => {
      const restored = await checkBackupRestore(INVENTORY, { replaceVictoriaMetrics: true });
      console.log(
        `# backup ${restored.backupSeconds.toFixed(1)} s, vm1 replaced and provisioned ${restored.replaceSeconds.toFixed(1)} s, restore of ${restored.restored.join(', ')} ${restored.restoreSeconds.toFixed(1)} s; bytes: ${JSON.stringify(restored.files)}`,
      );
    },
  );

  phase(label, 'lab down', ['lab up with fresh hosts'], async () => {
    await dropE2eGroupVars();
    await run('npx', ['zx', 'scripts/lab.mjs', 'down']);
  });
}

/**
 * An ordinary user on the control machine, as people run Ansible: their own account, their own copy of the
 * repository (node_modules copied, not fetched again), and their own copy of the lab's inventory and SSH key
 * (the lab itself needs root, so the test makes it). They need no privilege on this machine: prereqs.sh finds
 * every tool and asks for none; site.yml provisions fresh hosts, then changes nothing; a short load run writes
 * a complete and exact report; the secrets and the report are theirs.
 */
const ORDINARY_USER = 'av-stand-user';
const removeOrdinaryUser = () =>
  run('bash', [
    '-c',
    `if id ${ORDINARY_USER} >/dev/null 2>&1; then pkill -u ${ORDINARY_USER} || true; userdel --remove ${ORDINARY_USER} 2>/dev/null || true; fi`,
  ]);

function ordinaryUserScenario(release) {
  const label = `${release}, as an ordinary user`;
  const user = ORDINARY_USER;
  const home = `/home/${user}`;
  const copy = `${home}/stand`;
  const asUserIn =
    (dir) =>
    /** @param {string} command @param {{ timeoutMs?: number }} [options] */
    (command, { timeoutMs } = {}) =>
      run('runuser', ['-l', user, '-c', `cd ${dir} && ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ${command}`], {
        timeoutMs,
      });
  const asUser = asUserIn(copy);
  /** A playbook's first run on fresh hosts changes them, fails nothing and warns of nothing; its second changes nothing. */
  const provisionThenConverged = async (runPlaybook) => {
    const first = await runPlaybook();
    checkNoWarnings(first);
    assert.match(first, /changed=[1-9]/, 'the first run on fresh hosts changed nothing?');
    assert.doesNotMatch(first, /failed=[1-9]|unreachable=[1-9]/);
    const second = await runPlaybook();
    checkNoWarnings(second);
    checkIdempotent(second);
  };
  const removeUser = removeOrdinaryUser;

  phase(label, 'lab up with fresh hosts', [], async () => {
    await run('npx', ['zx', 'scripts/lab.mjs', 'down']);
    await run('npx', ['zx', 'scripts/lab.mjs', 'up', '--release', release, '--nginx', '1']);
  });

  phase(
    label,
    "a user's own copy of the repository, the lab's inventory and its key",
    ['lab up with fresh hosts'],
    async () => {
      await removeUser();
      await run('useradd', ['--create-home', '--shell', '/bin/bash', user]);
      // what git tracks and what it does not ignore, as a clone of this working tree would have it
      await run('bash', [
        '-c',
        `mkdir -p ${copy} && git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C ${copy} && cp -a node_modules ${copy}/ && mkdir -p ${copy}/inventory/lab`,
      ]);
      const inventory = await readFile(`${ROOT}${INVENTORY}`, 'utf8');
      const { ansible_ssh_private_key_file: key, ansible_ssh_common_args: args } = parseYaml(inventory).all.vars;
      const knownHosts = /UserKnownHostsFile=(\S+)/.exec(args)[1];
      await run('bash', [
        '-c',
        `mkdir -p ${home}/.ssh && cp ${key} ${home}/.ssh/av-lab && cp ${knownHosts} ${home}/.ssh/av-lab-known_hosts`,
      ]);
      await writeFile(
        `${copy}/${INVENTORY}`,
        inventory.replaceAll(key, `${home}/.ssh/av-lab`).replaceAll(knownHosts, `${home}/.ssh/av-lab-known_hosts`),
      );
      await run('bash', [
        '-c',
        `rm -rf ${copy}/inventory/lab/secrets ${copy}/report && chown -R ${user}: ${home} && chmod 700 ${home}/.ssh && chmod 600 ${home}/.ssh/av-lab`,
      ]);
    },
  );

  // A team with its own Ansible: the collection's tarball installed into its own collections path, a playbook
  // of its own outside the checkout, its own group names and values, every role of the collection alone (no role
  // stand, no values of ours), each as its README's first example shows it, on the hosts before the stand ever saw them.
  phase(
    label,
    "a team's own playbook runs the collection's roles alone, as their READMEs show them, on the fresh hosts: check mode, a first run, then changed=0",
    ["a user's own copy of the repository, the lab's inventory and its key"],
    async () => {
      const team = `${home}/team-ansible`;
      await run('npm', ['run', 'package']); // av-exporter's Debian package goes into the tarball, as `npm run collection` does
      const built = await run('ansible-galaxy', ['collection', 'build', ROOT, '--force', '--output-path', home]);
      const tarball = /Created collection for av\.stand at (\S+)/.exec(built)[1];
      const lab = parseYaml(await readFile(`${copy}/${INVENTORY}`, 'utf8')).all;
      const hostsOf = (group) => lab.children[group].hosts;
      await run('bash', ['-c', `mkdir -p ${team} && chown -R ${user}: ${home}`]);
      await writeFile(`${team}/ansible.cfg`, '[defaults]\ninventory = hosts.yml\ncollections_path = collections\n');
      await writeFile(
        `${team}/hosts.yml`,
        stringifyYaml({
          all: {
            vars: lab.vars,
            children: { observability: { hosts: hostsOf('prometheus') }, edge: { hosts: hostsOf('nginx') } },
          },
        }),
      );
      // The node exporters behind HTTPS and a password of the team's (role tls_auth alone, as its README shows it:
      // a CA and the password made in the team's directory), the Prometheus host's unit allowed to read them too
      const readmeExample = async (role) =>
        parseYaml(examplePlaybook(await readFile(`${ROOT}roles/${role}/README.md`, 'utf8')));
      const [exportersExample] = await readmeExample('tls_auth');
      Object.assign(exportersExample.roles[0].vars, {
        tls_auth_units:
          "{{ ['prometheus-node-exporter'] + (['prometheus'] if 'observability' in group_names else []) }}",
        tls_auth_password_on_host: "{{ 'observability' in group_names }}",
      });
      exportersExample.roles[1].vars.node_exporter_disabled_collectors = ['mdadm'];
      // and open to the team's Prometheus host only (role nftables_firewall alone, as its README shows it)
      const [firewallExample] = await readmeExample('nftables_firewall');
      firewallExample.roles[0].vars.nftables_firewall_guards[0].allowed = Object.values(hostsOf('prometheus')).map(
        (h) => h.ansible_host,
      );
      // Prometheus alone, as role prometheus's README shows it, on the team's group, with the team's own
      // certificate (made here, put on the host by a play of the team's) and a user of its own; it scrapes the
      // team's node exporters over HTTPS with the team's CA and password
      const [[promName, promHost]] = Object.entries(hostsOf('prometheus'));
      const password = `team-${Date.now()}`;
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        `/CN=${promName}`,
        '-addext',
        `subjectAltName=IP:${promHost.ansible_host}`,
        '-keyout',
        `${team}/prometheus.key`,
        '-out',
        `${team}/prometheus.crt`,
      ]);
      const [prometheusExample] = await readmeExample('prometheus');
      const exampleVars = prometheusExample.roles[0].vars;
      exampleVars.prometheus_targets = {
        node: [
          {
            targets: Object.values({ ...hostsOf('prometheus'), ...hostsOf('nginx') }).map(
              (h) => `${h.ansible_host}:9100`,
            ),
            labels: { env: 'team' },
          },
        ],
      };
      exampleVars.prometheus_target_settings = {
        node: {
          scheme: 'https',
          tls_config: { ca_file: '/etc/av-stand/tls/ca.crt' },
          basic_auth: { username: 'admin', password_file: '/etc/av-stand/admin.password' },
        },
      };
      exampleVars.prometheus_web_config.basic_auth_users = { grafana: bcrypt.hashSync(password, 10) };
      const { cert_file: certFile, key_file: keyFile } = exampleVars.prometheus_web_config.tls_server_config;
      const placeCertificate = {
        name: "The team's certificate for Prometheus",
        hosts: 'observability',
        become: true,
        tasks: [
          {
            name: 'Make its directory',
            'ansible.builtin.file': { path: dirname(certFile), state: 'directory', mode: '0755' },
          },
          // a throwaway test key, readable by Prometheus's user, which this play runs before the package makes it
          ...[
            [`${team}/prometheus.crt`, certFile],
            [`${team}/prometheus.key`, keyFile],
          ].map(([src, dest]) => ({ name: `Copy ${dest}`, 'ansible.builtin.copy': { src, dest, mode: '0644' } })),
        ],
      };
      const webTier = {
        name: 'The web tier',
        hosts: 'edge',
        become: true,
        roles: [{ role: 'av.stand.nginx', vars: { nginx_listen_port: 8081 } }, 'av.stand.av_exporter'],
      };
      // the other roles' README examples as they are, on the team's groups (nginx at the team's port)
      const [nginxExporterExample] = await readmeExample('nginx_exporter');
      nginxExporterExample.roles[0] = { role: nginxExporterExample.roles[0], vars: { nginx_listen_port: 8081 } };
      const onObservability = await Promise.all(
        ['victoriametrics', 'vmalert', 'alert_rules', 'alert_receiver', 'alertmanager', 'blackbox_exporter'].map(
          async (role) => ({ ...(await readmeExample(role))[0], hosts: 'observability' }),
        ),
      );
      await writeFile(
        `${team}/team.yml`,
        stringifyYaml([
          { ...exportersExample, hosts: 'all' },
          { ...firewallExample, hosts: 'all' },
          webTier,
          { ...nginxExporterExample, hosts: 'edge' },
          placeCertificate,
          { ...prometheusExample, hosts: 'observability' },
          ...onObservability,
        ]),
      );
      await run('bash', ['-c', `chown -R ${user}: ${team}`]);
      const asTeam = asUserIn(team);
      await asTeam(`ansible-galaxy collection install ${tarball} -p collections`);
      const check = await asTeam('ansible-playbook --check team.yml');
      checkNoWarnings(check);
      assert.match(check, /changed=[1-9]/, 'check mode on fresh hosts would change nothing?');
      assert.doesNotMatch(check, /failed=[1-9]|unreachable=[1-9]/);
      await provisionThenConverged(() => asTeam('ansible-playbook team.yml'));
      // the node exporter at its own default port, HTTPS with the team's CA and password, without the collector turned off
      // (asked from the Prometheus host: the team's firewall drops this machine)
      for (const [name, host] of Object.entries(hostsOf('nginx'))) {
        assert.equal(
          await tcpAnswers(host.ansible_host, 9100),
          false,
          `${name}: the node exporter answers this machine through the team's firewall`,
        );
      }
      // python3 on the host (a minimal Debian has no curl): the status without and with the team's password, and
      // whether the metrics name the exporter and the collector turned off
      const probe = (url) =>
        [
          'import base64, ssl, urllib.error, urllib.request',
          'context = ssl.create_default_context(cafile="/etc/av-stand/tls/ca.crt")',
          'def get(headers):',
          '    try:',
          `        with urllib.request.urlopen(urllib.request.Request("${url}", headers=headers), context=context, timeout=10) as r: return r.status, r.read().decode()`,
          '    except urllib.error.HTTPError as e: return e.code, ""',
          'password = open("/etc/av-stand/admin.password").read().strip()',
          'anonymous, _ = get({})',
          'status, body = get({"Authorization": "Basic " + base64.b64encode(("admin:" + password).encode()).decode()})',
          'print("PROBE", anonymous, status, "node_exporter_build_info{" in body, \'collector="mdadm"\' in body)',
        ].join('\n');
      for (const [name, host] of Object.entries({ ...hostsOf('prometheus'), ...hostsOf('nginx') })) {
        const output = await onHosts(
          INVENTORY,
          promName,
          `echo ${Buffer.from(probe(`https://${host.ansible_host}:9100/metrics`)).toString('base64')} | base64 -d | python3 -`,
        );
        assert.match(
          output,
          /PROBE 401 200 True False/,
          `${name}'s node exporter, asked from ${promName} without the password, then with it (build info shown, mdadm off): ${output}`,
        );
      }
      // Prometheus alone: HTTPS with the team's certificate, 401 without the team's user, and the node exporters up
      const prometheusUrl = `https://${promHost.ansible_host}:9090`;
      const ca = await readFile(`${team}/prometheus.crt`, 'utf8');
      assert.equal(
        (await httpsGet(`${prometheusUrl}/api/v1/targets`, { ca })).status,
        401,
        "Prometheus answered without the team's user",
      );
      let targets = [];
      await pollUntil(
        async () => {
          const { status, body } = await httpsGet(`${prometheusUrl}/api/v1/targets`, {
            ca,
            auth: `grafana:${password}`,
          });
          assert.equal(status, 200, body);
          targets = JSON.parse(body).data.activeTargets;
          return targets.length === 2 && targets.every((t) => t.health === 'up');
        },
        { seconds: 30, intervalMs: 1000, onTimeout: () => false },
      );
      assert.deepEqual(
        targets.map((t) => [t.labels.job, t.labels.env, t.health]),
        [
          ['node', 'team', 'up'],
          ['node', 'team', 'up'],
        ],
        JSON.stringify(targets),
      );
      // the others alone, each answering at its own default port: the blackbox exporter probes, VictoriaMetrics and
      // vmalert are healthy, the webhook receiver answers (loopback), the nginx exporter reads the team's nginx
      const [[webName, webHost]] = Object.entries(hostsOf('nginx'));
      const standalone = {
        blackbox: ['http://127.0.0.1:9115/probe?module=tcp_connect&target=127.0.0.1:22', 'probe_success 1'],
        victoriametrics: ['http://127.0.0.1:8428/health', 'OK'],
        vmalert: ['http://127.0.0.1:8880/health', 'OK'],
        alert_receiver: ['http://127.0.0.1:9095/metrics', 'av_alert_receiver_'],
        alertmanager: ['http://127.0.0.1:9093/api/v2/status', '"status":"disabled"'],
        nginx_exporter: [`http://${webHost.ansible_host}:9113/metrics`, 'nginx_up 1'],
      };
      const ask = [
        'import json, urllib.request',
        `for name, (url, wanted) in json.loads(${JSON.stringify(JSON.stringify(standalone))}).items():`,
        '    try: body = urllib.request.urlopen(url, timeout=10).read().decode()',
        '    except Exception as error: body = repr(error)',
        '    print("STANDALONE", name, wanted in body, body[:200].replace("\\n", " "))',
      ].join('\n');
      let answers = '';
      await pollUntil(
        async () => {
          answers = await onHosts(
            INVENTORY,
            promName,
            `echo ${Buffer.from(ask).toString('base64')} | base64 -d | python3 -`,
          );
          return (answers.match(/STANDALONE \S+ True/g) ?? []).length === Object.keys(standalone).length;
        },
        { seconds: 30, intervalMs: 2000, onTimeout: () => false },
      );
      for (const name of Object.keys(standalone))
        assert.match(
          answers,
          new RegExp(`STANDALONE ${name} True`),
          `${name} alone, asked from ${promName} (${webName} for the nginx exporter): ${answers}`,
        );
      // nginx its site at the team's port, each request a JSON line of its access log, which av-exporter (from
      // its Debian package, plain HTTP at its own default port) counts
      for (const [name, host] of Object.entries(hostsOf('nginx'))) {
        for (let i = 0; i < 3; i++)
          assert.equal((await fetch(`http://${host.ansible_host}:8081/?from=team`)).status, 200, name);
        const line = await onHosts(INVENTORY, name, 'tail -n 1 /var/log/nginx/access.json.log');
        assert.match(line, /"request_uri":"\/\?from=team"/, `${name}: ${line}`);
        let counted = 0;
        await pollUntil(
          async () => {
            const metrics = await (await fetch(`http://${host.ansible_host}:8000/metrics`)).text();
            counted = Number(
              /^av_nginx_http_requests_total\{status="200",method="GET"\} (\d+)/m.exec(metrics)?.[1] ?? 0,
            );
            return counted >= 3;
          },
          { seconds: 10, intervalMs: 500, onTimeout: () => false },
        );
        assert.ok(counted >= 3, `${name}: av-exporter counted ${counted} of the 3 requests`);
      }
    },
  );

  phase(
    label,
    "prereqs.sh needs no privilege when every tool is there; site.yml provisions the hosts the team's playbook made",
    ["a user's own copy of the repository, the lab's inventory and its key"],
    async () => {
      await asUser('bash scripts/prereqs.sh');
      // one run: a second one would repeat the other scenarios' idempotence check, site.yml after itself
      const output = await asUser('ansible-playbook site.yml');
      checkNoWarnings(output);
      assert.match(output, /changed=[1-9]/, "site.yml changed nothing on the team's hosts?");
      assert.doesNotMatch(output, /failed=[1-9]|unreachable=[1-9]/);
    },
  );

  phase(
    label,
    "a short load run writes a complete and exact report; the secrets and the report are the user's",
    ["prereqs.sh needs no privilege when every tool is there; site.yml provisions the hosts the team's playbook made"],
    async () => {
      await asUser('npx zx scripts/load.mjs --duration 20s');
      const { nginx } = await standHosts(INVENTORY);
      await checkReport(`${copy}/report/latest`, { nginxHosts: nginx.map((h) => h.name) });
      const uid = Number((await run('id', ['-u', user])).trim());
      const owners = await run('bash', [
        '-c',
        `find ${copy}/report ${copy}/inventory/lab/secrets ! -uid ${uid} -printf '%p\\n'`,
      ]);
      assert.equal(owners.trim(), '', `files of the user's report or secrets owned by someone else:\n${owners}`);
    },
  );

  phase(label, 'lab down, and the user removed', ['lab up with fresh hosts'], async () => {
    await run('npx', ['zx', 'scripts/lab.mjs', 'down']);
    await removeUser();
  });
}

/**
 * A bare Debian of `release` as the control machine (scripts/lab/bare-machine.mjs): git and sudo only, as a
 * cloud image has them. Its user clones the repository and runs the README's first command, word for word
 * (with a 20 s load instead of 5 min): it installs Node.js, npm and the tools through sudo, then runs the lab
 * (that release's systemd-nspawn), provisions it and writes a complete and exact report.
 */
const BARE_MACHINE = new BareMachine('trixie');

/** @param {BareMachine} machine */
function bareMachineScenario(machine) {
  const label = `${machine.release}, a bare control machine`;
  const inMachine = (script, options) => run(...machine.asRoot(script), options);
  const asUser = (script, options) => run(...machine.asUser(script), options);
  const made = 'Debian with git and sudo only, and a user who may sudo';

  phase(label, made, [], async () => {
    await run('npx', ['zx', 'scripts/lab.mjs', 'down']); // the machine's lab takes this machine's bridge
    await run('bash', ['-c', machine.createScript()]);
    await inMachine(machine.cloudImageScript());
    await run('git', ['clone', '--quiet', '--bare', ROOT, `${machine.dir}/srv/av-stand.git`]);
    await inMachine(`chown -R ${machine.user}: /srv/av-stand.git`);
  });

  phase(
    label,
    "the README's first command, run by that user in a clone, sets up everything, runs the lab and writes the report",
    [made],
    async () => {
      const readme = await readFile(`${ROOT}README.md`, 'utf8');
      const firstCommand = /^(bash scripts\/setup\.sh && sudo npm run stand)\s/m.exec(readme)?.[1];
      assert.ok(
        firstCommand,
        "the README's quick start no longer starts with `bash scripts/setup.sh && sudo npm run stand`: update this test with it",
      );
      const output = await asUser(
        `git clone --quiet /srv/av-stand.git stand && cd stand && ${firstCommand} -- --duration 20s`,
        { timeoutMs: 45 * 60_000 },
      );
      assert.match(
        output,
        /prereqs: installing .*\bnodejs\b.*\(with sudo\)/,
        'prereqs.sh did not install Node.js through sudo',
      );
      checkNoWarnings(output);
      const results = await checkReport(`${machine.standDir}/report/latest`, { nginxHosts: ['web1'] });
      console.log(
        `# ${machine.release} as the control machine: the first command's report: p99 ${results.p99_seconds} s (exact ${results.exact_p99_seconds} s), ${results.exact_requests_total} requests`,
      );
    },
  );

  phase(label, 'its lab down, the machine removed', [made], () => run('bash', ['-c', machine.removeScript()]));
}

describe('the stand, end to end on the local lab', { timeout: 85 * 60_000 }, () => {
  after(async () => {
    // always leave the machine as it was; the last phase checks that this really removes everything
    if (!process.env.AV_KEEP_LAB) {
      await dropE2eGroupVars();
      await run('npx', ['zx', 'scripts/lab.mjs', 'down']).catch((error) => console.error(error.message));
    }
    await removeOrdinaryUser().catch((error) => console.error(error.message));
    await run('bash', ['-c', BARE_MACHINE.removeScript()]).catch((error) => console.error(error.message));
    console.log('phase timings:');
    for (const [name, seconds] of timings) console.log(`  ${seconds.toFixed(1).padStart(7)} s  ${name}`);
    for (const [name, error] of failures) {
      const lines = String(error?.message ?? error).split('\n');
      const shown = lines.length > 60 ? [...lines.slice(0, 10), '[...]', ...lines.slice(-50)] : lines;
      console.log(`failed: ${name}\n${shown.join('\n')}`);
    }
  });

  standScenario('trixie', { alsoCheckOnFreshHosts: true, alsoTrixieControl: true, alsoInventoryChanges: true });
  standScenario('bookworm', { alsoWithoutInventory: true, alsoWatchdog: true });
  shardedScenario('trixie');
  ordinaryUserScenario('trixie');
  bareMachineScenario(BARE_MACHINE);
});
