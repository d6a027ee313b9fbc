#!/usr/bin/env zx
// The local lab: a Prometheus host and nginx host(s) as systemd-nspawn machines on a private bridge, each booted
// with its own systemd from a cached Debian root, set up like a cloud VM, ready for the playbook.
//
//   npx zx scripts/lab.mjs up [--release trixie|bookworm] [--nginx N] [--prometheus N] [--victoriametrics]
//   npx zx scripts/lab.mjs status
//   npx zx scripts/lab.mjs replace NAME...
//   npx zx scripts/lab.mjs down [--purge]
//
// The modules in scripts/lab/ do the work: apt sources, network, apt proxy, machines, processes, inventory.
import fs from 'node:fs';
import path from 'node:path';
import { $, argv, chalk, echo, spinner, which } from 'zx';
import { thisMachinesDebianSources } from './lab/apt-sources.mjs';
import { ensureAptProxy, proxyIsAnswering, stopAptProxy } from './lab/apt-proxy.mjs';
import { removeInventory, writeInventory } from './lab/inventory.mjs';
import { everyHost, readInventory } from './lib/inventory.mjs';
import {
  BRIDGE,
  BRIDGE_ADDRESS,
  CACHE,
  DEFAULT_RELEASE,
  INVENTORY,
  MAX_NGINX_HOSTS,
  MAX_PROMETHEUS_HOSTS,
  PROXY_URL,
  RELEASE_NAMES,
  RELEASES,
  SSH_USER,
  STATE,
  claimDirectory,
  labDescription,
  ownedDirectory,
  paths,
  planHosts,
  readLabFile,
} from './lab/layout.mjs';
import {
  ensureBaseRoot,
  ensureBooted,
  ensureHostRoot,
  hostPid,
  recordedHostNames,
  removeHost,
  removeNspawnRunDirs,
  sshAsUser,
  waitForSsh,
  writeKnownHosts,
} from './lab/machines.mjs';
import { bridgeIsUp, ensureBridge, ensureFirewall, removeBridge, removeFirewall } from './lab/network.mjs';
import { LabError, canConnect, fail, removeTree, say, secondsSince } from './lab/processes.mjs';

const USAGE = `usage: npx zx scripts/lab.mjs up [--release trixie|bookworm] [--nginx N] [--prometheus N] [--victoriametrics] | status | replace NAME... | down [--purge]
  up        make the lab (or complete it): hosts prom1[, prom2 ...], web1[, web2 ...] [and vm1] on bridge ${BRIDGE}, set up like
            Debian cloud VMs (user ${SSH_USER} with sudo, no root login, logrotate and cron)
            --release: the hosts' Debian, trixie (13, default for a new lab) or bookworm (12); a lab of
                       another release is remade
            --nginx N: N nginx hosts (default: as many as the lab has, 1 for a new lab)
            --prometheus N: N Prometheus hosts, each scraping its share of the targets (default: as the lab
                       has, 1 for a new lab)
            --victoriametrics: also vm1, the global view every Prometheus writes to; --no-victoriametrics
                       drops it (default: as the lab has, none for a new lab)
  status    one line per host (with the catalogue's units once the stand is provisioned), the bridge and the apt
            proxy; exit code 0 only if the whole lab is up
  replace   these hosts lose their disk: each is removed and made anew, fresh, at its address (a replaced VM);
            site.yml provisions it again, restore.yml (docs/backup.md) brings its data back
  down      stop and remove everything up made; keeps the caches unless --purge
environment: AV_LAB_DIR (state, default /var/lib/av-lab), AV_LAB_CACHE (caches, default /var/cache/av-lab);
             up marks both as its own, and down removes nothing it did not mark`;
const TOOLS = [
  'systemd-nspawn',
  'mmdebstrap',
  'apt-cacher-ng',
  'ip',
  'nft',
  'ssh',
  'ssh-keygen',
  'systemctl',
  'chroot',
  'useradd',
];

$.quiet = true; // the lab prints its own progress; a command's output shows up in the error when it fails

// zx's spinner redraws ten times a second; only worth it on a terminal, not in a CI log
const withProgress = (title, work) => (process.stderr.isTTY && !process.env.CI ? spinner(title, work) : work());

