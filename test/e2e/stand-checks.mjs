// Checks of a provisioned stand, for the end-to-end test. Each throws with a message that says what is
// wrong (and, for a dead service, its journal). The inventory is read as Ansible reads it.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ROOT, inventoryList, tool } from '../support/ansible.mjs';

const SERVICES = {
  prometheus: ['prometheus', 'prometheus-node-exporter', 'av-stand-firewall'],
  nginx: ['nginx', 'prometheus-nginx-exporter', 'prometheus-node-exporter', 'av-exporter', 'av-demo', 'av-stand-firewall'],
  victoriametrics: ['victoria-metrics', 'prometheus-node-exporter', 'av-stand-firewall'],
};

/**
 * { prometheus: [host], nginx: [host], victoriametrics: [host] (none without the group) }, each host
 * { name, address, vars } with the shared values resolved.
 */
export async function standHosts(inventory) {
  const list = await inventoryList(inventory);
  const host = (name) => ({ name, address: list._meta.hostvars[name]?.ansible_host ?? name, vars: list._meta.hostvars[name] ?? {} });
  const [prometheus, nginx, victoriametrics] = ['prometheus', 'nginx', 'victoriametrics'].map((group) => groupMembers(list, group).map(host));
  return { prometheus, nginx, victoriametrics, groups: list };
}

/** The hosts of a group in `ansible-inventory --list`, its child groups' included. */
function groupMembers(list, group) {
  return [...(list[group]?.hosts ?? []), ...(list[group]?.children ?? []).flatMap((child) => groupMembers(list, child))];
}

/** The PLAY RECAP of an ansible-playbook run says nothing changed, failed or was unreachable. */
export function checkIdempotent(output) {
  const recap = [...output.matchAll(/^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm)];
  assert.ok(recap.length > 0, `no PLAY RECAP in the output:\n${output.slice(-2000)}`);
  const offenders = recap.filter(([, , changed, unreachable, failed]) => changed !== '0' || unreachable !== '0' || failed !== '0');
  const changedTasks = [...output.matchAll(/^TASK \[(.+?)\][^\n]*\n(?:changed|failed|fatal)/gm)].map((m) => m[1]);
  assert.deepEqual(offenders.map((m) => m[0]), [], `not idempotent; tasks that changed or failed: ${changedTasks.join('; ')}`);
}

/** Ansible printed no warning (each one is a bug until its cause is understood and removed). */
export function checkNoWarnings(output) {
  const warnings = output.split('\n').filter((line) => /\[WARNING\]|\[DEPRECATION WARNING\]/.test(line));
  assert.deepEqual(warnings, [], 'Ansible warned');
}

/**
 * Every play of site.yml ran on every member of the groups its `hosts:` names: a host named like a group,
 * or a pattern that matches less than the groups, shows up here as a host that a play left out.
 */
export async function checkEveryHostProvisioned(output, inventory) {
  const { groups } = await standHosts(inventory);
  const plays = parseYaml(await readFile(join(ROOT, 'site.yml'), 'utf8'));
  const sections = output.split(/^PLAY \[/m).slice(1);
  for (const play of plays) {
    const section = sections.find((s) => s.startsWith(`${play.name}]`));
    assert.ok(section, `no output of the play "${play.name}"`);
    const expected = [...new Set(playGroups(play.hosts).flatMap((group) => groupMembers(groups, group)))].sort();
    const ran = [...new Set([...section.matchAll(/^(?:ok|changed): \[([^\]\s]+)/gm)].map((m) => m[1]))].sort();
    if (expected.length === 0 && /^skipping: no hosts matched$/m.test(section)) continue; // an optional group the inventory lacks
    assert.ok(expected.length > 0, `the play "${play.name}" names groups with no hosts: ${play.hosts}`);
    assert.deepEqual(ran, expected, `the play "${play.name}" (hosts: ${play.hosts}) did not run on every member of its groups`);
  }
}

/**
 * The groups a play's `hosts:` names: a pattern `a:b`, or site.yml's templated forms for an optional group,
 * `a:b{{ ':c' if 'c' in groups else '' }}` and `{{ groups['c'] | default([]) }}` (all of them named here).
 */
function playGroups(hosts) {
  const optional = [...hosts.matchAll(/\{\{[^}]*?'([^':]+)' in groups[^}]*\}\}|\{\{\s*groups\['([^']+)'\][^}]*\}\}/g)];
  const plain = hosts.replace(/\{\{.*?\}\}/g, '').split(':').filter(Boolean);
  return [...plain, ...optional.map((m) => m[1] ?? m[2])];
}

/** Runs an ad-hoc module on a host pattern; resolves with { ok, output }. */
export async function ansible(inventory, pattern, args) {
  try {
    return { ok: true, output: await tool('ansible', [pattern, '-i', inventory, '-o', ...args]) };
  } catch (error) {
    return { ok: false, output: error.output ?? error.message };
  }
}

/** A shell command as root on the hosts of a pattern; throws with its output when it fails anywhere. */
export async function onHosts(inventory, pattern, command) {
  const result = await ansible(inventory, pattern, ['-b', '-m', 'ansible.builtin.shell', '-a', command]);
  if (!result.ok) throw new Error(`on ${pattern}: ${command}\n${result.output}`);
  return result.output;
}

