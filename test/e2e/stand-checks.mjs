// Checks of a provisioned stand, for the end-to-end test. Each throws with a message that says what is
// wrong (and, for a dead service, its journal). The inventory is read as Ansible reads it.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join, resolve as resolvePath } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { everyHost, readInventory, standModelAsync } from '../../scripts/lib/inventory.mjs';
import { secretsDirOf, standClientFor } from '../../scripts/lib/stand-client.mjs';
import { pollUntil } from '../../scripts/lib/wait.mjs';
import { ROOT, tool } from '../support/ansible.mjs';

/**
 * { prometheus: [host], nginx: [host], victoriametrics: [host] (none without the group), services, targets,
 * model }, each host { name, address, vars, kinds, roles, services } with the shared values resolved and the
 * catalogue's services on it: the resolved stand the playbook computes (scripts/lib/inventory.mjs).
 */
export async function standHosts(inventory) {
  const file = resolvePath(ROOT, inventory);
  return readInventory(file, await standModelAsync(file));
}

/** The PLAY RECAP of an ansible-playbook run says nothing changed, failed or was unreachable. */
export function checkIdempotent(output) {
  const recap = [...output.matchAll(/^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm)];
  assert.ok(recap.length > 0, `no PLAY RECAP in the output:\n${output.slice(-2000)}`);
  const offenders = recap.filter(
    ([, , changed, unreachable, failed]) => changed !== '0' || unreachable !== '0' || failed !== '0',
  );
  const changedTasks = [...output.matchAll(/^TASK \[(.+?)\][^\n]*\n(?:changed|failed|fatal)/gm)].map((m) => m[1]);
  assert.deepEqual(
    offenders.map((m) => m[0]),
    [],
    `not idempotent; tasks that changed or failed: ${changedTasks.join('; ')}`,
  );
}

/** Ansible printed no warning (each one is a bug until its cause is understood and removed). */
export function checkNoWarnings(output) {
  const warnings = output.split('\n').filter((line) => /\[WARNING\]|\[DEPRECATION WARNING\]/.test(line));
  assert.deepEqual(warnings, [], 'Ansible warned');
}

/**
 * Every play of site.yml ran on every member of the groups its `hosts:` names: a host named like a group,
 * or a pattern that matches less than the groups, shows up here as a host that a play left out. The plays
 * name the stand's in-memory groups (av_stand_<kind>, av_stand), made by the first play from stand_groups.
 */
