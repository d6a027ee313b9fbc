// Checks of a provisioned stand, for the end-to-end test. Each throws with a message that says what
// is wrong (and, for a dead service, its journal).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';

const SERVICES = {
  prometheus: ['prometheus', 'prometheus-node-exporter'],
  nginx: ['nginx', 'prometheus-nginx-exporter', 'prometheus-node-exporter', 'av-exporter', 'nftables'],
};
const SCRAPE_PORTS = [9100, 9113, 8000];

/** The PLAY RECAP of an ansible-playbook run says nothing changed, failed or was unreachable. */
export function checkIdempotent(output) {
  const recap = [...output.matchAll(/^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm)];
  assert.ok(recap.length > 0, `no PLAY RECAP in the output:\n${output.slice(-2000)}`);
  const offenders = recap.filter(([, , changed, unreachable, failed]) => changed !== '0' || unreachable !== '0' || failed !== '0');
  const changedTasks = [...output.matchAll(/^TASK \[(.+?)\][^\n]*\n(?:changed|failed|fatal)/gm)].map((m) => m[1]);
  assert.deepEqual(offenders.map((m) => m[0]), [], `not idempotent; tasks that changed or failed: ${changedTasks.join('; ')}`);
}

export function inventoryHosts(inventoryPath) {
  const inventory = parseYaml(readFileSync(inventoryPath, 'utf8'));
  const group = (name) => Object.entries(inventory.all.children[name]?.hosts ?? {}).map(([host, vars]) => ({ name: host, address: vars?.ansible_host ?? host }));
  return { prometheus: group('prometheus'), nginx: group('nginx') };
}

async function ansible(inventoryPath, pattern, args) {
  try {
    const { stdout } = await promisify(execFile)('ansible', [pattern, '-i', inventoryPath, '-o', ...args], { env: { ...process.env, ANSIBLE_NOCOLOR: '1' } });
    return { ok: true, output: stdout };
  } catch (error) {
    return { ok: false, output: `${error.stdout}${error.stderr}` };
  }
}

/** Every service of the stand is active on every host (systemctl is-active, over Ansible). */
export async function checkServicesActive(inventoryPath) {
  for (const [group, units] of Object.entries(SERVICES)) {
    const result = await ansible(inventoryPath, group, ['-m', 'ansible.builtin.command', '-a', `systemctl is-active ${units.join(' ')}`]);
    if (result.ok) continue;
    const journals = await ansible(inventoryPath, group, ['-m', 'ansible.builtin.shell', '-a', `for u in ${units.join(' ')}; do systemctl is-active --quiet $u || journalctl -u $u -n 50 --no-pager; done`]);
    assert.fail(`a service is not active on group ${group} (${units.join(', ')}):\n${result.output}\n${journals.output}`);
  }
}

/** Prometheus has every expected target, and all are up (retried for up to a minute). */
export async function checkTargetsUp(inventoryPath) {
  const { prometheus, nginx } = inventoryHosts(inventoryPath);
  const expected = prometheus.length * 2 + nginx.length * 3; // prometheus + node; node + nginx + av_exporter
  const deadline = Date.now() + 60_000;
  let targets = [];
  while (Date.now() < deadline) {
    const response = await fetch(`http://${prometheus[0].address}:9090/api/v1/targets?state=active`).catch(() => null);
    if (response?.ok) {
      targets = (await response.json()).data.activeTargets;
      if (targets.length === expected && targets.every((t) => t.health === 'up')) return targets;
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  const lines = targets.map((t) => `${t.labels.job} ${t.labels.instance} ${t.health} ${t.lastError}`);
  assert.fail(`expected ${expected} targets all up, got ${targets.length}:\n${lines.join('\n')}`);
}

function tcpAnswers(host, port, timeoutMs = 3000) {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (answered) => {
      socket.destroy();
      resolve(answered);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

/** Exporter ports answer the Prometheus host and nobody else (here: this machine); port 80 answers all. */
export async function checkFirewall(inventoryPath) {
  const { nginx } = inventoryHosts(inventoryPath);
  for (const host of nginx) {
    assert.equal(await tcpAnswers(host.address, 80), true, `${host.name}:80 does not answer this machine`);
    for (const port of SCRAPE_PORTS) {
      assert.equal(await tcpAnswers(host.address, port), false, `${host.name}:${port} answers this machine, which is not a Prometheus host`);
      const fromPrometheus = await ansible(inventoryPath, 'prometheus', ['-m', 'ansible.builtin.wait_for', '-a', `host=${host.address} port=${port} timeout=5`]);
      assert.ok(fromPrometheus.ok, `${host.name}:${port} does not answer the Prometheus host:\n${fromPrometheus.output}`);
    }
  }
}
