// Alerting, statically: Alertmanager's routing tree (amtool config routes test) and inhibition rules as
// rendered for the example inventory; every alert's severity, summary and runbook (a section of
// docs/runbooks.md); role alert_rules' copy of av-exporter's default buckets; the roles alert_rules,
// alert_receiver and vmalert used alone, without role stand, rendered with their own defaults. No hosts.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tsImport } from 'tsx/esm/api';
import { parse as parseYaml } from 'yaml';
import { EXAMPLE_INVENTORY, ROOT, renderConfigs, tool } from './support/ansible.mjs';

const RULE_SETS = ['heartbeat', 'stand', 'service_levels'];

/** The receivers amtool routes an alert with these labels to (amtool 0.25 prints them on one line). */
async function routes(configFile, labels) {
  const args = [
    'config',
    'routes',
    'test',
    `--config.file=${configFile}`,
    ...Object.entries(labels).map(([k, v]) => `${k}=${v}`),
  ];
  // stdout first; amtool warns on stderr that --config.file wins over --alertmanager.url
  return (await tool('amtool', args)).split('\n')[0].trim();
}

/** One matcher of Alertmanager's `name op "value"` form, as a predicate on a label set. */
function matcher(text) {
  const [, name, op, quoted] = /^(\w+)\s*(=~|!~|!=|=)\s*(".*")$/.exec(text) ?? assert.fail(`matcher ${text}`);
  const value = JSON.parse(quoted);
  const regex = new RegExp(`^(?:${value})$`);
  return (labels) => {
    const actual = labels[name] ?? '';
    return { '=': actual === value, '!=': actual !== value, '=~': regex.test(actual), '!~': !regex.test(actual) }[op];
  };
}

/**
 * Alertmanager's inhibition over a set of firing alerts: the names of those that some rule's source alert
 * inhibits (sources and targets matched, the `equal` labels the same; an alert that matches both sides of a
 * rule is not inhibited by another such alert, as Alertmanager has it).
 */
function inhibited(rules, alerts) {
  const all = (matchers, labels) => matchers.map(matcher).every((m) => m(labels));
  return alerts
    .filter((target) =>
      rules.some((rule) => {
        if (!all(rule.target_matchers, target)) return false;
        const targetIsSource = all(rule.source_matchers, target);
        return alerts.some(
          (source) =>
            source !== target &&
            all(rule.source_matchers, source) &&
            !(targetIsSource && all(rule.target_matchers, source)) &&
            (rule.equal ?? []).every((label) => (source[label] ?? '') === (target[label] ?? '')),
        );
      }),
    )
    .map((alert) => `${alert.alertname}${alert.instance ? `{${alert.instance}}` : ''}`);
}

/** A variable of roles/prometheus/vars/main.yml as Ansible evaluates it for `host` of `inventory`. */
async function prometheusVar(inventory, host, name) {
  const output = await tool('ansible', [
    '-i',
    inventory,
    host,
    '--playbook-dir',
    ROOT,
    '-c',
    'local',
    '-e',
    '@roles/stand/defaults/main.yml',
    '-e',
    '@roles/stand/vars/main.yml',
    '-e',
    '@roles/prometheus/vars/main.yml',
    '-m',
    'ansible.builtin.debug',
    '-a',
    `var=${name}`,
    '-o',
  ]);
  return JSON.parse(/=> (\{.*\})/.exec(output.replace(/\n/g, ''))[1])[name];
}

/** GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to dashes. */
const anchor = (heading) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, '')
    .replace(/ /g, '-');