async function up() {
  const started = Date.now();
  const missing = TOOLS.filter((tool) => !which.sync(tool, { nothrow: true }));
  if (missing.length > 0) fail(`${missing.join(', ')} not found: run bash scripts/prereqs.sh`);
  const hosts = planHosts(requestedShape());
  const sources = thisMachinesDebianSources();
  claimDirectory(STATE, 'AV_LAB_DIR');
  claimDirectory(CACHE, 'AV_LAB_CACHE');
  for (const dir of [paths.machines, paths.run, paths.logs]) fs.mkdirSync(dir, { recursive: true });
  await ensureLabKey();
  await ensureBridge();
  await ensureFirewall();
  await ensureAptProxy(sources);
  await ensureBaseRoot(hosts[0].release, sources, withProgress);
  const wanted = new Set(hosts.map((h) => h.name));
  for (const name of recordedHostNames().filter((n) => !wanted.has(n))) await removeHost(name);
  writeLabFile(hosts); // before booting, so that `status` knows the hosts even if a step below fails
  await Promise.all(hosts.map((host) => ensureHostRoot(host, hosts, sources)));
  await writeKnownHosts(hosts);
  await Promise.all(hosts.map(async (host) => waitForSsh(host, await ensureBooted(host))));
  writeInventory(hosts);
  say(
    `up in ${secondsSince(started)}, ${RELEASE_NAMES[hosts[0].release]} (${hosts[0].release}): ${hosts.map((h) => `${h.name} ${h.address}`).join(', ')}`,
  );
  say(`inventory: ${path.relative(process.cwd(), `${INVENTORY}/hosts.yml`)} (ssh as ${SSH_USER}, become with sudo)`);
}

/** The release and the hosts of each group: from the flags, else as the lab is, else the defaults. */
function requestedShape() {
  const lab = readLabFile();
  const inLab = (group) => lab?.hosts.filter((host) => host.group === group).length ?? 0;
  const release = argv.release ?? lab?.hosts[0]?.release ?? DEFAULT_RELEASE;
  if (!RELEASES.includes(release))
    fail(`--release takes ${RELEASES.join(' or ')}, got ${JSON.stringify(argv.release)}`);
  const count = (flag, max) => {
    const n = argv[flag] ?? (inLab(flag) || 1);
    if (!Number.isInteger(n) || n < 1 || n > max)
      fail(`--${flag} takes a whole number from 1 to ${max}, got ${JSON.stringify(argv[flag])}`);
    return n;
  };
  const victoriametrics = argv.victoriametrics ?? inLab('victoriametrics') > 0;
  if (typeof victoriametrics !== 'boolean')
    fail(`--victoriametrics takes no value, got ${JSON.stringify(argv.victoriametrics)}`);
  return {
    release,
    nginx: count('nginx', MAX_NGINX_HOSTS),
    prometheus: count('prometheus', MAX_PROMETHEUS_HOSTS),
    victoriametrics,
  };
}

async function ensureLabKey() {
  if (fs.existsSync(paths.key)) return;
  fs.mkdirSync(path.dirname(paths.key), { recursive: true, mode: 0o700 });
  await $`ssh-keygen -q -t ed25519 -N ${''} -C ${'av-lab'} -f ${paths.key}`;
  say(`made the lab's SSH key ${paths.key}`);
}

function writeLabFile(hosts) {
  fs.writeFileSync(paths.labFile, `${JSON.stringify(labDescription(hosts), null, 2)}\n`);
}

async function status() {
  const lab = readLabFile();
  const services = standServicesByHost();
  const checks = await Promise.all((lab?.hosts ?? []).map((host) => hostStatus(host, services[host.name] ?? [])));
  for (const check of checks) echo(check.line);
  const bridgeUp = await bridgeIsUp();
  echo(statusLine('bridge', BRIDGE, paint(bridgeUp, bridgeUp ? `up, ${BRIDGE_ADDRESS}/24` : 'missing')));
  const proxy = await proxyIsAnswering();
  const proxyState = proxy.answering
    ? `running (pid ${proxy.pid}), ${PROXY_URL}`
    : proxy.pid
      ? `pid ${proxy.pid}, not answering`
      : 'not running';
  echo(statusLine('apt proxy', 'apt-cacher-ng', paint(proxy.answering, proxyState)));
  if (!lab) say(`no lab recorded in ${STATE}`);
  return Boolean(lab) && checks.every((c) => c.ok) && bridgeUp && proxy.answering;
}

