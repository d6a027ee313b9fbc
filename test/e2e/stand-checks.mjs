// Checks of a provisioned stand, for the end-to-end test. Each throws with a message that says what is
// wrong (and, for a dead service, its journal). The inventory is read as Ansible reads it.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { activeTargets, scalarQuery } from '../../scripts/lib/prometheus-api.mjs';
import { secretsDirOf, useStandSecrets } from '../../scripts/lib/stand-http.mjs';
import { ROOT, inventoryList, tool } from '../support/ansible.mjs';

const SERVICES = {
  prometheus: ['prometheus', 'prometheus-alertmanager', 'av-alert-receiver', 'prometheus-node-exporter', 'av-stand-firewall'],
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

const promUrl = (host) => `https://${host.address}:${host.vars.stand_prometheus_port}`;

/** The checks' requests trust the stand's CA and log in as its user, from the secrets site.yml made beside the inventory. */
export async function loadStandSecrets(inventory) {
  const { prometheus: [prom] } = await standHosts(inventory);
  return useStandSecrets(secretsDirOf(join(ROOT, inventory)), prom.vars.stand_web_user);
}



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
    scraped = await Promise.all(prometheus.map(async (shard) => ({ shard, targets: await activeTargets(promUrl(shard)).catch(() => []) })));
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
  for (const host of prometheus) {
    assert.equal(await tcpAnswers(host.address, host.vars.stand_prometheus_port), true, `${host.name}'s Prometheus does not answer the control machine`);
    assert.equal(await tcpAnswers(host.address, host.vars.stand_alertmanager_port), true, `${host.name}'s Alertmanager does not answer the control machine`);
  }
  for (const host of victoriametrics) {
    assert.equal(await tcpAnswers(host.address, host.vars.stand_victoriametrics_port), true, `${host.name}'s VictoriaMetrics does not answer the control machine`);
    for (const shard of prometheus) {
      const fromShard = await ansible(inventory, shard.name, ['-m', 'ansible.builtin.wait_for', '-a', `host=${host.address} port=${host.vars.stand_victoriametrics_port} timeout=5`]);
      assert.ok(fromShard.ok, `${host.name}'s VictoriaMetrics does not answer ${shard.name}, which writes to it:\n${fromShard.output}`);
    }
  }
}

export async function promValue(prometheusHost, query) {
  return (await scalarQuery(promUrl(prometheusHost), query)) ?? 0;
}

/**
 * Every HTTP endpoint of every host, probed from the first Prometheus host (which the firewall lets
 * through everywhere) by test/e2e/probe_endpoints.py: plain HTTP gets no 200, HTTPS without credentials
 * or with a wrong password 401, with the stand's user 200, and the certificate verifies against the
 * stand's CA for the host's inventory name and for its address. Resolves with the probes.
 */
export async function checkEveryEndpointLockedDown(inventory) {
  const { prometheus, nginx, victoriametrics } = await standHosts(inventory);
  const endpoint = (host, name, portVariable) => ({ name: `${host.name} ${name}`, host: host.name, address: host.address, port: Number(host.vars[portVariable]), path: '/metrics' });
  const endpoints = [
    ...prometheus.flatMap((h) => [endpoint(h, 'prometheus', 'stand_prometheus_port'), endpoint(h, 'alertmanager', 'stand_alertmanager_port'), endpoint(h, 'node exporter', 'stand_node_exporter_port')]),
    ...nginx.flatMap((h) => [endpoint(h, 'node exporter', 'stand_node_exporter_port'), endpoint(h, 'nginx exporter', 'stand_nginx_exporter_port'), endpoint(h, 'av-exporter', 'stand_av_exporter_port')]),
    ...victoriametrics.flatMap((h) => [endpoint(h, 'victoriametrics', 'stand_victoriametrics_port'), endpoint(h, 'node exporter', 'stand_node_exporter_port')]),
  ];
  const argument = Buffer.from(JSON.stringify(endpoints)).toString('base64');
  const result = await ansible(inventory, prometheus[0].name, ['-b', '-m', 'ansible.builtin.script', '-a', `test/e2e/probe_endpoints.py ${argument} ${prometheus[0].vars.stand_web_user}`]);
  assert.ok(result.ok, `the probe failed on ${prometheus[0].name}:\n${result.output}`);
  const stdout = JSON.parse(result.output.slice(result.output.indexOf('{'))).stdout;
  const probes = stdout.trim().split('\n').map((line) => JSON.parse(line));
  assert.deepEqual(probes.map((p) => p.name), endpoints.map((e) => e.name), 'every endpoint probed');
  for (const probe of probes) {
    const verdict = JSON.stringify(probe);
    assert.doesNotMatch(probe.plain, /^HTTP\/1\.[01] 2\d\d/, `${probe.name}: plain HTTP is answered: ${verdict}`);
    assert.equal(probe.anonymous, 401, `${probe.name}: HTTPS without credentials: ${verdict}`);
    assert.equal(probe.wrong, 401, `${probe.name}: HTTPS with a wrong password: ${verdict}`);
    assert.equal(probe.right, 200, `${probe.name}: HTTPS with the stand's user: ${verdict}`);
    assert.deepEqual(probe.names, { host: true, address: true }, `${probe.name}: the certificate for the host's name and address: ${verdict}`);
    const host = endpoints.find((e) => e.name === probe.name).host;
    assert.equal(probe.served, await certificateFingerprint(join(secretsDirOf(join(ROOT, inventory)), 'hosts', `${host}.crt`)), `${probe.name} serves another certificate than ${host}'s`);
  }
  return probes;
}

