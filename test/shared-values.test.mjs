// The shared values (role stand) reach every config that must agree on them: rendered with
// non-default ports and log path for the whole stand, and another port for one host (an IPv6 one), the
// scrape config, the firewall tables, the exporters' configs and nginx's site all say the same.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { renderConfigs, tool } from './support/ansible.mjs';

const STAND_WIDE = {
  stand_nginx_port: 8081,
  stand_prometheus_port: 9190,
  stand_node_exporter_port: 9200,
  stand_nginx_exporter_port: 9213,
  stand_av_exporter_port: 9800,
  stand_stub_status_url: 'http://127.0.0.1:8181/nginx-status',
  stand_demo_service_listen: '127.0.0.1:8101',
  stand_access_log_path: '/var/log/nginx/stand.log',
};
const WEB2_EXPORTER_PORT = 9801; // host_vars/web2.yml

describe('shared values agree across roles, rendered with non-default values', () => {
  let inventoryDir;
  let rendered;
  const read = (host, file) => readFile(join(rendered, host, file), 'utf8');

  before(async () => {
    inventoryDir = await mkdtemp(join(tmpdir(), 'av-inventory-'));
    // as a user overrides them without editing the repository: in the inventory's `all: vars:` (which the
    // stand's own values, role defaults, never outrank), and per host on top
    await writeFile(
      join(inventoryDir, 'hosts.yml'),
      stringifyYaml({
        all: {
          vars: { ansible_user: 'debian', ansible_become: true, ...STAND_WIDE },
          children: {
            prometheus: { hosts: { prom1: { ansible_host: '192.0.2.10' } } },
            nginx: { hosts: { web1: { ansible_host: '192.0.2.21' }, web2: { ansible_host: '2001:db8::22' } } },
          },
        },
      }),
    );
    await mkdir(join(inventoryDir, 'host_vars'));
    await writeFile(join(inventoryDir, 'host_vars/web2.yml'), `stand_av_exporter_port: ${WEB2_EXPORTER_PORT}\n`);
    rendered = await renderConfigs(join(inventoryDir, 'hosts.yml'), { render_control_machine: '2001:db8::1' });
  });
  after(async () => {
    await rm(inventoryDir, { recursive: true, force: true });
    await rm(rendered, { recursive: true, force: true });
  });

  test("Prometheus scrapes each exporter at its host's own port, IPv6 addresses in brackets", async () => {
    const config = parseYaml(await read('prom1', 'prometheus.yml'));
    const stand = ['prometheus', 'node', 'nginx', 'av_exporter'];
    const targets = Object.fromEntries(
      config.scrape_configs
        .filter((job) => stand.includes(job.job_name))
        .map((job) => [job.job_name, job.static_configs.map((c) => `${c.labels.instance}=${c.targets[0]}`)]),
    );
    const tls = config.scrape_configs
      .find((job) => job.job_name === 'blackbox_tls')
      .static_configs.map((c) => `${c.labels.host} ${c.labels.service}=${c.targets[0]}`);
    for (const probe of [
      'prom1 prometheus=192.0.2.10:9190',
      'web1 av_exporter=192.0.2.21:9800',
      `web2 av_exporter=[2001:db8::22]:${WEB2_EXPORTER_PORT}`,
      'web2 nginx_exporter=[2001:db8::22]:9213',
    ]) {
      assert.ok(tls.includes(probe), `the TLS probes reach ${probe}: ${tls}`);
    }
    assert.deepEqual(
      config.scrape_configs.find((job) => job.job_name === 'blackbox_http').static_configs.map((c) => c.targets[0]),
      ['http://192.0.2.21:8081/', 'http://[2001:db8::22]:8081/'],
    );
    assert.deepEqual(targets, {
      prometheus: ['prom1=192.0.2.10:9190'],
      node: ['prom1=192.0.2.10:9200', 'web1=192.0.2.21:9200', 'web2=[2001:db8::22]:9200'],
      nginx: ['web1=192.0.2.21:9213', 'web2=[2001:db8::22]:9213'],
      av_exporter: ['web1=192.0.2.21:9800', `web2=[2001:db8::22]:${WEB2_EXPORTER_PORT}`],
    });
    await tool('promtool', ['check', 'config', '--syntax-only', join(rendered, 'prom1/prometheus.yml')]);
    assert.match(await read('prom1', 'prometheus.default'), /--web\.listen-address=:9190 /);
  });

  test('each exporter listens where Prometheus looks, and each firewall guards exactly those ports', async () => {
    const guarded = async (host) => {
      const table = await read(host, 'av-stand.nft');
      await tool('nft', ['-c', '-f', join(rendered, host, 'av-stand.nft')]);
      return [...table.matchAll(/tcp dport \{ ([\d, ]+) \} drop/g)].flatMap((m) => m[1].split(', ').map(Number)).sort();
    };
    for (const [host, avPort] of [
      ['web1', 9800],
      ['web2', WEB2_EXPORTER_PORT],
    ]) {
      assert.deepEqual(await guarded(host), [9200, 9213, avPort].sort(), `${host}'s firewall`);
      assert.equal(parseYaml(await read(host, 'av-exporter.yml')).listen, `0.0.0.0:${avPort}`, `${host}'s av-exporter`);
      // rendered as on Debian 12, whose nginx exporter has no web config: on loopback, with nginx's TLS front at its port
      assert.match(
        await read(host, 'prometheus-nginx-exporter.default'),
        /--nginx\.scrape-uri=http:\/\/127\.0\.0\.1:8181\/nginx-status --web\.listen-address=127\.0\.0\.1:19113"/,
      );
      const front = await read(host, 'av-nginx-exporter-tls.conf');
      assert.match(
        front,
        /listen 9213 ssl;[\s\S]*proxy_pass http:\/\/127\.0\.0\.1:19113;/,
        `${host}'s nginx exporter front`,
      );
      assert.match(
        await read(host, 'prometheus-node-exporter.default'),
        /--web\.listen-address=:9200 --web\.config\.file=\/etc\/av-stand\/web-config\.yml --collector\.systemd"/,
      );
    }
    // 9094: Alertmanager's cluster, open to its peers only (none here: one Prometheus host)
    assert.deepEqual(await guarded('prom1'), [9093, 9094, 9115, 9190, 9200]);
  });

  test('the firewalls let in the Prometheus host, and the control machine (IPv6 here) to Prometheus and Alertmanager only', async () => {
    const web1 = await read('web1', 'av-stand.nft');
    assert.match(web1, /tcp dport \{ 9200, 9213, 9800 \} ip saddr \{ 192\.0\.2\.10 \} accept/);
    assert.doesNotMatch(web1, /2001:db8::1\b/);
    const prom1 = await read('prom1', 'av-stand.nft');
    assert.match(prom1, /tcp dport \{ 9190, 9093 \} ip6 saddr \{ 2001:db8::1 \} accept/);
    assert.match(prom1, /tcp dport \{ 9190, 9093 \} ip saddr \{ 192\.0\.2\.10 \} accept/);
  });

  test('nginx writes the log av-exporter follows, serves stub_status where the nginx exporter reads it, and proxies to the demo service', async () => {
    for (const host of ['web1', 'web2']) {
      const site = await read(host, 'av-stand.conf');
      const exporter = parseYaml(await read(host, 'av-exporter.yml'));
      assert.match(site, new RegExp(`access_log ${exporter.log_file} av_json if=\\$av_stand_logged;`));
      assert.equal(exporter.log_file, '/var/log/nginx/stand.log');
      assert.match(site, /listen 8081 default_server;/);
      assert.match(site, /listen 127\.0\.0\.1:8181;[\s\S]*location = \/nginx-status \{/);
      const demo = parseYaml(await read(host, 'av-demo.yml'));
      assert.match(site, new RegExp(`proxy_pass http://${demo.demo_listen};`));
      assert.equal(demo.demo_listen, '127.0.0.1:8101');
      assert.equal(demo.mode, 'demo');
      assert.equal(exporter.demo_listen, undefined, 'the exporter runs no demo service of its own');
    }
  });
});
