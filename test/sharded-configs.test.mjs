// Past one Prometheus, statically: the configs rendered for an inventory of two Prometheus shards, three
// nginx hosts and a VictoriaMetrics host. The shards' relabelling is applied here as Prometheus applies it
// (hashmod: the last 8 bytes of the MD5 of the instance label, modulo the shard count), so each target's
// shard is known without hosts; with one Prometheus host the config has none of it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { readInventory } from '../scripts/lib/inventory.mjs';
import { expectedTargets } from './e2e/stand-checks.mjs';
import { EXAMPLE_INVENTORY, renderConfigs, tool } from './support/ansible.mjs';

const SHARDS = ['prom1', 'prom2'];
const NGINX = ['web1', 'web2', 'web3'];
const INVENTORY = `all:
  vars: { ansible_user: debian, ansible_become: true }
  children:
    prometheus: { hosts: { prom1: { ansible_host: 192.0.2.10 }, prom2: { ansible_host: 192.0.2.11 } } }
    nginx: { hosts: { web1: { ansible_host: 192.0.2.21 }, web2: { ansible_host: 192.0.2.22 }, web3: { ansible_host: 192.0.2.23 } } }
    victoriametrics: { hosts: { vm1: { ansible_host: 192.0.2.50 } } }
`;

/** The target's labels after a job's relabel_configs, or null where they drop it (the three actions used). */
function relabel(labels, rules = []) {
  const out = { ...labels };
  for (const rule of rules) {
    const value = (rule.source_labels ?? []).map((name) => out[name] ?? '').join(rule.separator ?? ';');
    const matches = new RegExp(`^(?:${rule.regex ?? '(.*)'})$`).test(value);
    if (rule.action === 'hashmod')
      out[rule.target_label] = String(
        createHash('md5').update(value).digest().readBigUInt64BE(8) % BigInt(rule.modulus),
      );
    else if (rule.action === 'keep') {
      if (!matches) return null;
    } else if ((rule.action ?? 'replace') === 'replace') {
      const groups = new RegExp(`^(?:${rule.regex ?? '(.*)'})$`).exec(value);
      if (groups)
        out[rule.target_label] = (rule.replacement ?? '$1').replace(/\$(\d+)/g, (_, n) => groups[Number(n)] ?? '');
    } else throw new Error(`relabel action ${rule.action} is not modelled here`);
  }
  return out;
}

/** Every target a rendered prometheus.yml keeps, named as the e2e checks name them: `job/instance`, probes `job/host/service`. */
const keptTargets = (config) =>
  config.scrape_configs.flatMap((job) =>
    job.static_configs
      .map((group) => relabel({ ...group.labels, __address__: group.targets[0] }, job.relabel_configs))
      .filter((labels) => labels !== null)
      .map((labels) =>
        labels.service ? `${job.job_name}/${labels.host}/${labels.service}` : `${job.job_name}/${labels.instance}`,
      ),
  );