/**
 * A scan of every host's listening TCP sockets (ss, on the host): besides loopback, nothing listens but
 * SSH, nginx's demo site on the nginx hosts and the endpoints that checkEveryEndpointLockedDown probes.
 * Resolves with { [host]: [port] } of what listens beyond loopback.
 */
export async function checkNothingElseListens(inventory) {
  const { prometheus, nginx, victoriametrics } = await standHosts(inventory);
  const ports = (host, ...variables) => variables.map((name) => Number(host.vars[name]));
  const allowed = new Map([
    ...prometheus.map((h) => [h.name, ports(h, 'stand_prometheus_port', 'stand_alertmanager_port', 'stand_node_exporter_port')]),
    ...nginx.map((h) => [h.name, ports(h, 'stand_nginx_port', 'stand_nginx_exporter_port', 'stand_av_exporter_port', 'stand_node_exporter_port')]),
    ...victoriametrics.map((h) => [h.name, ports(h, 'stand_victoriametrics_port', 'stand_node_exporter_port')]),
  ]);
  const found = {};
  for (const [name, expected] of allowed) {
    const output = await onHosts(inventory, name, "ss -H -ltn | awk '{print $4}'");
    const listening = [...output.replace(/\\n/g, '\n').matchAll(/(\S+):(\d+)(?=\s|$)/g)]
      .filter(([, address]) => !/^(127\.|\[::1\]|::1$|\[::ffff:127\.)/.test(address.replace(/^.*\(stdout\) /, '')))
      .map(([, , port]) => Number(port));
    found[name] = [...new Set(listening)].sort((a, b) => a - b);
    const unexpected = found[name].filter((port) => port !== 22 && !expected.includes(port));
    assert.deepEqual(unexpected, [], `${name} listens beyond loopback on ports the stand does not lock down: ${output}`);
  }
  return found;
}

/** The SHA-256 fingerprint of a PEM certificate file, as lower-case hex. */
async function certificateFingerprint(file) {
  return new X509Certificate(await readFile(file)).fingerprint256.replace(/:/g, '').toLowerCase();
}

/** What the webhook receiver on a Prometheus host got for one alert of one instance: { firing, resolved } receive times (s). */
async function receivedNotifications(inventory, host, alertname, instance) {
  const script = [
    'import json, os',
    `path = ${JSON.stringify(host.vars.alert_receiver_file ?? '/var/lib/av-alert-receiver/notifications.jsonl')}`,
    'seen = {"firing": [], "resolved": []}',
    'for line in (open(path) if os.path.exists(path) else []):',
    '    entry = json.loads(line)',
    '    for alert in entry["notification"].get("alerts", []):',
    `        if alert["labels"].get("alertname") == ${JSON.stringify(alertname)} and alert["labels"].get("instance") == ${JSON.stringify(instance)}:`,
    '            seen[alert["status"]].append(entry["received_at"])',
    'print("RECEIVED" + json.dumps(seen).replace(" ", ""))',
  ].join('\n');
  const output = await onHosts(inventory, host.name, `echo ${Buffer.from(script).toString('base64')} | base64 -d | python3 -`);
  const match = /RECEIVED(\{[^}]*\})/.exec(output); // two lists of numbers: no brace inside
  assert.ok(match, `the receiver's notifications on ${host.name}: ${output}`);
  return JSON.parse(match[1].replace(/\\"/g, '"'));
}

/**
 * av-exporter stopped on the first nginx host: TargetDown for it reaches the webhook receiver (through
 * Prometheus and Alertmanager, both over HTTPS with basic auth) within the rule's `for` plus two evaluation
 * intervals, plus the scrape interval that notices it and Alertmanager's group_wait; started again, the
 * alert is resolved. Resolves with { firedAfter, resolvedAfter } in seconds.
 */
export async function checkAlertRoundTrip(inventory, { forSeconds, evaluationSeconds, scrapeSeconds, groupWaitSeconds }) {
  const { prometheus: [prom], nginx: [web] } = await standHosts(inventory);
  const before = await receivedNotifications(inventory, prom, 'TargetDown', web.name);
  const bound = forSeconds + 2 * evaluationSeconds + scrapeSeconds + groupWaitSeconds;
  const waitFor = async (status, fromSeconds, limitSeconds) => {
    for (const deadline = Date.now() + limitSeconds * 1000 + 30_000; Date.now() < deadline;) {
      const seen = await receivedNotifications(inventory, prom, 'TargetDown', web.name);
      const fresh = seen[status].filter((at) => !before[status].includes(at) && at >= fromSeconds);
      if (fresh.length > 0) return Math.min(...fresh) - fromSeconds;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    assert.fail(`no ${status} TargetDown for ${web.name} reached the receiver on ${prom.name} within ${limitSeconds + 30} s`);
  };
  const stoppedAt = Date.now() / 1000;
  await onHosts(inventory, web.name, 'systemctl stop av-exporter');
  let firedAfter;
  try {
    firedAfter = await waitFor('firing', stoppedAt, bound);
  } finally {
    await onHosts(inventory, web.name, 'systemctl start av-exporter');
  }
  const startedAt = Date.now() / 1000;
  assert.ok(firedAfter <= bound, `TargetDown reached the receiver ${firedAfter.toFixed(1)} s after the stop; the bound is ${bound} s`);
  const resolvedAfter = await waitFor('resolved', startedAt, 120);
  return { firedAfter, resolvedAfter, bound };
}
