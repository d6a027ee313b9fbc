// Storage bounds sized to the disk (issue #26, item 4): Prometheus' retention size and VictoriaMetrics' free-space
// guard by default a share of the filesystem that holds their data, from the host's facts (ansible_mounts).
// The filter (plugins/filter/storage_size.py) called from Python as Ansible calls it; the flags rendered for
// an inventory of two shards and a VictoriaMetrics host; the preflight's messages for a share out of range.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT, renderConfigs, tool } from './support/ansible.mjs';

const GiB = 2 ** 30;

/** A filter of plugins/filter/storage_size.py called from python3: { value } or { error } (its message). */
async function filter(name, ...args) {
  const script = `import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("m", ${JSON.stringify(join(ROOT, 'plugins/filter/storage_size.py'))})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
try:
    print(json.dumps({"value": getattr(m, ${JSON.stringify(name)})(*json.loads(sys.argv[1]))}))
except Exception as e:
    print(json.dumps({"error": str(e)}))`;
  const { stdout } = await promisify(execFile)('/usr/bin/python3', ['-c', script, JSON.stringify(args)]);
  return JSON.parse(stdout);
}

const MOUNTS = [
  { mount: '/', size_total: 100 * GiB },
  { mount: '/var', size_total: 40 * GiB },
  { mount: '/var/lib/prometheus', size_total: 0 }, // an autofs placeholder, then the real one mounted over it
  { mount: '/var/lib/prometheus', size_total: 20 * GiB },
  { mount: '/var/lib/prometheus2/', size_total: 7 * GiB },
];

describe('the filter: the filesystem that holds a path, and a share of it', () => {
  test('the longest mount point that holds the path, by whole names; of two at one point the last', async () => {
    assert.deepEqual(await filter('stand_mount_size', MOUNTS, '/var/lib/prometheus/metrics2'), { value: 20 * GiB });
    assert.deepEqual(await filter('stand_mount_size', MOUNTS, '/var/lib/prometheus'), { value: 20 * GiB });
    assert.deepEqual(await filter('stand_mount_size', MOUNTS, '/var/lib/prometheus2/x'), { value: 7 * GiB });
    // /var/lib/prometheus-old is not under /var/lib/prometheus: /var holds it
    assert.deepEqual(await filter('stand_mount_size', MOUNTS, '/var/lib/prometheus-old'), { value: 40 * GiB });
    assert.deepEqual(await filter('stand_mount_size', MOUNTS, '/srv/victoria-metrics/'), { value: 100 * GiB });
  });

  test("a share in whole bytes; Prometheus' unit in whole MB (2^20), never 0", async () => {
    assert.deepEqual(await filter('stand_mount_share', MOUNTS, '/srv', 0.05), { value: Math.floor(100 * GiB * 0.05) });
    assert.deepEqual(await filter('stand_mount_share', MOUNTS, '/var/lib/prometheus/metrics2', '0.4'), {
      value: Math.floor(20 * GiB * 0.4),
    });
    assert.deepEqual(await filter('prometheus_size', Math.floor(20 * GiB * 0.4)), { value: '8192MB' });
    assert.deepEqual(await filter('prometheus_size', 100e9 * 0.4), { value: '38146MB' });
    assert.deepEqual(await filter('prometheus_size', 1000), { value: '1MB' });
  });

  test('refuses, saying why: no filesystem holds the path, one without a size, a relative path, a share out of (0, 1)', async () => {
    assert.match(
      (await filter('stand_mount_size', [{ mount: '/srv', size_total: GiB }], '/var/lib/x')).error,
      /no filesystem in the host's facts \(ansible_mounts\) holds \/var\/lib\/x/,
    );
    assert.match(
      (await filter('stand_mount_size', [{ mount: '/', size_total: 0 }], '/var/lib/x')).error,
      /the filesystem at \/, which holds \/var\/lib\/x, has no size/,
    );
    assert.match((await filter('stand_mount_size', MOUNTS, 'var/lib/x')).error, /must be absolute/);
    assert.match((await filter('stand_mount_size', null, '/x')).error, /no filesystem/);
    for (const share of [0, 1, 1.5, -0.1])
      assert.match((await filter('stand_mount_share', MOUNTS, '/x', share)).error, /between 0 and 1/);
    assert.match((await filter('prometheus_size', 0)).error, /positive/);
  });
});