/** Every service of the stand is active on every host (systemctl is-active, over Ansible). */
export async function checkServicesActive(inventory) {
  const hosts = await standHosts(inventory);
  for (const [group, units] of Object.entries(SERVICES)) {
    if (hosts[group].length === 0) continue;
    const result = await ansible(inventory, group, ['-m', 'ansible.builtin.command', '-a', `systemctl is-active ${units.join(' ')}`]);
    if (result.ok) continue;
    const journals = await ansible(inventory, group, ['-b', '-m', 'ansible.builtin.shell', '-a', `for u in ${units.join(' ')}; do systemctl is-active --quiet $u || journalctl -u $u -n 50 --no-pager; done`]);
    assert.fail(`a service is not active on group ${group} (${units.join(', ')}):\n${result.output}\n${journals.output}`);
  }
}

const promUrl = (host) => `http://${host.address}:${host.vars.stand_prometheus_port}`;

/**
 * Every exporter of every host is a target of exactly one Prometheus shard, and up (retried for up to a
 * minute): each shard scrapes itself (prometheus, node) and its share of the other hosts. Resolves with
 * { [shard name]: [instance] } of the av-exporter targets.
 */
export async function checkTargetsUp(inventory) {
  const { prometheus, nginx, victoriametrics } = await standHosts(inventory);
  // prometheus + node on each shard; node + nginx + av_exporter per nginx host; node + victoriametrics per VictoriaMetrics host
  const expected = [
    ...prometheus.flatMap((h) => [`prometheus/${h.name}`, `node/${h.name}`]),
    ...nginx.flatMap((h) => [`node/${h.name}`, `nginx/${h.name}`, `av_exporter/${h.name}`]),
    ...victoriametrics.flatMap((h) => [`node/${h.name}`, `victoriametrics/${h.name}`]),
  ].sort();
  const deadline = Date.now() + 60_000;
  let scraped = [];
  while (Date.now() < deadline) {
    scraped = await Promise.all(prometheus.map(async (shard) => {
      const response = await fetch(`${promUrl(shard)}/api/v1/targets?state=active`).catch(() => null);
      return { shard, targets: response?.ok ? (await response.json()).data.activeTargets : [] };
    }));
    const all = scraped.flatMap(({ targets }) => targets);
    const names = all.map((t) => `${t.labels.job}/${t.labels.instance}`).sort();
    if (names.join() === expected.join() && all.every((t) => t.health === 'up')) {
      for (const { shard, targets } of scraped) {
        const own = targets.filter((t) => ['prometheus', 'node'].includes(t.labels.job) && t.labels.instance === shard.name);
        assert.equal(own.length, 2, `${shard.name} does not scrape itself`);
      }
      return Object.fromEntries(scraped.map(({ shard, targets }) => [shard.name, targets.filter((t) => t.labels.job === 'av_exporter').map((t) => t.labels.instance).sort()]));
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  const lines = scraped.flatMap(({ shard, targets }) => targets.map((t) => `${shard.name}: ${t.labels.job} ${t.labels.instance} ${t.health} ${t.lastError}`));
  assert.fail(`expected each of ${expected.length} targets on exactly one shard and up (${expected.join(', ')}), got ${lines.length}:\n${lines.join('\n')}`);
}

export function tcpAnswers(host, port, timeoutMs = 3000) {
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

/**
 * The exporter ports of every host answer the Prometheus host and not this machine (the control machine);
 * Prometheus' port answers this machine; nginx's answers everyone.
 */
export async function checkFirewall(inventory) {
  const { prometheus, nginx, victoriametrics } = await standHosts(inventory);
  const [prom] = prometheus;
  const exporterPorts = (host, isNginx) => [host.vars.stand_node_exporter_port, ...(isNginx ? [host.vars.stand_nginx_exporter_port, host.vars.stand_av_exporter_port] : [])];
  const guarded = [...nginx.map((h) => [h, exporterPorts(h, true)]), ...[...prometheus, ...victoriametrics].map((h) => [h, exporterPorts(h, false)])];
  for (const [host, ports] of guarded) {
    for (const port of ports) {
      assert.equal(await tcpAnswers(host.address, port), false, `${host.name}:${port} answers this machine, which is not a Prometheus host`);
      const fromPrometheus = await ansible(inventory, prom.name, ['-m', 'ansible.builtin.wait_for', '-a', `host=${host.address} port=${port} timeout=5`]);
      assert.ok(fromPrometheus.ok, `${host.name}:${port} does not answer the Prometheus host:\n${fromPrometheus.output}`);
    }
  }
  for (const host of nginx) assert.equal(await tcpAnswers(host.address, host.vars.stand_nginx_port), true, `${host.name}:${host.vars.stand_nginx_port} does not answer this machine`);
  for (const host of prometheus) assert.equal(await tcpAnswers(host.address, host.vars.stand_prometheus_port), true, `${host.name}'s Prometheus does not answer the control machine`);
  for (const host of victoriametrics) {
    assert.equal(await tcpAnswers(host.address, host.vars.stand_victoriametrics_port), true, `${host.name}'s VictoriaMetrics does not answer the control machine`);
    for (const shard of prometheus) {
      const fromShard = await ansible(inventory, shard.name, ['-m', 'ansible.builtin.wait_for', '-a', `host=${host.address} port=${host.vars.stand_victoriametrics_port} timeout=5`]);
      assert.ok(fromShard.ok, `${host.name}'s VictoriaMetrics does not answer ${shard.name}, which writes to it:\n${fromShard.output}`);
    }
  }
}

export async function promValue(prometheusHost, query) {
  const response = await fetch(`${promUrl(prometheusHost)}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = await response.json();
  return Number(body.data.result[0]?.value[1] ?? 0);
}