describe('two Prometheus shards and VictoriaMetrics, rendered', () => {
  let inventoryDir;
  let rendered;
  let single;
  const read = (dir, host, file) => readFile(join(dir, host, file), 'utf8');

  before(async () => {
    inventoryDir = await mkdtemp(join(tmpdir(), 'av-sharded-'));
    await writeFile(join(inventoryDir, 'hosts.yml'), INVENTORY);
    [rendered, single] = await Promise.all([
      renderConfigs(join(inventoryDir, 'hosts.yml')),
      renderConfigs(EXAMPLE_INVENTORY),
    ]);
  });
  after(() => Promise.all([inventoryDir, rendered, single].map((dir) => rm(dir, { recursive: true, force: true }))));

  test('every target is kept by exactly one shard, each shard keeps itself, and both configs pass promtool', async () => {
    const kept = {};
    for (const shard of SHARDS) {
      await tool('promtool', ['check', 'config', '--syntax-only', join(rendered, shard, 'prometheus.yml')]);
      kept[shard] = keptTargets(parseYaml(await read(rendered, shard, 'prometheus.yml')));
      assert.ok(
        kept[shard].includes(`prometheus/${shard}`) && kept[shard].includes(`node/${shard}`),
        `${shard} keeps ${kept[shard]}`,
      );
    }
    // what the catalogue says the stand scrapes and probes, as the e2e checks expect it
    const hosts = readInventory(join(inventoryDir, 'hosts.yml'));
    const everyTarget = expectedTargets(hosts);
    assert.ok(
      everyTarget.includes('victoriametrics/vm1') &&
        everyTarget.includes('blackbox_tls/vm1/victoriametrics') &&
        everyTarget.includes('blackbox_http/web3/nginx'),
    );
    assert.deepEqual(Object.values(kept).flat().sort(), everyTarget, JSON.stringify(kept));
    // and each shard's share is the one the resolved stand gives it (what the e2e expects of each shard)
    for (const shard of SHARDS) assert.deepEqual([...hosts.targets[shard]].sort(), [...kept[shard]].sort(), shard);
    // a host's targets stay together, on one shard
    for (const host of NGINX)
      assert.equal(SHARDS.filter((shard) => kept[shard].some((t) => t.endsWith(`/${host}`))).length, 1, host);
  });

  test('each shard labels what it writes with its name and writes to VictoriaMetrics', async () => {
    for (const shard of SHARDS) {
      const config = parseYaml(await read(rendered, shard, 'prometheus.yml'));
      assert.deepEqual(config.global.external_labels, { shard });
      assert.deepEqual(config.remote_write, [
        {
          url: 'https://192.0.2.50:8428/api/v1/write',
          name: 'vm1',
          tls_config: { ca_file: '/etc/av-stand/tls/ca.crt' },
          basic_auth: { username: 'admin', password_file: '/etc/av-stand/admin.password' },
        },
      ]);
    }
  });

  test('VictoriaMetrics gets its port, retention, latency offset, free-space guard (5 % of the rendered 32 GiB root), TLS and user, and its port only the shards and the control machine', async () => {
    const args = await read(rendered, 'vm1', 'victoria-metrics.default');
    assert.match(
      args,
      /^ARGS="-httpListenAddr=:8428 -storageDataPath=\/var\/lib\/victoria-metrics -retentionPeriod=90d -search\.latencyOffset=5s -storage\.minFreeDiskSpaceBytes=1717986918 -tls -tlsCertFile=\/etc\/av-stand\/tls\/host\.crt -tlsKeyFile=\/etc\/av-stand\/tls\/host\.key -httpAuth\.username=admin -envflag\.enable"$/m,
    );
    // the password is in the environment (the file is 0600 on the host), never on the command line
    const password = (await readFile(join(rendered, 'secrets/admin.password'), 'utf8')).trim();
    assert.match(args, new RegExp(`^httpAuth_password=${password}$`, 'm'));
    assert.doesNotMatch(
      args.split('\n').find((line) => line.startsWith('ARGS=')),
      new RegExp(password),
    );
    const nft = await read(rendered, 'vm1', 'av-stand.nft');
    await tool('nft', ['-c', '-f', join(rendered, 'vm1', 'av-stand.nft')]);
    // (and the VictoriaMetrics hosts, whose vmalert sends to the Alertmanagers, an allow_list port like this one)
    assert.match(
      nft,
      /tcp dport \{ 8428 \} ip saddr \{ 192\.0\.2\.1, 192\.0\.2\.10, 192\.0\.2\.11, 192\.0\.2\.50 \} accept\n\s+tcp dport \{ 8428 \} drop/,
    );
    assert.match(nft, /tcp dport \{ 9100 \} ip saddr \{ 192\.0\.2\.10, 192\.0\.2\.11 \} accept/);
    for (const web of NGINX)
      assert.match(
        await read(rendered, web, 'av-stand.nft'),
        /ip saddr \{ 192\.0\.2\.10, 192\.0\.2\.11 \} accept/,
        `${web}: both shards may scrape`,
      );
  });

  test('the Alertmanagers are one cluster, over mutual TLS, open to each other only; every shard and vmalert alert all of them', async () => {
    const addresses = { prom1: '192.0.2.10', prom2: '192.0.2.11' };
    for (const [shard, other] of [
      ['prom1', 'prom2'],
      ['prom2', 'prom1'],
    ]) {
      const args = await read(rendered, shard, 'prometheus-alertmanager.default');
      // each waits 3 s per place in the cluster's order: the second's wait ends before its group's next flush (10 s)
      assert.match(
        args,
        new RegExp(
          `--cluster\\.listen-address=${addresses[shard]}:9094 --cluster\\.advertise-address=${addresses[shard]}:9094 --cluster\\.tls-config=\\S+ --cluster\\.peer-timeout=3s --cluster\\.peer=${addresses[other]}:9094"`,
        ),
      );
      await tool('nft', ['-c', '-f', join(rendered, shard, 'av-stand.nft')]);
      assert.match(
        await read(rendered, shard, 'av-stand.nft'),
        new RegExp(
          `tcp dport \\{ 9094 \\} ip saddr \\{ ${addresses[other]} \\} accept\\n\\s+tcp dport \\{ 9094 \\} drop`,
        ),
      );
      const config = parseYaml(await read(rendered, shard, 'prometheus.yml'));
      assert.deepEqual(
        config.alerting.alertmanagers.map((am) => am.static_configs[0].targets),
        [['192.0.2.10:9093', '192.0.2.11:9093']],
      );
      // an alert two shards both raise (about a Prometheus both scrape) is the same alert to the cluster
      assert.deepEqual(config.alerting.alert_relabel_configs, [{ action: 'labeldrop', regex: 'shard' }]);
      for (const job of ['prometheus', 'alertmanager']) {
        const scrape = config.scrape_configs.find((c) => c.job_name === job);
        assert.deepEqual(
          scrape.static_configs.map((c) => c.labels.instance),
          ['prom1', 'prom2'],
          `${shard} scrapes every ${job}`,
        );
        assert.equal(scrape.relabel_configs, undefined, `${shard}'s ${job} job is not dealt by hashmod`);
      }
    }
    const vmalert = await read(rendered, 'vm1', 'av-vmalert.default');
    assert.match(
      vmalert,
      /-notifier\.url=https:\/\/192\.0\.2\.10:9093,https:\/\/192\.0\.2\.11:9093 -notifier\.tlsCAFile=\/etc\/av-stand\/tls\/ca\.crt,\/etc\/av-stand\/tls\/ca\.crt /,
    );
    assert.match(
      vmalert,
      /-datasource\.url=https:\/\/127\.0\.0\.1:8428 .*-remoteWrite\.url=https:\/\/127\.0\.0\.1:8428 /,
    );
    const password = (await readFile(join(rendered, 'secrets/admin.password'), 'utf8')).trim();
    assert.doesNotMatch(
      vmalert.split('\n').find((line) => line.startsWith('ARGS=')),
      new RegExp(password),
      'the password on the command line',
    );
  });

  test('a Prometheus host at an IPv6 address: its Alertmanager advertises it, its peer and firewall name it, and its certificate names it as an IP', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'av-sharded-ipv6-'));
    try {
      await writeFile(
        join(dir, 'hosts.yml'),
        INVENTORY.replace('prom2: { ansible_host: 192.0.2.11 }', 'prom2: { ansible_host: "2001:db8::11" }'),
      );
      const ipv6 = await renderConfigs(join(dir, 'hosts.yml'));
      try {
        assert.match(
          await read(ipv6, 'prom2', 'prometheus-alertmanager.default'),
          /--cluster\.listen-address=\[2001:db8::11\]:9094 --cluster\.advertise-address=\[2001:db8::11\]:9094 \S+ --cluster\.peer-timeout=3s --cluster\.peer=192\.0\.2\.10:9094"/,
        );
        assert.match(
          await read(ipv6, 'prom1', 'prometheus-alertmanager.default'),
          /--cluster\.peer=\[2001:db8::11\]:9094"/,
        );
        assert.match(
          await read(ipv6, 'prom1', 'av-stand.nft'),
          /tcp dport \{ 9094 \} ip6 saddr \{ 2001:db8::11 \} accept/,
        );
        const names = await tool('openssl', [
          'x509',
          '-in',
          join(ipv6, 'secrets/hosts/prom2.crt'),
          '-noout',
          '-ext',
          'subjectAltName',
        ]);
        assert.match(names, /IP Address:2001:DB8:0:0:0:0:0:11\b/, `prom2's certificate: ${names}`);
      } finally {
        await rm(ipv6, { recursive: true, force: true });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('one Prometheus host: no relabelling, no external labels, no remote_write, every target kept', async () => {
    const config = parseYaml(await read(single, 'prom1', 'prometheus.yml'));
    assert.equal(config.global.external_labels, undefined);
    assert.equal(config.remote_write, undefined);
    assert.ok(
      config.scrape_configs.every(
        (job) => !(job.relabel_configs ?? []).some((rule) => rule.action === 'hashmod' || rule.action === 'keep'),
      ),
    );
    assert.deepEqual(
      config.scrape_configs.map((job) => job.job_name),
      ['prometheus', 'alertmanager', 'blackbox', 'node', 'nginx', 'av_exporter', 'blackbox_http', 'blackbox_tls'],
    );
  });
});

// Four Prometheus hosts as two shards of two replicas each (stand_prometheus_replicas: 2): prom1 and prom2 are
// the shard prom1, prom3 and prom4 the shard prom3.
const REPLICATED = INVENTORY.replace(
  'prom2: { ansible_host: 192.0.2.11 } } }',
  'prom2: { ansible_host: 192.0.2.11 }, prom3: { ansible_host: 192.0.2.12 }, prom4: { ansible_host: 192.0.2.13 } } }',
).replace('ansible_become: true }', 'ansible_become: true, stand_prometheus_replicas: 2 }');
const SHARDS_OF_REPLICAS = { prom1: ['prom1', 'prom2'], prom3: ['prom3', 'prom4'] };

describe('four Prometheus hosts as two shards of two replicas, rendered', () => {
  let inventoryDir;
  let rendered;
  const config = async (host) => parseYaml(await readFile(join(rendered, host, 'prometheus.yml'), 'utf8'));

  before(async () => {
    inventoryDir = await mkdtemp(join(tmpdir(), 'av-replicas-'));
    await writeFile(join(inventoryDir, 'hosts.yml'), REPLICATED);
    rendered = await renderConfigs(join(inventoryDir, 'hosts.yml'));
  });
  after(() => Promise.all([inventoryDir, rendered].map((dir) => rm(dir, { recursive: true, force: true }))));

  test("every replica keeps exactly its shard's targets, its fellow replicas' hosts included; every target is kept by one shard", async () => {
    const hosts = readInventory(join(inventoryDir, 'hosts.yml'));
    assert.deepEqual(hosts.model.shards, [
      { name: 'prom1', hosts: SHARDS_OF_REPLICAS.prom1 },
      { name: 'prom3', hosts: SHARDS_OF_REPLICAS.prom3 },
    ]);
    const kept = {};
    for (const [shard, replicas] of Object.entries(SHARDS_OF_REPLICAS)) {
      for (const replica of replicas) {
        await tool('promtool', ['check', 'config', '--syntax-only', join(rendered, replica, 'prometheus.yml')]);
        kept[replica] = keptTargets(await config(replica)).sort();
        assert.deepEqual(kept[replica], [...hosts.targets[replica]].sort(), `${replica}: the resolved stand's share`);
      }
      const [first, second] = replicas;
      assert.deepEqual(kept[second], kept[first], `the replicas of ${shard} scrape alike`);
      for (const host of replicas)
        assert.ok(
          kept[first].includes(`node/${host}`) && kept[first].includes(`blackbox/${host}`),
          `${shard}: ${host}`,
        );
    }
    // one replica of each shard: every target once, as two shards without replicas would have it
    assert.deepEqual(
      [...kept.prom1, ...kept.prom3].sort(),
      expectedTargets({ targets: { prom1: kept.prom1, prom3: kept.prom3 } }),
    );
    const scrapedBy = (target) => Object.keys(SHARDS_OF_REPLICAS).filter((shard) => kept[shard].includes(target));
    for (const web of NGINX) assert.equal(scrapedBy(`node/${web}`).length, 1, web);
    assert.equal(scrapedBy('victoriametrics/vm1').length, 1);
  });

  test('a replica labels its samples with its shard and itself, drops both from alerts and itself from the remote_write; VictoriaMetrics deduplicates at the scrape interval', async () => {
    for (const [shard, replicas] of Object.entries(SHARDS_OF_REPLICAS)) {
      for (const replica of replicas) {
        const { global, alerting, remote_write: remoteWrite } = await config(replica);
        assert.deepEqual(global.external_labels, { shard, replica });
        assert.equal(global.scrape_interval, '5s');
        assert.deepEqual(alerting.alert_relabel_configs, [{ action: 'labeldrop', regex: 'shard|replica' }]);
        assert.deepEqual(
          remoteWrite.map((write) => write.write_relabel_configs),
          [[{ action: 'labeldrop', regex: 'replica' }]],
        );
      }
    }
    assert.match(
      await readFile(join(rendered, 'vm1', 'victoria-metrics.default'), 'utf8'),
      /^ARGS="[^"]* -storage\.minFreeDiskSpaceBytes=\d+ -dedup\.minScrapeInterval=5s -tls /m,
    );
  });
});