export async function checkEveryHostProvisioned(output, inventory) {
  const { model } = await standHosts(inventory);
  const members = (group) => {
    if (group === 'all') return model.inventory_hosts;
    if (group === 'av_stand') return Object.keys(model.hosts);
    const kind = /^av_stand_(\w+)$/.exec(group)?.[1];
    assert.ok(kind && model.kinds[kind], `site.yml names a group that is not the stand's: ${group}`);
    return model.kinds[kind];
  };
  const plays = parseYaml(await readFile(join(ROOT, 'site.yml'), 'utf8'));
  const sections = output.split(/^PLAY \[/m).slice(1);
  for (const play of plays) {
    const section = sections.find((s) => s.startsWith(`${play.name}]`));
    assert.ok(section, `no output of the play "${play.name}"`);
    const expected = [...new Set(playGroups(play.hosts).flatMap(members))].sort();
    const ran = [...new Set([...section.matchAll(/^(?:ok|changed): \[([^\]\s]+)/gm)].map((m) => m[1]))].sort();
    if (expected.length === 0 && /^skipping: no hosts matched$/m.test(section)) continue; // an optional group the inventory lacks
    assert.ok(expected.length > 0, `the play "${play.name}" names groups with no hosts: ${play.hosts}`);
    assert.deepEqual(
      ran,
      expected,
      `the play "${play.name}" (hosts: ${play.hosts}) did not run on every member of its groups`,
    );
  }
}

/** The groups a play's `hosts:` names: a plain pattern `a:b`, or site.yml's `{{ groups['x'] | default([]) }}`. */
function playGroups(hosts) {
  const templated = [...hosts.matchAll(/\{\{\s*groups\['([^']+)'\][^}]*\}\}/g)].map((m) => m[1]);
  const plain = hosts
    .replace(/\{\{.*?\}\}/g, '')
    .split(':')
    .filter(Boolean);
  return [...plain, ...templated];
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

/** Every unit of the catalogue is active on every host that runs it (systemctl is-active, over Ansible). */
export async function checkServicesActive(inventory) {
  const byUnits = new Map();
  for (const host of everyHost(await standHosts(inventory))) {
    const units = host.services.map((service) => service.unit).join(' ');
    byUnits.set(units, [...(byUnits.get(units) ?? []), host.name]);
  }
  for (const [units, hosts] of byUnits) {
    const pattern = hosts.join(':');
    const result = await ansible(inventory, pattern, [
      '-m',
      'ansible.builtin.command',
      '-a',
      `systemctl is-active ${units}`,
    ]);
    if (result.ok) continue;
    const journals = await ansible(inventory, pattern, [
      '-b',
      '-m',
      'ansible.builtin.shell',
      '-a',
      `for u in ${units}; do systemctl is-active --quiet $u || journalctl -u $u -n 50 --no-pager; done`,
    ]);
    assert.fail(`a service is not active on ${pattern} (${units}):\n${result.output}\n${journals.output}`);
  }
}

const promUrl = (host) => `https://${host.address}:${host.vars.stand_prometheus_port}`;

let standClientInUse = null;

/** The checks' requests trust the stand's CA and log in as its user, from the secrets site.yml made beside the inventory. */
export async function loadStandSecrets(inventory) {
  standClientInUse = await standClientOf(inventory);
  return standClientInUse.secrets;
}

/** The stand's client (scripts/lib/stand-client.mjs) for an inventory: its hosts as Ansible reads them, its secrets. */
export async function standClientOf(inventory) {
  const file = resolvePath(ROOT, inventory);
  return standClientFor({ inventoryFile: file, model: await standModelAsync(file) });
}

const clientInUse = () => standClientInUse ?? assert.fail("the stand's secrets are not loaded (loadStandSecrets)");

/**
 * The targets the shards scrape, as the resolved stand has them (`targets`: { shard: [target] }), as
 * `job/instance` (probes: `job/host/service`), every shard's together: an every_shard one once per shard.
 */
export function expectedTargets(hosts) {
  return Object.values(hosts.targets).flat().sort();
}

const targetKey = (t) =>
  t.labels.service ? `${t.labels.job}/${t.labels.host}/${t.labels.service}` : `${t.labels.job}/${t.labels.instance}`;

/**
 * Every target of the catalogue is a target of exactly one Prometheus shard (an every_shard one, such as
 * every Prometheus and Alertmanager, of every shard), and up (retried for up to a minute); each shard
 * scrapes its share as the resolved stand has it, its own host's services included. Resolves with { [shard name]: [instance] } of the
 * av-exporter targets.
 */
export async function checkTargetsUp(inventory) {
  const hosts = await standHosts(inventory);
  const expected = expectedTargets(hosts);
  let scraped = [];
  const allUp = async () => {
    scraped = await Promise.all(
      hosts.prometheus.map(async (shard) => ({
        shard,
        targets: await clientInUse()
          .prometheus(promUrl(shard))
          .activeTargets()
          .catch(() => []),
      })),
    );
    const all = scraped.flatMap(({ targets }) => targets);
    const names = all.map(targetKey).sort();
    return names.join() === expected.join() && all.every((t) => t.health === 'up');
  };
  if (!(await pollUntil(allUp, { seconds: 90, intervalMs: 2000, onTimeout: () => false }))) {
    const lines = scraped.flatMap(({ shard, targets }) =>
      targets.map((t) => `${shard.name}: ${targetKey(t)} ${t.health} ${t.lastError}`),
    );
    assert.fail(
      `expected each of ${expected.length} targets on exactly one shard and up (${expected.join(', ')}), got ${lines.length}:\n${lines.join('\n')}`,
    );
  }
  for (const { shard, targets } of scraped) {
    assert.deepEqual(
      targets.map(targetKey).sort(),
      [...hosts.targets[shard.name]].sort(),
      `${shard.name} scrapes other targets than its share`,
    );
  }
  return Object.fromEntries(
    scraped.map(({ shard, targets }) => [
      shard.name,
      targets
        .filter((t) => t.labels.job === 'av_exporter')
        .map((t) => t.labels.instance)
        .sort(),
    ]),
  );
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
 * Each guarded port of the catalogue as the firewall should keep it: `scrapers` ports answer every Prometheus
 * host and not this machine (the control machine); `allow_list` ports answer both; `anyone` ports answer this
 * machine. Resolves with the number of (host, port) pairs checked.
 */
export async function checkFirewall(inventory) {
  const hosts = await standHosts(inventory);
  const ports = everyHost(hosts).flatMap((host) =>
    host.services.filter((s) => s.port !== undefined && s.clients !== 'loopback').map((s) => ({ host, service: s })),
  );
  // side by side: a dropped port answers nothing until its timeout
  const answered = await Promise.all(ports.map(({ host, service }) => tcpAnswers(host.address, service.port)));
  ports.forEach(({ host, service }, i) => {
    assert.equal(
      answered[i],
      !['scrapers', 'peers'].includes(service.clients),
      `${host.name}:${service.port} (${service.name}, clients: ${service.clients}) ${answered[i] ? 'answers' : 'does not answer'} this machine`,
    );
  });
  // a peers port (Alertmanager's cluster) is on the Prometheus hosts, whose peers are the shards themselves
  const fromShards = ports.filter(
    ({ host, service }) =>
      ['scrapers', 'allow_list'].includes(service.clients) ||
      (service.clients === 'peers' && hosts.prometheus.some((shard) => shard.name === host.name)),
  );
  const script = `import json, socket\nfor a, p in ${JSON.stringify(fromShards.map(({ host, service }) => [host.address, service.port]))}:\n    s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET); s.settimeout(5)\n    print("REACH", a, p, s.connect_ex((a, p)) == 0); s.close()`;
  for (const shard of hosts.prometheus) {
    const output = await onHosts(
      inventory,
      shard.name,
      `echo ${Buffer.from(script).toString('base64')} | base64 -d | python3 -`,
    );
    const unreachable = [...output.matchAll(/REACH (\S+) (\d+) False/g)].map((m) => `${m[1]}:${m[2]}`);
    assert.deepEqual(
      unreachable,
      [],
      `ports the catalogue opens to the Prometheus hosts that ${shard.name} cannot reach`,
    );
    assert.equal(
      [...output.matchAll(/REACH /g)].length,
      fromShards.length,
      `${shard.name} checked every port: ${output}`,
    );
  }
  return ports.length;
}

export async function promValue(prometheusHost, query) {
  return (await clientInUse().prometheus(promUrl(prometheusHost)).scalarQuery(query)) ?? 0;
}

/** Every HTTPS endpoint of the catalogue on every host: { name, host, address, port, path }. */
export function httpsEndpoints(hosts) {
  return everyHost(hosts).flatMap((host) =>
    host.services
      .filter((service) => service.https)
      .map((service) => ({
        name: `${host.name} ${service.name}`,
        host: host.name,
        address: host.address,
        port: service.port,
        path: service.scrape?.path ?? '/metrics',
      })),
  );
}

/**
 * Every HTTP endpoint of every host, probed from the first Prometheus host (which the firewall lets
 * through everywhere) by test/e2e/probe_endpoints.py: plain HTTP gets no 200, HTTPS without credentials
 * or with a wrong password 401, with the stand's user 200, and the certificate verifies against the
 * stand's CA for the host's inventory name and for its address. Resolves with the probes.
 */
export async function checkEveryEndpointLockedDown(inventory) {
  const hosts = await standHosts(inventory);
  const { prometheus } = hosts;
  const endpoints = httpsEndpoints(hosts);
  const argument = Buffer.from(JSON.stringify(endpoints)).toString('base64');
  const result = await ansible(inventory, prometheus[0].name, [
    '-b',
    '-m',
    'ansible.builtin.script',
    '-a',
    `test/e2e/probe_endpoints.py ${argument} ${prometheus[0].vars.stand_web_user}`,
  ]);
  assert.ok(result.ok, `the probe failed on ${prometheus[0].name}:\n${result.output}`);
  const stdout = JSON.parse(result.output.slice(result.output.indexOf('{'))).stdout;
  const probes = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  assert.deepEqual(
    probes.map((p) => p.name),
    endpoints.map((e) => e.name),
    'every endpoint probed',
  );
  for (const probe of probes) {
    const verdict = JSON.stringify(probe);
    assert.doesNotMatch(probe.plain, /^HTTP\/1\.[01] 2\d\d/, `${probe.name}: plain HTTP is answered: ${verdict}`);
    assert.equal(probe.anonymous, 401, `${probe.name}: HTTPS without credentials: ${verdict}`);
    assert.equal(probe.wrong, 401, `${probe.name}: HTTPS with a wrong password: ${verdict}`);
    assert.equal(probe.right, 200, `${probe.name}: HTTPS with the stand's user: ${verdict}`);
    assert.deepEqual(
      probe.names,
      { host: true, address: true },
      `${probe.name}: the certificate for the host's name and address: ${verdict}`,
    );
    const host = endpoints.find((e) => e.name === probe.name).host;
    assert.equal(
      probe.served,
      await certificateFingerprint(join(secretsDirOf(join(ROOT, inventory)), 'hosts', `${host}.crt`)),
      `${probe.name} serves another certificate than ${host}'s`,
    );
  }
  return probes;
}

/**
 * A scan of every host's listening TCP sockets (ss, on the host): besides loopback, nothing listens but
 * SSH, nginx's demo site on the nginx hosts and the endpoints that checkEveryEndpointLockedDown probes.
 * Resolves with { [host]: [port] } of what listens beyond loopback.
 */
export async function checkNothingElseListens(inventory) {
  const allowed = new Map(
    everyHost(await standHosts(inventory)).map((host) => [
      host.name,
      host.services.filter((s) => s.port !== undefined).map((s) => s.port),
    ]),
  );
  const found = {};
  for (const [name, expected] of allowed) {
    const output = await onHosts(inventory, name, "ss -H -ltn | awk '{print $4}'");
    const listening = [...output.replace(/\\n/g, '\n').matchAll(/(\S+):(\d+)(?=\s|$)/g)]
      .filter(([, address]) => !/^(127\.|\[::1\]|::1$|\[::ffff:127\.)/.test(address.replace(/^.*\(stdout\) /, '')))
      .map(([, , port]) => Number(port));
    found[name] = [...new Set(listening)].sort((a, b) => a - b);
    const unexpected = found[name].filter((port) => port !== 22 && !expected.includes(port));
    assert.deepEqual(
      unexpected,
      [],
      `${name} listens beyond loopback on ports the stand does not lock down: ${output}`,
    );
  }
  return found;
}

/** The SHA-256 fingerprint of a PEM certificate file, as lower-case hex. */
async function certificateFingerprint(file) {
  return new X509Certificate(await readFile(file)).fingerprint256.replace(/:/g, '').toLowerCase();
}

/**
 * What the webhook receiver on a Prometheus host got for one alert with these labels: { firing, resolved }
 * receive times (s), and `generators`, the generatorURL of each firing one (which Prometheus sent it).
 */
async function receivedNotifications(inventory, host, alertname, labels) {
  const script = [
    'import base64, json, os',
    `path = ${JSON.stringify(host.vars.alert_receiver_file ?? '/var/lib/av-alert-receiver/notifications.jsonl')}`,
    `wanted = ${JSON.stringify({ alertname, ...labels })}`,
    'seen = {"firing": [], "resolved": [], "generators": []}',
    'for line in (open(path) if os.path.exists(path) else []):',
    '    entry = json.loads(line)',
    '    for alert in entry["notification"].get("alerts", []):',
    '        if all(alert["labels"].get(k) == v for k, v in wanted.items()):',
    '            seen[alert["status"]].append(entry["received_at"])',
    '            if alert["status"] == "firing": seen["generators"].append(alert.get("generatorURL", ""))',
    'print("RECEIVED" + base64.b64encode(json.dumps(seen).encode()).decode() + "END")',
  ].join('\n');
  const output = await onHosts(
    inventory,
    host.name,
    `echo ${Buffer.from(script).toString('base64')} | base64 -d | python3 -`,
  );
  const match = /RECEIVED([A-Za-z0-9+/=]*)END/.exec(output);
  assert.ok(match, `the receiver's notifications on ${host.name}: ${output}`);
  return JSON.parse(Buffer.from(match[1], 'base64').toString());
}

/** Each receiver's notifications of one alert: [{ prom, firing, resolved, generators }], one entry per Prometheus host. */
async function everyReceiver(inventory, prometheus, alertname, labels) {
  return Promise.all(
    prometheus.map(async (prom) => ({ prom, ...(await receivedNotifications(inventory, prom, alertname, labels)) })),
  );
}

/** The notifications of one alert that came after `since` (s), each { prom, status, at, generator }, every receiver's. */
async function notificationsSince(inventory, prometheus, alertname, labels, since) {
  const receivers = await everyReceiver(inventory, prometheus, alertname, labels);
  return receivers
    .flatMap(({ prom, firing, resolved, generators }) => [
      ...firing.map((at, index) => ({ prom: prom.name, status: 'firing', at, generator: generators[index] })),
      ...resolved.map((at) => ({ prom: prom.name, status: 'resolved', at })),
    ])
    .filter((n) => n.at >= since);
}

/**
 * Waits until a notification of one alert with `status` reaches a receiver (of `onReceivers`, host names;
 * any Prometheus host's by default) after `since` (s); resolves with the first: { prom, at, generator }.
 * @param {string} inventory
 * @param {{ alertname: string, labels?: object, status?: string, since: number, limitSeconds: number, onReceivers?: string[] }} options
 * @returns {Promise<{ prom: string, at: number, generator?: string }>}
 */
export async function waitForNotification(
  inventory,
  { alertname, labels = {}, status = 'firing', since, limitSeconds, onReceivers },
) {
  const { prometheus } = await standHosts(inventory);
  const watched = onReceivers ? prometheus.filter((p) => onReceivers.includes(p.name)) : prometheus;
  const first = async () => {
    const found = (await notificationsSince(inventory, watched, alertname, labels, since)).filter(
      (n) => n.status === status,
    );
    return found.sort((a, b) => a.at - b.at)[0];
  };
  return pollUntil(first, {
    seconds: limitSeconds,
    intervalMs: 2000,
    onTimeout: () =>
      assert.fail(
        `no ${status} ${alertname} ${JSON.stringify(labels)} reached ${onReceivers ? `the receiver of ${onReceivers.join(', ')}` : 'a receiver'} within ${limitSeconds} s`,
      ),
  });
}

/**
 * A unit stopped on an nginx host (`nginxHost`, an index, the first by default): the alert (TargetDown for
 * av-exporter, SiteDown for nginx, ...) reaches a webhook receiver (through Prometheus and the Alertmanagers,
 * over HTTPS with basic auth) within the rule's `for` plus two evaluation intervals, plus the scrape interval
 * that notices it and Alertmanager's group_wait; and it is notified once: every Prometheus sends it to every
 * Alertmanager, and their cluster has one of them notify it, so the receivers together get it once,
 * `settleSeconds` (more than the cluster's peer timeout) after the first. Started again, the alert is
 * resolved. Resolves with { firedAfter, resolvedAfter, bound, firingNotifications, stopped } (stopped: the
 * host, the unit, and when, in seconds since the epoch, it was stopped and started again).
 * @param {string} inventory
 * @param {{ alertname?: string, unit?: string, labels?: (web: { name: string }) => Record<string, string>, nginxHost?: number, forSeconds: number, evaluationSeconds: number, scrapeSeconds: number, groupWaitSeconds: number, settleSeconds?: number }} options
 *   `labels`: the alert's labels for the nginx host stopped
 * @returns {Promise<{ firedAfter: number, resolvedAfter: number, bound: number, firingNotifications: number, stopped: { host: string, unit: string, from: number, to: number } }>}
 */
export async function checkAlertRoundTrip(
  inventory,
  {
    alertname = 'TargetDown',
    unit = 'av-exporter',
    labels = (web) => ({ instance: web.name }),
    nginxHost = 0,
    forSeconds,
    evaluationSeconds,
    scrapeSeconds,
    groupWaitSeconds,
    settleSeconds = 25,
  },
) {
  const { prometheus, nginx } = await standHosts(inventory);
  const web = nginx[nginxHost];
  const wanted = labels(web);
  const bound = forSeconds + 2 * evaluationSeconds + scrapeSeconds + groupWaitSeconds;
  const stoppedAt = Date.now() / 1000;
  await onHosts(inventory, web.name, `systemctl stop ${unit}`);
  let first;
  let firing;
  try {
    first = await waitForNotification(inventory, {
      alertname,
      labels: wanted,
      since: stoppedAt,
      limitSeconds: bound + 30,
    });
    await new Promise((resolve) => setTimeout(resolve, settleSeconds * 1000));
    firing = (await notificationsSince(inventory, prometheus, alertname, wanted, stoppedAt)).filter(
      (n) => n.status === 'firing',
    );
  } finally {
    await onHosts(inventory, web.name, `systemctl start ${unit}`);
  }
  const startedAt = Date.now() / 1000;
  const firedAfter = first.at - stoppedAt;
  assert.ok(
    firedAfter <= bound,
    `${alertname} ${JSON.stringify(wanted)} reached the receiver ${firedAfter.toFixed(1)} s after the stop; the bound is ${bound} s`,
  );
  assert.equal(
    firing.length,
    1,
    `${alertname} ${JSON.stringify(wanted)} was notified ${firing.length} times, not once: ${JSON.stringify(firing)}`,
  );
  const resolved = await waitForNotification(inventory, {
    alertname,
    labels: wanted,
    status: 'resolved',
    since: startedAt,
    limitSeconds: 150,
  });
  return {
    firedAfter,
    resolvedAfter: resolved.at - startedAt,
    bound,
    firingNotifications: firing.length,
    stopped: { host: web.name, unit, from: stoppedAt, to: startedAt },
  };
}

/**
 * Every receiver hears every evaluator's Watchdog (each Prometheus host's, and vmalert's): its
 * av_alert_receiver_watchdog_last_seen_timestamp_seconds is younger than `withinSeconds`, for every name in
 * `evaluators`. Resolves with { [receiver]: { [evaluator]: age in s } }.
 */
export async function checkHeartbeats(inventory, evaluators, withinSeconds) {
  const { prometheus } = await standHosts(inventory);
  const ages = {};
  const script = (listen) =>
    [
      'import base64, json, re, time, urllib.request',
      `text = urllib.request.urlopen("http://${listen}/metrics", timeout=5).read().decode()`,
      'seen = {m.group(1): float(m.group(2)) for m in re.finditer(r\'av_alert_receiver_watchdog_last_seen_timestamp_seconds\\{prometheus="([^"]*)"\\} (\\S+)\', text)}',
      'print("SEEN" + base64.b64encode(json.dumps({"now": time.time(), "seen": seen}).encode()).decode() + "END")',
    ].join('\n');
  for (const prom of prometheus) {
    const output = await onHosts(
      inventory,
      prom.name,
      `echo ${Buffer.from(script(prom.vars.stand_alert_receiver_listen)).toString('base64')} | base64 -d | python3 -`,
    );
    const { now, seen } = JSON.parse(Buffer.from(/SEEN([A-Za-z0-9+/=]*)END/.exec(output)[1], 'base64').toString());
    ages[prom.name] = Object.fromEntries(
      evaluators.map((name) => [name, seen[name] > 0 ? Math.round(now - seen[name]) : null]),
    );
    for (const [name, age] of Object.entries(ages[prom.name])) {
      assert.ok(
        age !== null && age <= withinSeconds,
        `${prom.name}'s receiver last heard ${name}'s Watchdog ${age === null ? 'never' : `${age} s ago`}; the bound is ${withinSeconds} s`,
      );
    }
  }
  return ages;
}

/**
 * `unit` stopped on `host`: the receivers of `reporters` (host names) report a DeadMansSwitch naming
 * `silent` (the evaluator whose Watchdog no longer reaches them) within `boundSeconds`; started again, each
 * reporter resolves it. Resolves with { reportedAfter: { [reporter]: s }, resolvedAfter: { [reporter]: s } }.
 * @template T
 * @param {string} inventory
 * @param {{ host: string, unit: string, silent: string, reporters: string[], boundSeconds: number, whileStopped?: () => Promise<T> }} options
 * @returns {Promise<{ reportedAfter: Record<string, number>, resolvedAfter: Record<string, number>, during: T }>}
 */
export async function checkDeadMansSwitch(
  inventory,
  { host, unit, silent, reporters, boundSeconds, whileStopped = async () => undefined },
) {
  const labels = { prometheus: silent };
  const stoppedAt = Date.now() / 1000;
  await onHosts(inventory, host, `systemctl stop ${unit}`);
  /** @type {Record<string, number>} */
  const reportedAfter = {};
  let during;
  try {
    const [, result] = await Promise.all([
      (async () => {
        for (const reporter of reporters) {
          const report = await waitForNotification(inventory, {
            alertname: 'DeadMansSwitch',
            labels,
            since: stoppedAt,
            limitSeconds: boundSeconds + 30,
            onReceivers: [reporter],
          });
          reportedAfter[reporter] = report.at - stoppedAt;
        }
      })(),
      whileStopped(),
    ]);
    during = result;
  } finally {
    await onHosts(inventory, host, `systemctl start ${unit}`);
  }
  const startedAt = Date.now() / 1000;
  for (const [reporter, after] of Object.entries(reportedAfter)) {
    assert.ok(
      after <= boundSeconds,
      `${reporter}'s receiver reported ${silent} silent ${after.toFixed(1)} s after ${unit} stopped on ${host}; the bound is ${boundSeconds} s`,
    );
  }
  // Every reporter must resolve it before the next check begins: a receiver still counting the outage would
  // not report the next one (it is reported once per outage).
  /** @type {Record<string, number>} */
  const resolvedAfter = {};
  for (const reporter of reporters) {
    const resolved = await waitForNotification(inventory, {
      alertname: 'DeadMansSwitch',
      labels,
      status: 'resolved',
      since: startedAt,
      limitSeconds: 180,
      onReceivers: [reporter],
    });
    resolvedAfter[reporter] = resolved.at - startedAt;
  }
  return { reportedAfter, resolvedAfter, during };
}

/**
 * The Alertmanagers of the Prometheus hosts form one cluster: each one's /api/v2/status says the cluster is
 * ready and lists every Prometheus host's Alertmanager as a peer (retried for up to a minute, while they join).
 */
export async function checkAlertmanagerCluster(prometheus) {
  let statuses = [];
  const oneCluster = async () => {
    statuses = await Promise.all(
      prometheus.map(async (prom) => {
        const answer = await clientInUse()
          .get(`https://${prom.address}:${prom.vars.stand_alertmanager_port}/api/v2/status`)
          .catch((error) => ({ status: 0, text: error.message }));
        const cluster =
          answer.status === 200 ? JSON.parse(answer.text).cluster : { status: `HTTP ${answer.status} ${answer.text}` };
        return { name: prom.name, status: cluster.status, peers: (cluster.peers ?? []).length };
      }),
    );
    return statuses.every((s) => s.status === 'ready' && s.peers === prometheus.length);
  };
  await pollUntil(oneCluster, {
    seconds: 60,
    intervalMs: 2000,
    onTimeout: () =>
      assert.fail(`the Alertmanagers are not one ready cluster of ${prometheus.length}: ${JSON.stringify(statuses)}`),
  });
  return statuses;
}