describe('the flags rendered: a share of the disk by default, a size of yours as it is, "0" for none', () => {
  let dir;
  let rendered;
  const args = async (host, file) =>
    /^ARGS="(.*)"$/m.exec(await readFile(join(rendered, host, file), 'utf8'))[1].split(' ');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'av-storage-size-'));
    const inventory = join(dir, 'hosts.yml');
    await writeFile(
      inventory,
      JSON.stringify({
        all: {
          vars: { ansible_user: 'debian', ansible_become: true },
          children: {
            prometheus: {
              hosts: {
                // the TSDB on a disk of its own
                prom1: {
                  ansible_host: '192.0.2.10',
                  render_mounts: [
                    { mount: '/', size_total: 10 * GiB },
                    { mount: '/var/lib/prometheus', size_total: 100e9 },
                  ],
                },
                prom2: { ansible_host: '192.0.2.11', prometheus_storage_retention_size: '0' },
                prom3: { ansible_host: '192.0.2.12', prometheus_storage_retention_size: '7GB', render_mounts: [] },
              },
            },
            nginx: { hosts: { web1: { ansible_host: '192.0.2.21' } } },
            victoriametrics: {
              hosts: { vm1: { ansible_host: '192.0.2.50', render_mounts: [{ mount: '/', size_total: 200e9 }] } },
            },
          },
        },
      }),
    );
    rendered = await renderConfigs(inventory);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    if (rendered) await rm(rendered, { recursive: true, force: true });
  });

  test('Prometheus: 40 % of the filesystem of /var/lib/prometheus/metrics2 in MB; yours as given; none for "0"', async () => {
    assert.ok((await args('prom1', 'prometheus.default')).includes('--storage.tsdb.retention.size=38146MB'));
    assert.equal(
      (await args('prom2', 'prometheus.default')).filter((a) => a.startsWith('--storage.tsdb.retention.size')).length,
      0,
    );
    // a size of yours needs no facts (prom3 has no mounts at all)
    assert.ok((await args('prom3', 'prometheus.default')).includes('--storage.tsdb.retention.size=7GB'));
  });

  test('VictoriaMetrics: 5 % of the filesystem of its storage path kept free, in bytes', async () => {
    assert.ok(
      (await args('vm1', 'victoria-metrics.default')).includes(
        `-storage.minFreeDiskSpaceBytes=${Math.floor(200e9 * 0.05)}`,
      ),
    );
  });
});

describe("a share out of (0, 1) or a size VictoriaMetrics does not read is refused by the roles' preflight, naming the variable", () => {
  test('prometheus_storage_retention_share, victoriametrics_min_free_disk_space(_share)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'av-storage-preflight-'));
    try {
      const hosts = {
        p_ok: { prometheus_storage_retention_share: 0.3 },
        p_one: { prometheus_storage_retention_share: 1 },
        p_zero: { prometheus_storage_retention_share: 0 },
        p_word: { prometheus_storage_retention_share: 'half' },
        v_ok: { victoriametrics_min_free_disk_space: '2GiB' },
        v_share: { victoriametrics_min_free_disk_space_share: 1.5 },
        v_tb: { victoriametrics_min_free_disk_space: '1TB' },
      };
      await writeFile(join(dir, 'hosts.yml'), JSON.stringify({ all: { hosts } }));
      const play = (pattern, role) => ({
        name: `Preflight of role ${role}`,
        hosts: pattern,
        gather_facts: false,
        connection: 'local',
        tasks: [
          { name: 'Check', 'ansible.builtin.include_role': { name: `av.stand.${role}`, tasks_from: 'preflight.yml' } },
        ],
      });
      await writeFile(
        join(dir, 'preflight.yml'),
        JSON.stringify([play('p_*', 'prometheus'), play('v_*', 'victoriametrics')]),
      );
      const output = await tool('ansible-playbook', ['-i', join(dir, 'hosts.yml'), join(dir, 'preflight.yml')]).catch(
        (error) => error.output,
      );
      const message = (host) =>
        JSON.parse(new RegExp(`^fatal: \\[${host}\\]: FAILED! => (\\{.*\\})$`, 'm').exec(output)?.[1] ?? '{"msg": ""}')
          .msg;
      assert.equal(message('p_ok'), '', output);
      assert.equal(message('v_ok'), '', output);
      for (const host of ['p_one', 'p_zero', 'p_word']) {
        assert.match(
          message(host),
          /prometheus_storage_retention_share is the share of its filesystem the TSDB may take, a number between 0 and 1/,
          host,
        );
      }
      assert.match(message('p_one'), /\(got 1\)/);
      assert.match(message('v_share'), /victoriametrics_min_free_disk_space_share is the share .* \(got 1\.5\)/);
      assert.match(
        message('v_tb'),
        /victoriametrics_min_free_disk_space is bytes or a size such as 2GB .* \(got 1TB\)/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
