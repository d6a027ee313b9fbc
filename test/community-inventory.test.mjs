// An inventory written for the prometheus-community collection's roles (the shapes of its documented
// defaults: prometheus_targets with a `node` job, prometheus_global, external labels, retention by time and
// size, remote write and read, an external URL, extra flags, alert relabelling and rules, the node exporter's
// collectors and textfile directory, blackbox modules, Alertmanager's receivers and route), set in the inventory
// itself, rendered by these roles: every value
// reaches the files, which promtool accepts, and the stand's own parts stay as they were.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { renderConfigs, tool } from './support/ansible.mjs';

const PROMETHEUS_VARS = {
  prometheus_global: { scrape_interval: '15s', scrape_timeout: '10s', evaluation_interval: '15s' },
  prometheus_external_labels: { environment: 'prod' },
  prometheus_storage_retention: '30d',
  prometheus_storage_retention_size: '10GB',
  prometheus_web_external_url: 'https://prometheus.example.org/',
  prometheus_config_flags_extra: {
    'storage.tsdb.wal-compression': true,
    'query.timeout': '1m',
    'web.enable-admin-api': false,
  },
  prometheus_targets: {
    node: [{ targets: ['db1.example.org:9100', 'db2.example.org:9100'], labels: { env: 'prod' } }],
    myapp: [{ targets: ['app1.example.org:9200'] }],
  },
  prometheus_scrape_configs: [
    { job_name: 'pushgateway', honor_labels: true, static_configs: [{ targets: ['push.example.org:9091'] }] },
  ],
  prometheus_remote_write: [
    {
      url: 'https://metrics.example.org/api/v1/write',
      basic_auth: { username: 'team', password_file: '/etc/prometheus/team.password' },
    },
  ],
  prometheus_remote_read: [{ url: 'https://metrics.example.org/api/v1/read' }],
  prometheus_alert_relabel_configs: [{ action: 'labeldrop', regex: 'datacenter' }],
  prometheus_alertmanager_config: [
    { scheme: 'https', static_configs: [{ targets: ['alertmanager.example.org:9093'] }] },
  ],
  // as that collection's own default rules write Prometheus' templates: inside {% raw %}, which Ansible takes away
  prometheus_alert_rules: [
    {
      alert: 'InstanceDown',
      expr: 'up == 0',
      for: '5m',
      labels: { severity: 'critical' },
      annotations: {
        summary: 'Instance {% raw %}{{ $labels.instance }}{% endraw %} down',
        description:
          '{% raw %}{{ $labels.instance }} of job {{ $labels.job }}{% endraw %} has been down for more than 5 minutes.',
      },
    },
  ],
};
const unraw = (value) => JSON.parse(JSON.stringify(value).replace(/\{% (end)?raw %\}/g, ''));
// the shapes of that collection's blackbox_exporter and alertmanager roles (modules beside the stand's own
// http_2xx and tls_connect, which the stand keeps; receivers, route, Slack's URL)
const BLACKBOX_VARS = {
  blackbox_exporter_configuration_modules: {
    http_post_2xx: { prober: 'http', timeout: '5s', http: { method: 'POST', preferred_ip_protocol: 'ip4' } },
    ssh_banner: { prober: 'tcp', timeout: '5s', tcp: { query_response: [{ expect: '^SSH-2.0-' }] } },
  },
};
const ALERTMANAGER_VARS = {
  alertmanager_slack_api_url: 'https://hooks.slack.example.org/services/T0000/B0000/XXXX',
  alertmanager_receivers: [{ name: 'slack', slack_configs: [{ send_resolved: true, channel: '#alerts' }] }],
  alertmanager_route: {
    group_by: ['alertname', 'cluster', 'service'],
    group_wait: '30s',
    group_interval: '5m',
    repeat_interval: '3h',
    receiver: 'slack',
  },
};
const NODE_EXPORTER_VARS = {
  node_exporter_enabled_collectors: ['systemd', { textfile: { directory: '/var/lib/node_exporter' } }],
  node_exporter_disabled_collectors: ['mdadm', 'nfs'],
};