async function hostStatus(host, services) {
  const pid = hostPid(host.name);
  const ssh = Boolean(pid) && (await canConnect(host.address, 22)) && (await sshAsUser(host.address, ['true'])).ok;
  const running = paint(pid, (pid ? `running (pid ${pid})` : 'not running').padEnd(22));
  const line = statusLine(
    host.name,
    host.address,
    host.release ?? '',
    running,
    paint(ssh, (ssh ? 'ssh ok' : 'ssh unreachable').padEnd(16)),
  );
  return { ok: ssh, line: ssh && services.length > 0 ? `${line} ${await standUnitsLine(host, services)}` : line };
}

/** { host name: [service] } from the lab's inventory and the catalogue; empty before the inventory exists. */
function standServicesByHost() {
  try {
    const inventory = readInventory(`${INVENTORY}/hosts.yml`);
    return Object.fromEntries(everyHost(inventory).map((host) => [host.name, host.services]));
  } catch {
    return {};
  }
}

/** The catalogue's units on a host, as systemd sees them: "stand 6/6 active", or which are not (not provisioned yet, failed). */
async function standUnitsLine(host, services) {
  const units = services.map((service) => service.unit);
  const states = (await sshAsUser(host.address, ['systemctl', 'is-active', ...units])).stdout.trim().split('\n');
  const down = units.filter((unit, i) => states[i] !== 'active');
  if (down.length === units.length) return chalk.yellow('stand not provisioned');
  return paint(
    down.length === 0,
    down.length === 0
      ? `stand ${units.length}/${units.length} active`
      : `not active: ${down.map((u) => `${u} (${states[units.indexOf(u)] ?? '?'})`).join(', ')}`,
  );
}

const statusLine = (name, address, ...states) => [name.padEnd(10), address.padEnd(14), ...states].join(' ');
const paint = (good, text) => (good ? chalk.green(text) : chalk.red(text));

async function down() {
  const started = Date.now();
  const ownState = ownedDirectory(STATE, 'AV_LAB_DIR');
  const ownCache = argv.purge && ownedDirectory(CACHE, 'AV_LAB_CACHE');
  if (ownState) {
    await Promise.all(recordedHostNames().map(removeHost));
    removeNspawnRunDirs();
    await stopAptProxy();
  }
  await removeBridge();
  await removeFirewall();
  removeInventory();
  if (ownState) await removeTree(STATE);
  if (ownCache) {
    await removeTree(CACHE);
    say(`purged ${CACHE}`);
  }
  say(`down in ${secondsSince(started)}`);
}

/** Hosts whose disk is lost: removed, then made anew from the cached root by `up`, the lab's shape kept. */
async function replace() {
  const names = argv._.slice(1).map(String);
  const known = recordedHostNames();
  if (names.length === 0) fail(`replace takes the names of the lab's hosts: ${known.join(', ') || 'it has none'}`);
  const unknown = names.filter((name) => !known.includes(name));
  if (unknown.length > 0) fail(`${unknown.join(', ')}: not a host of the lab, which has ${known.join(', ') || 'none'}`);
  for (const name of names) await removeHost(name);
  await up();
}

const commands = { up, status, replace, down };
const command = argv._[0];
if (argv.help || argv.h) {
  echo(USAGE);
  process.exit(0);
}
if (!commands[command]) {
  console.error(USAGE);
  process.exit(2);
}
process.env.PATH = [process.env.PATH, '/usr/sbin', '/sbin'].filter(Boolean).join(':'); // root's tools, even via sudo
try {
  // Only the lab needs root; site.yml, load.mjs and bench:stand against hosts that exist do not.
  if (process.getuid() !== 0)
    fail(
      `needs root (the lab's systemd-nspawn machines, its bridge, mmdebstrap and its SSH key are root's): run sudo npx zx scripts/lab.mjs ${command}`,
    );
  const ok = await commands[command]();
  process.exitCode = ok === false ? 1 : 0;
} catch (error) {
  const message = error instanceof LabError ? error.message : error.stderr?.trim() || error.message;
  console.error(chalk.red(`lab: ${command}: ${message}`));
  process.exitCode = 1;
}