describe('replicas that are not a whole number of 1 or more, or do not divide the Prometheus hosts, are refused before any host changes', () => {
  let dir;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'av-replicas-preflight-'));
    await writeFile(
      join(dir, 'preflight.yml'),
      JSON.stringify([
        {
          name: "site.yml's first play: role prometheus' preflight, connecting to nothing",
          hosts: 'all',
          gather_facts: false,
          connection: 'local',
          roles: ['av.stand.stand'],
          tasks: [
            {
              name: 'Check the Prometheus settings',
              'ansible.builtin.include_role': { name: 'av.stand.prometheus', tasks_from: 'preflight.yml' },
              when: "'prometheus' in group_names",
            },
          ],
        },
      ]),
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** The inventory of four Prometheus hosts with these values for all; its file. */
  const inventoryWith = async (name, text) => {
    const file = join(dir, `${name}.yml`);
    await writeFile(file, text);
    return file;
  };
  /** The preflight's message for the first Prometheus host, or '' when it passes. */
  const preflight = async (file) => {
    const output = await tool('ansible-playbook', ['-i', file, join(dir, 'preflight.yml')]).catch(
      (error) => error.output,
    );
    const failed = /^fatal: \[prom1\]: FAILED! => (\{.*\})$/m.exec(output);
    assert.ok(failed || /^prom1\s+: ok=\d+ .*failed=0/m.test(output), output);
    return failed ? JSON.parse(failed[1]).msg : '';
  };

  test('the preflight names the numbers; a good count passes', async () => {
    const cases = {
      good: ['2', ''],
      three: [
        '3',
        /^stand_prometheus_replicas is 3, which does not divide the 4 Prometheus hosts \(prom1, prom2, prom3, prom4\)/,
      ],
      zero: ['0', /^stand_prometheus_replicas must be a whole number, 1 or more \(got 0\)$/],
      words: ['two', /^stand_prometheus_replicas must be a whole number, 1 or more \(got 'two'\)$/],
      slower: [
        '2, prometheus_scrape_interval: 10s',
        /^with replicas, prometheus_scrape_interval \(10s\) must be stand_scrape_interval \(5s\)/,
      ],
    };
    const results = await Promise.all(
      Object.entries(cases).map(async ([name, [value]]) =>
        preflight(
          await inventoryWith(
            name,
            REPLICATED.replace('stand_prometheus_replicas: 2', `stand_prometheus_replicas: ${value}`),
          ),
        ),
      ),
    );
    Object.entries(cases).forEach(([name, [, expected]], i) => {
      if (expected === '') assert.equal(results[i], '', name);
      else assert.match(results[i], /** @type {RegExp} */ (expected), name);
    });
  });

  test('the resolved stand refuses them too, and Prometheus hosts that disagree on the count', async () => {
    const three = await inventoryWith(
      'model-three',
      REPLICATED.replace('stand_prometheus_replicas: 2', 'stand_prometheus_replicas: 3'),
    );
    assert.throws(
      () => readInventory(three),
      /stand_prometheus_replicas is 3, which does not divide the 4 Prometheus hosts/,
    );
    const disagree = await inventoryWith(
      'model-disagree',
      REPLICATED.replace(
        'prom3: { ansible_host: 192.0.2.12 }',
        'prom3: { ansible_host: 192.0.2.12, stand_prometheus_replicas: 4 }',
      ),
    );
    assert.throws(
      () => readInventory(disagree),
      /stand_prometheus_replicas differs between the Prometheus hosts \(prom1: 2, prom2: 2, prom3: 4, prom4: 2\)/,
    );
  });
});