describe("an inventory written for the prometheus-community collection's roles", () => {
  let dir;
  let rendered;
  const read = (host, file) => readFile(join(rendered, host, file), 'utf8');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'av-community-'));
    const inventory = join(dir, 'hosts.yml');
    await writeFile(
      inventory,
      stringifyYaml({
        all: {
          vars: { ansible_user: 'debian', ansible_become: true, ...NODE_EXPORTER_VARS },
          children: {
            prometheus: {
              hosts: { prom1: { ansible_host: '192.0.2.10' } },
              vars: { ...PROMETHEUS_VARS, ...BLACKBOX_VARS, ...ALERTMANAGER_VARS },
            },
            nginx: { hosts: { web1: { ansible_host: '192.0.2.21' } } },
          },
        },
      }),
    );
    rendered = await renderConfigs(inventory);
  });
  after(() => Promise.all([dir, rendered].map((path) => rm(path, { recursive: true, force: true }))));

  test('prometheus.yml carries every value, and promtool accepts it', async () => {
    assert.match(
      await tool('promtool', ['check', 'config', '--syntax-only', join(rendered, 'prom1/prometheus.yml')]),
      /SUCCESS/,
    );
    const config = parseYaml(await read('prom1', 'prometheus.yml'));
    assert.deepEqual(config.global, { ...PROMETHEUS_VARS.prometheus_global, external_labels: { environment: 'prod' } });
    assert.deepEqual(config.remote_write, PROMETHEUS_VARS.prometheus_remote_write);
    assert.deepEqual(config.remote_read, PROMETHEUS_VARS.prometheus_remote_read);
    assert.deepEqual(config.alerting.alert_relabel_configs, PROMETHEUS_VARS.prometheus_alert_relabel_configs);
    assert.equal(config.alerting.alertmanagers.length, 2, "the stand's cluster, then yours");
    assert.deepEqual(config.alerting.alertmanagers[1], PROMETHEUS_VARS.prometheus_alertmanager_config[0]);
    assert.deepEqual(config.rule_files, ['/etc/prometheus/rules/*.yml', '/etc/prometheus/rules.d/*.yml']);
    const jobs = Object.fromEntries(config.scrape_configs.map((job) => [job.job_name, job]));
    // the stand's node job is as it was: HTTPS with the stand's CA and password, its own hosts
    assert.equal(jobs.node.scheme, 'https');
    assert.ok(jobs.node.basic_auth.password_file);
    assert.deepEqual(
      jobs.node.static_configs.map((group) => group.labels.instance),
      ['prom1', 'web1'],
    );
    // the inventory's node job: a scrape config of its own, plain HTTP, no credentials, its targets labelled job=node
    const own = jobs['node (prometheus_targets)'];
    assert.deepEqual(own, {
      job_name: 'node (prometheus_targets)',
      file_sd_configs: [{ files: ['/etc/prometheus/file_sd/node.yml'] }],
      relabel_configs: [{ target_label: 'job', replacement: 'node' }],
    });
    assert.deepEqual(jobs.myapp, {
      job_name: 'myapp',
      file_sd_configs: [{ files: ['/etc/prometheus/file_sd/myapp.yml'] }],
    });
    assert.deepEqual(jobs.pushgateway, PROMETHEUS_VARS.prometheus_scrape_configs[0]);
  });

  test('the flags: retention by time and size, the external URL, the extra flags', async () => {
    const args = /^ARGS="(.*)"$/m.exec(await read('prom1', 'prometheus.default'))[1].split(' ');
    for (const flag of [
      '--storage.tsdb.retention.time=30d',
      '--storage.tsdb.retention.size=10GB',
      '--web.external-url=https://prometheus.example.org/',
      '--storage.tsdb.wal-compression',
      '--query.timeout=1m',
    ])
      assert.ok(args.includes(flag), `${flag} in ${args.join(' ')}`);
    assert.ok(!args.some((arg) => arg.includes('admin-api')), 'a flag set to false is left out');
  });

  test('the rules are one group that promtool accepts', async () => {
    const file = join(rendered, 'prom1/rules.d-prometheus_alert_rules.yml');
    assert.match(await tool('promtool', ['check', 'rules', file]), /SUCCESS: 1 rules found/);
    assert.deepEqual(parseYaml(await readFile(file, 'utf8')), {
      groups: [{ name: 'prometheus_alert_rules', rules: unraw(PROMETHEUS_VARS.prometheus_alert_rules) }],
    });
  });

  test("the blackbox exporter's modules: the stand's two, then yours", async () => {
    const { modules } = parseYaml(await read('prom1', 'blackbox.yml'));
    assert.deepEqual(Object.keys(modules), ['http_2xx', 'tls_connect', 'http_post_2xx', 'ssh_banner']);
    assert.deepEqual(modules.ssh_banner, BLACKBOX_VARS.blackbox_exporter_configuration_modules.ssh_banner);
  });

  test("Alertmanager: your receiver gets every alert after the stand's routes, and amtool accepts the config", async () => {
    const file = join(rendered, 'prom1/alertmanager.yml');
    assert.match(await tool('amtool', ['check-config', file]), /SUCCESS/);
    const config = parseYaml(await readFile(file, 'utf8'));
    assert.equal(config.global.slack_api_url, ALERTMANAGER_VARS.alertmanager_slack_api_url);
    assert.deepEqual(
      config.receivers.map((r) => r.name),
      ['page', 'ticket', 'heartbeat-prom1', 'slack'],
    );
    assert.deepEqual(config.route.routes.at(-1), ALERTMANAGER_VARS.alertmanager_route);
    const routed = await tool('amtool', [
      'config',
      'routes',
      'test',
      '--config.file',
      file,
      'alertname=InstanceDown',
      'severity=critical',
    ]);
    assert.match(routed, /page,slack/);
  });

  test("the node exporter's collectors, on and off, and the textfile directory", async () => {
    for (const host of ['prom1', 'web1']) {
      const args = /^ARGS="(.*)"$/m.exec(await read(host, 'prometheus-node-exporter.default'))[1].split(' ');
      for (const flag of [
        '--collector.systemd',
        '--collector.textfile',
        '--collector.textfile.directory=/var/lib/node_exporter',
        '--no-collector.mdadm',
        '--no-collector.nfs',
      ]) {
        assert.ok(args.includes(flag), `${host}: ${flag} in ${args.join(' ')}`);
      }
    }
  });
});
