// The webhook receiver's unit as the role renders it (ansible/render-configs.yml): the Watchdog sources it
// expects are every Prometheus host and the VictoriaMetrics host (vmalert), from the inventory, and the bound
// is three heartbeat intervals; the sandbox stays as it was.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EXAMPLE_INVENTORY, renderConfigs } from './support/ansible.mjs';

const INVENTORY = `all:
  vars: { ansible_user: debian, ansible_become: true }
  children:
    prometheus: { hosts: { prom1: { ansible_host: 192.0.2.10 }, prom2: { ansible_host: 192.0.2.11 } } }
    nginx: { hosts: { web1: { ansible_host: 192.0.2.21 } } }
    victoriametrics: { hosts: { vm1: { ansible_host: 192.0.2.50 } } }
`;

/** The arguments of the unit's ExecStart (its continuation lines joined), split on white space. */
const execStart = (unit) => /^ExecStart=((?:.*\\\n)*.*)$/m.exec(unit)[1].replace(/\\\n/g, ' ').trim().split(/\s+/);
const flag = (args, name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);

describe("the webhook receiver's unit, rendered", () => {
  let inventoryDir;
  let single;
  let sharded;
  const unit = (dir, host) => readFile(join(dir, host, 'av-alert-receiver.service'), 'utf8');

  before(async () => {
    inventoryDir = await mkdtemp(join(tmpdir(), 'av-receiver-render-'));
    await writeFile(join(inventoryDir, 'hosts.yml'), INVENTORY);
    [single, sharded] = await Promise.all([
      renderConfigs(EXAMPLE_INVENTORY),
      renderConfigs(join(inventoryDir, 'hosts.yml'), { stand_heartbeat_interval: '1m30s' }),
    ]);
  });
  after(() => Promise.all([inventoryDir, single, sharded].map((dir) => rm(dir, { recursive: true, force: true }))));

  test("the example inventory's receiver expects prom1's Watchdog, late after 3 × 15s", async () => {
    const text = await unit(single, 'prom1');
    const args = execStart(text);
    assert.deepEqual(args.slice(0, 2), ['/usr/bin/python3', '/usr/local/lib/av-stand/av-alert-receiver.py']);
    assert.equal(flag(args, '--listen'), '127.0.0.1:9095');
    assert.equal(flag(args, '--file'), '/var/lib/av-alert-receiver/notifications.jsonl');
    assert.equal(flag(args, '--heartbeat-from'), 'prom1');
    assert.equal(flag(args, '--heartbeat-late-after'), '45');
    // the hardening is kept
    for (const line of [
      'DynamicUser=yes',
      'IPAddressDeny=any',
      'IPAddressAllow=localhost',
      'ProtectSystem=strict',
      'NoNewPrivileges=yes',
    ]) {
      assert.match(text, new RegExp(`^${line}$`, 'm'));
    }
  });

  test('with two Prometheus hosts and VictoriaMetrics, each receiver watches all three; the bound follows the interval', async () => {
    for (const host of ['prom1', 'prom2']) {
      const args = execStart(await unit(sharded, host));
      assert.equal(flag(args, '--heartbeat-from'), 'prom1,prom2,vm1', host);
      assert.equal(flag(args, '--heartbeat-late-after'), '270', host); // 3 × 1m30s
    }
  });
});