describe('Alerting, statically', () => {
  let rendered;
  let amConfigFile;
  let amConfig;

  before(async () => {
    rendered = await renderConfigs(EXAMPLE_INVENTORY);
    amConfigFile = join(rendered, 'prom1/alertmanager.yml');
    amConfig = parseYaml(await readFile(amConfigFile, 'utf8'));
  });
  after(() => rm(rendered, { recursive: true, force: true }));

  test("Alertmanager's config passes amtool check-config", async () => {
    assert.match(await tool('amtool', ['check-config', amConfigFile]), /SUCCESS/);
  });

  test("amtool config routes test: critical pages, warning makes a ticket, the Watchdog goes to this host's heartbeat receiver", async () => {
    assert.equal(
      await routes(amConfigFile, { alertname: 'TargetDown', severity: 'critical', instance: 'web1' }),
      'page',
    );
    assert.equal(
      await routes(amConfigFile, {
        alertname: 'NginxAvailabilityBudgetBurnFast',
        severity: 'critical',
        slo: 'availability',
      }),
      'page',
    );
    assert.equal(
      await routes(amConfigFile, { alertname: 'HostMemoryLow', severity: 'warning', instance: 'web1' }),
      'ticket',
    );
    assert.equal(
      await routes(amConfigFile, { alertname: 'Watchdog', severity: 'none', prometheus: 'prom1' }),
      'heartbeat-prom1',
    );
    // another evaluator's Watchdog (prom2, vmalert) reaches this host's receiver too; its route comes first
    assert.equal(
      await routes(amConfigFile, { alertname: 'Watchdog', severity: 'none', prometheus: 'vm1' }),
      'heartbeat-prom1',
    );
    assert.equal(
      await routes(amConfigFile, { alertname: 'Watchdog', severity: 'critical', prometheus: 'prom2' }),
      'heartbeat-prom1',
    );
    // a rule without a severity is not lost
    assert.equal(await routes(amConfigFile, { alertname: 'Mystery' }), 'ticket');
    // --verify.receivers fails on a wrong receiver (amtool's own check, not only our reading of its output)
    await assert.rejects(
      tool('amtool', [
        'config',
        'routes',
        'test',
        `--config.file=${amConfigFile}`,
        '--verify.receivers=ticket',
        'severity=critical',
      ]),
      /exit 1/,
    );
  });

  test('the heartbeat route: grouped per evaluator, repeated every stand_heartbeat_interval, never continued; every receiver posts to the local webhook', async () => {
    const shared = parseYaml(await readFile(join(ROOT, 'roles/stand/defaults/main.yml'), 'utf8'));
    const [heartbeat] = amConfig.route.routes;
    assert.deepEqual(heartbeat, {
      receiver: 'heartbeat-prom1',
      matchers: ['alertname="Watchdog"'],
      group_by: ['prometheus'],
      group_wait: '0s',
      group_interval: '5s',
      repeat_interval: shared.stand_heartbeat_interval,
      continue: false,
    });
    assert.deepEqual(
      amConfig.receivers.map((r) => r.name),
      ['page', 'ticket', 'heartbeat-prom1'],
    );
    for (const receiver of amConfig.receivers) {
      assert.deepEqual(
        receiver.webhook_configs,
        [{ url: 'http://127.0.0.1:9095/alerts', send_resolved: true }],
        receiver.name,
      );
    }
  });

  test("the inhibition: a Down instance's other alerts are held back, the Down alerts and the Watchdog never; an SLO's page holds back its ticket", () => {
    const rules = amConfig.inhibit_rules;
    const firing = [
      { alertname: 'TargetDown', job: 'av_exporter', instance: 'web1', severity: 'critical' },
      { alertname: 'TargetDown', job: 'node', instance: 'web1', severity: 'critical' },
      { alertname: 'AvExporterLogUnreadable', job: 'av_exporter', instance: 'web1', severity: 'critical' },
      { alertname: 'HostMemoryLow', job: 'node', instance: 'web1', severity: 'warning' },
      { alertname: 'HostMemoryLow', job: 'node', instance: 'web2', severity: 'warning' },
      { alertname: 'PrometheusDown', job: 'prometheus', instance: 'prom2', severity: 'critical' },
      { alertname: 'TargetDown', job: 'alertmanager', instance: 'prom2', severity: 'critical' },
      { alertname: 'PrometheusConfigReloadFailed', job: 'prometheus', instance: 'prom2', severity: 'warning' },
      { alertname: 'Watchdog', prometheus: 'prom2', instance: 'prom2', severity: 'none' },
      { alertname: 'SiteDown', job: 'blackbox_http', instance: 'http://web1:80/', host: 'web1', severity: 'critical' },
      { alertname: 'NginxAvailabilityBudgetBurnFast', job: 'av_exporter', slo: 'availability', severity: 'critical' },
      { alertname: 'NginxAvailabilityBudgetBurnSlow', job: 'av_exporter', slo: 'availability', severity: 'warning' },
      { alertname: 'NginxLatencyBudgetBurnSlow', job: 'av_exporter', slo: 'latency', severity: 'warning' },
    ];
    assert.deepEqual(inhibited(rules, firing).sort(), [
      'AvExporterLogUnreadable{web1}',
      'HostMemoryLow{web1}',
      'NginxAvailabilityBudgetBurnSlow',
      'PrometheusConfigReloadFailed{prom2}',
    ]);
    // without a Down alert nothing is held back
    assert.deepEqual(
      inhibited(
        rules,
        firing.filter((a) => !/Down$/.test(a.alertname) && a.severity !== 'critical'),
      ),
      [],
    );
  });

  test('every alert has a severity (critical or warning; none for the Watchdog), a summary, and a runbook_url to its own section of docs/runbooks.md', async () => {
    const runbooks = await readFile(join(ROOT, 'docs/runbooks.md'), 'utf8');
    const sections = new Set([...runbooks.matchAll(/^#{2,3} (.+)$/gm)].map(([, heading]) => anchor(heading)));
    const problems = [];
    for (const set of RULE_SETS) {
      const rules = parseYaml(await readFile(join(rendered, `prom1/${set}.rules.yml`), 'utf8')).groups.flatMap(
        (g) => g.rules,
      );
      for (const { alert, labels = {}, annotations = {} } of rules.filter((r) => r.alert)) {
        const severity = alert === 'Watchdog' ? 'none' : labels.severity;
        if (labels.severity !== severity || !['critical', 'warning', 'none'].includes(severity))
          problems.push(`${alert}: severity ${labels.severity}`);
        if (!annotations.summary) problems.push(`${alert}: no summary`);
        const [base, section] = (annotations.runbook_url ?? '').split('#');
        if (base !== 'docs/runbooks.md' || section !== alert.toLowerCase())
          problems.push(`${alert}: runbook_url ${annotations.runbook_url}`);
        if (!sections.has(section)) problems.push(`${alert}: no section #${section} in docs/runbooks.md`);
      }
    }
    // and the one notification av-alert-receiver makes itself
    const receiver = await readFile(join(ROOT, 'roles/alert_receiver/files/av-alert-receiver.py'), 'utf8');
    const ownRunbook = /^RUNBOOK = "docs\/runbooks\.md#([a-z]+)"$/m.exec(receiver)?.[1];
    if (!sections.has(ownRunbook)) problems.push(`DeadMansSwitch: no section #${ownRunbook} in docs/runbooks.md`);
    assert.deepEqual(problems, []);
  });

  test('a Prometheus evaluates the service levels only when the stand has no VictoriaMetrics host (then vmalert does, over every shard)', async () => {
    assert.deepEqual(await prometheusVar(EXAMPLE_INVENTORY, 'prom1', '_prometheus_rule_sets'), RULE_SETS);
    const dir = await mkdtemp(join(tmpdir(), 'av-alerting-'));
    try {
      const inventory = join(dir, 'hosts.yml');
      await writeFile(
        inventory,
        'all:\n  children:\n    prometheus: { hosts: { prom1: {}, prom2: {} } }\n    nginx: { hosts: { web1: {} } }\n    victoriametrics: { hosts: { vm1: {} } }\n',
      );
      for (const host of ['prom1', 'prom2'])
        assert.deepEqual(await prometheusVar(inventory, host, '_prometheus_rule_sets'), ['heartbeat', 'stand'], host);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("role alert_rules' copy of av-exporter's default latency buckets is exact, and holds the latency SLO's threshold", async () => {
    const { defaultLatencyBuckets } = await tsImport('../exporter/src/buckets.ts', import.meta.url);
    const vars = parseYaml(await readFile(join(ROOT, 'roles/alert_rules/vars/main.yml'), 'utf8'));
    assert.deepEqual(vars._alert_rules_default_latency_buckets, defaultLatencyBuckets());
    const defaults = parseYaml(await readFile(join(ROOT, 'roles/alert_rules/defaults/main.yml'), 'utf8'));
    assert.ok(defaultLatencyBuckets().includes(defaults.alert_rules_slo_latency_threshold_seconds));
    // the rendered rules read exactly that bucket, as av-exporter writes its `le`
    const serviceLevels = await readFile(join(rendered, 'prom1/service_levels.rules.yml'), 'utf8');
    assert.match(
      serviceLevels,
      new RegExp(`_bucket\\{le="${String(defaults.alert_rules_slo_latency_threshold_seconds).replace('.', '\\.')}"\\}`),
    );
  });
});

/**
 * Renders the templates of the roles alert_rules, alert_receiver and vmalert as a playbook outside the stand
 * would have them: the collection's roles by their full names on a host of a group of the user's own, no role
 * stand before them (so none of the stand's values, groups or catalogue), `vars` given to the play. Each role's
 * arguments are validated as a run would; none of their tasks runs. Resolves with the directory of the files.
 */
async function renderAlone(dir, vars = {}) {
  const files = {
    alert_rules: ['heartbeat.rules.yml', 'stand.rules.yml', 'service_levels.rules.yml'],
    alert_receiver: ['av-alert-receiver.service'],
    vmalert: ['av-vmalert.default', 'av-vmalert.service'],
  };
  const out = join(dir, 'out');
  await mkdir(out, { recursive: true });
  await writeFile(
    join(dir, 'hosts.yml'),
    'all:\n  children:\n    alerting: { hosts: { alerts1: { ansible_connection: local } } }\n',
  );
  await writeFile(
    join(dir, 'play.yml'),
    JSON.stringify([
      {
        hosts: 'alerting',
        gather_facts: false,
        strategy: 'ansible.builtin.linear',
        vars,
        tasks: [
          {
            name: "The roles' defaults and vars, none of their tasks",
            'ansible.builtin.include_role': { name: '{{ item }}', public: true, apply: { tags: ['never'] } },
            loop: Object.keys(files).map((role) => `av.stand.${role}`),
          },
          {
            name: 'Their files',
            'ansible.builtin.template': {
              src: `${ROOT}/roles/{{ item.0 }}/templates/{{ item.1 }}.j2`,
              dest: `${out}/{{ item.1 }}`,
              mode: '0644',
            },
            loop: Object.entries(files).flatMap(([role, names]) => names.map((name) => [role, name])),
          },
        ],
      },
    ]),
  );
  await tool('ansible-playbook', ['-i', join(dir, 'hosts.yml'), join(dir, 'play.yml')]);
  return out;
}

describe('the alerting roles alone (no role stand): their own defaults', () => {
  let dir;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'av-alerting-alone-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('alert_rules writes its sets, each valid for promtool; the receiver listens on loopback and expects no one; vmalert speaks plain HTTP to its defaults', async () => {
    const out = await renderAlone(join(dir, 'defaults'));
    for (const set of RULE_SETS)
      assert.match(await tool('promtool', ['check', 'rules', join(out, `${set}.rules.yml`)]), /SUCCESS/, set);
    const heartbeat = parseYaml(await readFile(join(out, 'heartbeat.rules.yml'), 'utf8'));
    assert.equal(heartbeat.groups[0].rules[0].labels.prometheus, 'alerts1');
    const unit = await readFile(join(out, 'av-alert-receiver.service'), 'utf8');
    assert.match(
      unit,
      /--listen 127\.0\.0\.1:9095 --file \/var\/lib\/av-alert-receiver\/notifications\.jsonl \\\n {2}--heartbeat-late-after 45$/m,
    );
    assert.doesNotMatch(unit, /--heartbeat-from/);
    const args = await readFile(join(out, 'av-vmalert.default'), 'utf8');
    assert.match(
      args,
      /^ARGS="-rule=\/etc\/av-vmalert\/rules\/\*\.yml -evaluationInterval=15s -httpListenAddr=127\.0\.0\.1:8880 -datasource\.url=http:\/\/127\.0\.0\.1:8428 -remoteWrite\.url=http:\/\/127\.0\.0\.1:8428 -notifier\.url=http:\/\/127\.0\.0\.1:9093"$/m,
    );
    // nothing of the stand's: no TLS, no password, no CA
    assert.doesNotMatch(args, /-tls|basicAuth|httpAuth|tlsCAFile|envflag/);
    assert.doesNotMatch(await readFile(join(out, 'av-vmalert.service'), 'utf8'), /tls_auth/);
  });

  test('alone, each takes the values given to it', async () => {
    const out = await renderAlone(join(dir, 'given'), {
      alert_rules_evaluator: 'vmalert-a',
      alert_rules_target_down_for: '5m',
      alert_receiver_listen: '127.0.0.1:9999',
      alert_receiver_heartbeat_interval: '1m',
      alert_receiver_heartbeat_from: ['prometheus-a', 'prometheus-b'],
      vmalert_datasource_url: 'http://vm.example.org:8428',
      vmalert_remote_write_url: '',
      vmalert_listen: '127.0.0.1:9880',
      vmalert_notifier_urls: ['http://am1.example.org:9093', 'http://am2.example.org:9093'],
      vmalert_rules_dir: '/srv/rules',
      vmalert_extra_args: ['-rule.maxResolveDuration=5m'],
    });
    assert.equal(
      parseYaml(await readFile(join(out, 'heartbeat.rules.yml'), 'utf8')).groups[0].rules[0].labels.prometheus,
      'vmalert-a',
    );
    assert.match(await readFile(join(out, 'stand.rules.yml'), 'utf8'), /alert: TargetDown\n.*\n\s+for: 5m\n/);
    const unit = await readFile(join(out, 'av-alert-receiver.service'), 'utf8');
    assert.match(unit, /--listen 127\.0\.0\.1:9999 /);
    assert.match(unit, /--heartbeat-late-after 180 --heartbeat-from prometheus-a,prometheus-b$/m);
    assert.match(
      await readFile(join(out, 'av-vmalert.default'), 'utf8'),
      /^ARGS="-rule=\/srv\/rules\/\*\.yml -evaluationInterval=15s -httpListenAddr=127\.0\.0\.1:9880 -datasource\.url=http:\/\/vm\.example\.org:8428 -notifier\.url=http:\/\/am1\.example\.org:9093,http:\/\/am2\.example\.org:9093 -rule\.maxResolveDuration=5m"$/m,
    );
  });
});
