#!/usr/bin/env zx
// The local lab: a Prometheus host and nginx host(s) as systemd-nspawn machines on a private bridge, each booted
// with its own systemd from one cached Debian 12 root, ready for the playbook.
//
//   npx zx scripts/lab.mjs up [--nginx N]   make the lab, or complete it: prometheus + N nginx hosts (default: 1,
//                                           or as many as the lab already has)
//   npx zx scripts/lab.mjs status           one line per host, the bridge, the apt proxy; exit 0 only if all is up
//   npx zx scripts/lab.mjs down [--purge]   remove everything `up` made; --purge also drops both caches
//
// Run as root, after `bash scripts/prereqs.sh`. Environment:
//   AV_LAB_DIR    state, removed by `down`: host roots, pids, logs, the lab's SSH key   (default /var/lib/av-lab)
//   AV_LAB_CACHE  kept by `down`: the debootstrapped root, apt-cacher-ng's packages    (default /var/cache/av-lab)
//
// Network: bridge avlab0 10.77.0.1/24; prometheus .10, nginx .11, nginx2 .12, ... The hosts have no route out:
// their apt goes through apt-cacher-ng on 10.77.0.1:3142, which fetches only from this machine's Debian mirror.
// Writes inventory/lab/hosts.yml (Ansible) and inventory/lab/lab.json (names and addresses).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Document } from 'yaml';
import { $, argv, chalk, echo, fs, glob, path, retry, sleep, spinner, which } from 'zx';

const USAGE = `usage: npx zx scripts/lab.mjs up [--nginx N] | status | down [--purge]
  up        make the lab (or complete it): hosts prometheus, nginx[, nginx2 ...] on bridge avlab0
            --nginx N: N nginx hosts (default: as many as the lab has, 1 for a new lab)
  status    one line per host, the bridge and the apt proxy; exit code 0 only if the whole lab is up
  down      stop and remove everything up made; keeps the caches unless --purge
environment: AV_LAB_DIR (state, default /var/lib/av-lab), AV_LAB_CACHE (caches, default /var/cache/av-lab)`;

const SUITE = 'bookworm';
const BASE_PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'openssh-server', 'python3', 'iproute2', 'ca-certificates'];
const BRIDGE = 'avlab0';
const BRIDGE_ADDRESS = '10.77.0.1';
const PROXY_PORT = 3142;
const PROXY_URL = `http://${BRIDGE_ADDRESS}:${PROXY_PORT}`;
const PROXY_USER = 'apt-cacher-ng';
const FIREWALL_TABLE = 'av_lab';
const MAX_NGINX_HOSTS = 20;
const SSH_TIMEOUT_S = 120;
const STOP_TIMEOUT_S = 30;
const TOOLS = ['systemd-nspawn', 'debootstrap', 'apt-cacher-ng', 'ip', 'nft', 'ssh', 'ssh-keygen', 'systemctl'];

$.quiet = true; // the lab prints its own progress; a command's output shows up in the error when it fails

const STATE = path.resolve(process.env.AV_LAB_DIR || '/var/lib/av-lab');
const CACHE = path.resolve(process.env.AV_LAB_CACHE || '/var/cache/av-lab');
const INVENTORY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../inventory/lab');

const paths = {
  baseRoot: `${CACHE}/debian-${SUITE}`,
  debootstrapLog: `${CACHE}/debootstrap.log`,
  packageCache: `${CACHE}/apt-cacher-ng`,
  machines: `${STATE}/machines`,
  run: `${STATE}/run`,
  logs: `${STATE}/logs`,
  proxyConfig: `${STATE}/apt-cacher-ng`,
  proxySocketDir: `${STATE}/run/apt-cacher-ng`,
  proxyLogs: `${STATE}/logs/apt-cacher-ng`,
  proxyPid: `${STATE}/run/apt-cacher-ng.pid`,
  key: `${STATE}/ssh/id_ed25519`,
  knownHosts: `${STATE}/ssh/known_hosts`,
  labFile: `${STATE}/lab.json`,
};
const hostRoot = (name) => `${paths.machines}/${name}`;
const madeMarker = (name) => `${paths.machines}/${name}.made`;
const hostPidFile = (name) => `${paths.run}/${name}.pid`;
const consoleLog = (name) => `${paths.logs}/${name}.console.log`;

class LabError extends Error {}
const fail = (message) => {
  throw new LabError(message);
};
const say = (message) => echo(`lab: ${message}`);
const secondsSince = (started) => `${((Date.now() - started) / 1000).toFixed(1)} s`;
// zx's spinner redraws ten times a second; only worth it on a terminal, not in a CI log
const withSpinner = (title, work) => (process.stderr.isTTY && !process.env.CI ? spinner(title, work) : work());

// ---- commands

async function up() {
  const started = Date.now();
  requireTools();
  const hosts = planHosts(nginxCount());
  const sources = debianSources();
  await prepareStateDirs();
  await ensureLabKey();
  await ensureBridge();
  await ensureFirewall();
  await ensureAptProxy(sources);
  await ensureBaseRoot(sources);
  await removeHostsOtherThan(hosts);
  await writeLabFile(hosts); // before booting, so that `status` knows the hosts even if a step below fails
  await Promise.all(hosts.map((host) => ensureHostRoot(host, hosts, sources)));
  await writeKnownHosts(hosts);
  await Promise.all(hosts.map(async (host) => waitForSsh(host, await ensureBooted(host))));
  await writeInventory(hosts);
  say(`up in ${secondsSince(started)}: ${hosts.map((h) => `${h.name} ${h.address}`).join(', ')}`);
  say(`inventory: ${path.relative(process.cwd(), `${INVENTORY}/hosts.yml`)}`);
}

async function status() {
  const lab = readLabFile();
  const checks = await Promise.all((lab?.hosts ?? []).map(hostStatus));
  for (const check of checks) echo(check.line);
  const bridge = await bridgeStatus();
  const proxy = await proxyStatus();
  echo(bridge.line);
  echo(proxy.line);
  if (!lab) say(`no lab recorded in ${STATE}`);
  return Boolean(lab) && checks.every((c) => c.ok) && bridge.ok && proxy.ok;
}

async function down() {
  const started = Date.now();
  await Promise.all(recordedHostNames().map(removeHost));
  await removeNspawnRunDirs();
  await stopAptProxy();
  await removeBridge();
  await removeFirewall();
  await removeInventory();
  await removeTree(STATE);
  if (argv.purge) {
    await removeTree(CACHE);
    say(`purged ${CACHE}`);
  }
  say(`down in ${secondsSince(started)}`);
}

// ---- preflight

function requireRoot() {
  if (process.getuid() !== 0) fail('run as root: systemd-nspawn, the bridge and debootstrap need it');
}

function requireTools() {
  const missing = TOOLS.filter((tool) => !which.sync(tool, { nothrow: true }));
  if (missing.length > 0) fail(`${missing.join(', ')} not found: run bash scripts/prereqs.sh`);
}

function nginxCount() {
  const inLab = readLabFile()?.hosts.filter((host) => host.group === 'nginx').length;
  const count = argv.nginx ?? (inLab || 1);
  if (!Number.isInteger(count) || count < 1 || count > MAX_NGINX_HOSTS) {
    fail(`--nginx takes a whole number from 1 to ${MAX_NGINX_HOSTS}, got ${JSON.stringify(argv.nginx)}`);
  }
  return count;
}

/** prometheus at .10, then nginx, nginx2, nginx3 ... from .11 */
function planHosts(nginxHosts) {
  const nginx = Array.from({ length: nginxHosts }, (_, i) => ({
    name: i === 0 ? 'nginx' : `nginx${i + 1}`,
    group: 'nginx',
    address: `10.77.0.${11 + i}`,
  }));
  return [{ name: 'prometheus', group: 'prometheus', address: '10.77.0.10' }, ...nginx];
}

// ---- this machine's mirror

/** The Debian archive (and security archive) this machine's own apt uses: the only place the lab fetches from. */
function debianSources() {
  const codename = readOsRelease().VERSION_CODENAME;
  const entries = aptSourceEntries().filter((e) => e.types.includes('deb') && /^https?:\/\//.test(e.uri));
  const archive = entries.find((e) => e.suites.includes(codename));
  if (!archive) fail(`no Debian mirror for ${codename} in /etc/apt/sources.list or /etc/apt/sources.list.d/`);
  const security = entries.find((e) => e.suites.includes(`${codename}-security`));
  return { archive: repository(archive.uri), security: security && repository(security.uri) };
}

/** The forms of one repository URL that the lab needs: for apt-cacher-ng and for clients of the proxy. */
function repository(uri) {
  const url = new URL(uri);
  const pathname = url.pathname.replace(/\/+$/, '');
  return {
    backend: `${url.origin}${pathname}/`, // apt-cacher-ng fetches from here, https or not
    prefix: `${url.host}${pathname}`, // the requests it accepts for that backend
    viaProxy: `http://${url.host}${pathname}`, // what the hosts and debootstrap ask the proxy for
  };
}

function readOsRelease() {
  const text = fs.readFileSync('/etc/os-release', 'utf8');
  return Object.fromEntries(text.split('\n').filter((l) => l.includes('=')).map((l) => {
    const [key, ...value] = l.split('=');
    return [key, value.join('=').replace(/^"|"$/g, '')];
  }));
}

function aptSourceEntries() {
  const oneLineFiles = ['/etc/apt/sources.list', ...glob.sync('/etc/apt/sources.list.d/*.list')];
  const deb822Files = glob.sync('/etc/apt/sources.list.d/*.sources');
  return [
    ...oneLineFiles.flatMap((file) => parseOneLineSources(readText(file))),
    ...deb822Files.flatMap((file) => parseDeb822Sources(readText(file))),
  ];
}

function parseOneLineSources(text) {
  return text.split('\n')
    .map((line) => line.replace(/#.*/, '').replace(/\[[^\]]*\]/, '').trim())
    .filter(Boolean)
    .map((line) => {
      const [type, uri, suite] = line.split(/\s+/);
      return { types: [type], uri, suites: [suite] };
    });
}

function parseDeb822Sources(text) {
  return text.split(/\n\s*\n/).flatMap((stanza) => {
    const fields = {};
    let key;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      const field = line.match(/^([\w-]+):\s*(.*)$/);
      if (field) {
        key = field[1].toLowerCase();
        fields[key] = field[2];
      } else if (key && /^\s/.test(line)) {
        fields[key] += ` ${line.trim()}`; // a continuation line
      }
    }
    if (fields.enabled?.toLowerCase() === 'no') return [];
    const words = (name) => (fields[name] ?? '').split(/\s+/).filter(Boolean);
    return words('uris').map((uri) => ({ types: words('types'), uri, suites: words('suites') }));
  });
}

// ---- lab pieces

async function prepareStateDirs() {
  for (const dir of [paths.machines, paths.run, paths.logs, CACHE]) await fs.ensureDir(dir);
  await fs.ensureDir(path.dirname(paths.key), 0o700);
}

async function ensureLabKey() {
  if (await fs.pathExists(paths.key)) return;
  await $`ssh-keygen -q -t ed25519 -N ${''} -C ${'av-lab'} -f ${paths.key}`;
  say(`made the lab's SSH key ${paths.key}`);
}

async function ensureBridge() {
  if (!(await linkExists(BRIDGE))) {
    await $`ip link add ${BRIDGE} type bridge`;
    await disableIpv6(BRIDGE);
    say(`made bridge ${BRIDGE}`);
  }
  if (!(await bridgeAddresses()).includes(BRIDGE_ADDRESS)) await $`ip addr add ${BRIDGE_ADDRESS}/24 dev ${BRIDGE}`;
  await $`ip link set ${BRIDGE} up`;
}

// IPv4 only on the lab's segment: no link-local IPv6 chatter from this machine's side of it
async function disableIpv6(link) {
  await fs.writeFile(`/proc/sys/net/ipv6/conf/${link}/disable_ipv6`, '1').catch(() => {});
}

async function linkExists(name) {
  return (await $`ip link show dev ${name}`.nothrow()).ok;
}

async function bridgeAddresses() {
  const { stdout } = await $`ip -j -4 addr show dev ${BRIDGE}`.nothrow();
  return (JSON.parse(stdout || '[]')[0]?.addr_info ?? []).map((a) => a.local);
}

// Forwarding is off on this machine today; this keeps the lab's traffic on the bridge even if someone turns it on.
const FIREWALL = `table inet ${FIREWALL_TABLE} {
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "${BRIDGE}" oifname != "${BRIDGE}" drop
    oifname "${BRIDGE}" iifname != "${BRIDGE}" drop
  }
}
`;

async function ensureFirewall() {
  if (await firewallExists()) return;
  await $({ input: FIREWALL })`nft -f -`;
}

async function firewallExists() {
  return (await $`nft list table inet ${FIREWALL_TABLE}`.nothrow()).ok;
}

async function removeFirewall() {
  if (await firewallExists()) await $`nft delete table inet ${FIREWALL_TABLE}`;
}

async function removeBridge() {
  if (await linkExists(BRIDGE)) await $`ip link delete ${BRIDGE}`;
}

// ---- apt proxy

async function ensureAptProxy(sources) {
  const running = proxyPid();
  if (running) return say(`apt proxy: running (pid ${running})`);
  await writeProxyConfig(sources);
  // as Debian's own unit runs it: a daemon listening on the network, without root
  const { uid, gid } = await userIds(PROXY_USER);
  for (const dir of [paths.packageCache, paths.proxyLogs, paths.proxySocketDir]) {
    await fs.ensureDir(dir);
    await $`chown -R ${uid}:${gid} ${dir}`;
  }
  const pid = startDetached('apt-cacher-ng', ['-c', paths.proxyConfig], {
    pidFile: paths.proxyPid,
    logFile: `${paths.proxyLogs}/console.log`,
    uid,
    gid,
  });
  const answering = await waitUntil(() => !proxyPid() || canConnect(BRIDGE_ADDRESS, PROXY_PORT), 15_000);
  if (!answering || !proxyPid()) {
    fail(`apt-cacher-ng (pid ${pid}) is not listening on ${BRIDGE_ADDRESS}:${PROXY_PORT}; see ${paths.proxyLogs}/`);
  }
  say(`apt proxy: started apt-cacher-ng on ${PROXY_URL} (pid ${pid}), fetching from ${sources.archive.backend}`);
}

async function writeProxyConfig({ archive, security }) {
  const remaps = [`Remap-debrep: ${archive.prefix} ; file:backends_debian`];
  if (security) remaps.push(`Remap-secdeb: ${security.prefix} ; file:backends_debian_security`);
  const config = `# Written by scripts/lab.mjs: the lab hosts' only way to Debian.
CacheDir: ${paths.packageCache}
LogDir: ${paths.proxyLogs}
SupportDir: /usr/lib/apt-cacher-ng
SocketPath: ${paths.proxySocketDir}/socket
BindAddress: ${BRIDGE_ADDRESS}
Port: ${PROXY_PORT}
ForeGround: 1
${remaps.join('\n')}
# only the remapped Debian repositories above; no other URL, no CONNECT tunnels
ForceManaged: 1
PassThroughPattern: ^$
ForwardBtsSoap: 0
ExThreshold: 4
`;
  await fs.outputFile(`${paths.proxyConfig}/acng.conf`, config);
  await fs.outputFile(`${paths.proxyConfig}/backends_debian`, `${archive.backend}\n`);
  if (security) await fs.outputFile(`${paths.proxyConfig}/backends_debian_security`, `${security.backend}\n`);
}

function proxyPid() {
  return runningPid(paths.proxyPid, paths.proxyConfig);
}

async function stopAptProxy() {
  const pid = proxyPid();
  if (pid) await stopProcess(pid, 'apt-cacher-ng', () => proxyPid());
}

async function userIds(user) {
  const [uid, gid] = await Promise.all([$`id -u ${user}`, $`id -g ${user}`]);
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

// ---- Debian root

async function ensureBaseRoot(sources) {
  if (await fs.pathExists(paths.baseRoot)) return;
  const partial = `${paths.baseRoot}.partial`; // renamed only when complete, so an interrupted run starts over
  await removeTree(partial);
  const started = Date.now();
  say(`debootstrap: making the Debian 12 root, once, into ${paths.baseRoot} (about a minute)`);
  const flags = ['--variant=minbase', `--include=${BASE_PACKAGES.join(',')}`];
  const viaProxy = $({ env: { ...process.env, http_proxy: PROXY_URL }, nothrow: true });
  const result = await withSpinner('debootstrap', () =>
    viaProxy`debootstrap ${flags} ${SUITE} ${partial} ${sources.archive.viaProxy}`);
  await fs.writeFile(paths.debootstrapLog, result.stdall);
  if (!result.ok) {
    await removeTree(partial);
    fail(`debootstrap failed (exit code ${result.exitCode}), log ${paths.debootstrapLog}:\n${tail(result.stdall)}`);
  }
  await fs.move(partial, paths.baseRoot);
  say(`debootstrap: done in ${secondsSince(started)}`);
}

// ---- hosts

async function ensureHostRoot(host, hosts, sources) {
  const root = hostRoot(host.name);
  if ((await fs.pathExists(madeMarker(host.name))) && (await fs.pathExists(root))) {
    await writeIfChanged(`${root}/etc/hosts`, hostsFile(hosts)); // the lab may have grown or shrunk
    return;
  }
  const started = Date.now();
  await stopHost(host.name);
  await removeHostRoot(host.name); // a copy an interrupted run left half made
  await $`cp -a --reflink=auto ${paths.baseRoot} ${root}`;
  await configureHost(root, host, hosts, sources);
  await fs.writeFile(madeMarker(host.name), '');
  say(`${host.name}: made ${root} in ${secondsSince(started)}`);
}

async function configureHost(root, host, hosts, sources) {
  await fs.outputFile(`${root}/etc/hostname`, `${host.name}\n`);
  await fs.outputFile(`${root}/etc/machine-id`, `${randomBytes(16).toString('hex')}\n`); // unique per copy
  await fs.outputFile(`${root}/etc/hosts`, hostsFile(hosts));
  await fs.outputFile(`${root}/etc/resolv.conf`, '# No DNS in the lab: its names are in /etc/hosts.\n');
  await fs.outputFile(`${root}/etc/systemd/network/10-host0.network`, networkFile(host));
  await $`systemctl --root=${root} --quiet enable systemd-networkd.service`;
  await fs.outputFile(`${root}/etc/apt/apt.conf.d/01av-lab-proxy`, `Acquire::http::Proxy "${PROXY_URL}";\n`);
  await fs.outputFile(`${root}/etc/apt/sources.list.d/debian.sources`, aptSourcesFile(sources));
  await fs.remove(`${root}/etc/apt/sources.list`);
  await fs.outputFile(`${root}/root/.ssh/authorized_keys`, await fs.readFile(`${paths.key}.pub`), { mode: 0o600 });
  await fs.chmod(`${root}/root/.ssh`, 0o700);
  await makeSshHostKeys(root);
}

function hostsFile(hosts) {
  const lab = hosts.map((h) => `${h.address}\t${h.name}`);
  return ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', '# the lab', ...lab, ''].join('\n');
}

// No gateway and no DNS: the hosts reach the lab's segment and nothing else.
function networkFile(host) {
  return `[Match]
Name=host0

[Network]
Address=${host.address}/24
LinkLocalAddressing=no
IPv6AcceptRA=no
LLMNR=no
MulticastDNS=no
`;
}

function aptSourcesFile({ archive, security }) {
  const stanza = (uri, suites) => `Types: deb
URIs: ${uri}
Suites: ${suites}
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;
  const stanzas = [stanza(archive.viaProxy, `${SUITE} ${SUITE}-updates`)];
  if (security) stanzas.push(stanza(security.viaProxy, `${SUITE}-security`));
  return stanzas.join('\n');
}

// Every copy of the cached root would otherwise share the host keys debootstrap made.
async function makeSshHostKeys(root) {
  for (const file of await glob(`${root}/etc/ssh/ssh_host_*`)) await fs.remove(file);
  await $`ssh-keygen -A -f ${root}`;
}

/** Boots the host unless it is running; resolves to when it was started (or null if it already ran). */
async function ensureBooted(host) {
  const running = hostPid(host.name);
  if (running) {
    say(`${host.name}: running (pid ${running})`);
    return null;
  }
  await stopOrphanedContainer(host.name);
  const log = consoleLog(host.name);
  fs.appendFileSync(log, `\n--- ${new Date().toISOString()} lab.mjs: booting ${host.name}\n`);
  const flags = [
    `--directory=${hostRoot(host.name)}`,
    `--machine=${host.name}`,
    '--boot',
    // no systemd or machined on this machine to register with or to make a scope unit
    '--register=no',
    '--keep-unit',
    `--network-bridge=${BRIDGE}`,
    '--console=read-only',
  ];
  const pid = startDetached('systemd-nspawn', flags, { pidFile: hostPidFile(host.name), logFile: log });
  say(`${host.name}: booting (pid ${pid}, console log ${log})`);
  return Date.now();
}

function hostPid(name) {
  return runningPid(hostPidFile(name), `--directory=${hostRoot(name)}`);
}

async function stopHost(name) {
  const pid = hostPid(name);
  if (pid) {
    // SIGTERM makes nspawn power the host off; if that hangs, killing the host's systemd first lets nspawn clean up
    const [init] = readText(`/proc/${pid}/task/${pid}/children`).split(' ').filter(Boolean).map(Number);
    await stopProcess(pid, name, () => hostPid(name), { killInTurn: [init, pid].filter(Boolean) });
  }
  await stopOrphanedContainer(name);
}

// A systemd-nspawn that dies by SIGKILL leaves its container running, a child of PID 1, with its vb- link in place;
// a new nspawn then fails with "Failed to add new veth interfaces ... File exists".
async function stopOrphanedContainer(name) {
  const init = containerInit(name);
  if (!init) return;
  say(`${name}: its systemd-nspawn is gone but the container runs on (init pid ${init}); killing it`);
  signal(init, 'SIGKILL'); // a namespace's init ignores other signals from outside; this ends the whole namespace
  await waitUntil(() => !containerInit(name) && !isZombie(init), 10_000);
  await waitUntil(async () => !(await linkExists(`vb-${name}`)), 10_000);
}

/** The host's systemd as seen from here: the init of a PID namespace whose root directory is the host's root. */
function containerInit(name) {
  const root = statOrNull(hostRoot(name));
  if (!root) return null;
  const isInit = (pid) => {
    const namespacePids = readText(`/proc/${pid}/status`).match(/^NSpid:\s+(.*)$/m)?.[1].split(/\s+/) ?? [];
    return namespacePids.length > 1 && namespacePids.at(-1) === '1';
  };
  const inRoot = (pid) => {
    const processRoot = statOrNull(`/proc/${pid}/root`);
    return processRoot?.dev === root.dev && processRoot?.ino === root.ino;
  };
  const pids = fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).map(Number);
  return pids.find((pid) => isInit(pid) && inRoot(pid)) ?? null;
}

async function waitForSsh(host, bootedAt) {
  const started = bootedAt ?? Date.now();
  const log = consoleLog(host.name);
  const listening = await waitUntil(() => !hostPid(host.name) || canConnect(host.address, 22), SSH_TIMEOUT_S * 1000);
  if (!hostPid(host.name)) fail(`${host.name}: systemd-nspawn exited; console log ${log}:\n${lastBootOf(log)}`);
  if (!listening) fail(`${host.name} (${host.address}): no SSH after ${SSH_TIMEOUT_S} s; see its console log ${log}`);
  try {
    await retry(5, '1s', () => sshTrue(host.address, { nothrow: false }));
  } catch (error) {
    const why = error.stderr?.trim() || `exit code ${error.exitCode}`;
    fail(`${host.name} (${host.address}): port 22 is open but ssh fails (${why}); see ${log}`);
  }
  if (bootedAt) say(`${host.name}: SSH up ${secondsSince(started)} after boot`);
  await disableIpv6(`vb-${host.name}`);
}

function sshTrue(address, { nothrow = true } = {}) {
  const options = [`UserKnownHostsFile=${paths.knownHosts}`, 'StrictHostKeyChecking=yes', 'BatchMode=yes'];
  const flags = ['-F', 'none', '-i', paths.key, ...[...options, 'ConnectTimeout=5'].flatMap((o) => ['-o', o])];
  return $({ nothrow })`ssh ${flags} root@${address} true`;
}

// Written from the keys configureHost made, so ssh and Ansible can check host keys strictly from the first contact.
async function writeKnownHosts(hosts) {
  const lines = await Promise.all(hosts.map(async (host) => {
    const publicKey = await fs.readFile(`${hostRoot(host.name)}/etc/ssh/ssh_host_ed25519_key.pub`, 'utf8');
    const [type, key] = publicKey.split(' ');
    return `${host.address},${host.name} ${type} ${key}`;
  }));
  await fs.outputFile(paths.knownHosts, `${lines.join('\n')}\n`);
}

async function removeHostsOtherThan(hosts) {
  const wanted = new Set(hosts.map((h) => h.name));
  for (const name of recordedHostNames().filter((n) => !wanted.has(n))) await removeHost(name);
}

function recordedHostNames() {
  const names = (dir, pattern) =>
    (fs.existsSync(dir) ? fs.readdirSync(dir) : []).map((file) => file.match(pattern)?.[1]).filter(Boolean);
  const pids = names(paths.run, /^(.+)\.pid$/).filter((n) => n !== 'apt-cacher-ng');
  return [...new Set([...pids, ...names(paths.machines, /^([^.]+)$/)])];
}

async function removeHost(name) {
  await stopHost(name);
  await fs.remove(madeMarker(name));
  await removeHostRoot(name);
  await fs.remove(hostPidFile(name));
  say(`${name}: removed`);
}

// systemd-nspawn locks a root with a file beside it, and one in /run named for its inode that stays behind
// when nspawn does not exit cleanly.
async function removeHostRoot(name) {
  const root = statOrNull(hostRoot(name));
  if (root) await fs.remove(`/run/systemd/nspawn/locks/inode-${root.dev}:${root.ino}`);
  await fs.remove(`${paths.machines}/.#${name}.lck`);
  await removeTree(hostRoot(name));
}

// systemd-nspawn leaves its lock and propagation directories behind, empty; rmdir leaves them if anything is inside.
async function removeNspawnRunDirs() {
  for (const dir of ['/run/systemd/nspawn/propagate', '/run/systemd/nspawn/locks', '/run/systemd/nspawn']) {
    await fs.rmdir(dir).catch(() => {});
  }
}

// ---- outputs

function labDescription(hosts) {
  return {
    bridge: { name: BRIDGE, address: `${BRIDGE_ADDRESS}/24` },
    aptProxy: PROXY_URL,
    sshKey: paths.key,
    knownHosts: paths.knownHosts,
    hosts,
  };
}

async function writeLabFile(hosts) {
  await fs.outputFile(paths.labFile, `${JSON.stringify(labDescription(hosts), null, 2)}\n`);
}

function readLabFile() {
  return fs.existsSync(paths.labFile) ? JSON.parse(fs.readFileSync(paths.labFile, 'utf8')) : null;
}

async function writeInventory(hosts) {
  const group = (name) =>
    Object.fromEntries(hosts.filter((h) => h.group === name).map((h) => [h.name, { ansible_host: h.address }]));
  const inventory = new Document({
    all: {
      vars: {
        ansible_user: 'root',
        ansible_ssh_private_key_file: paths.key,
        ansible_ssh_common_args: `-o UserKnownHostsFile=${paths.knownHosts} -o StrictHostKeyChecking=yes`,
        ansible_python_interpreter: '/usr/bin/python3',
      },
      children: { prometheus: { hosts: group('prometheus') }, nginx: { hosts: group('nginx') } },
    },
  });
  inventory.commentBefore = ' The local lab: written by `npx zx scripts/lab.mjs up`, removed by `down`. Do not edit.';
  await fs.outputFile(`${INVENTORY}/hosts.yml`, inventory.toString({ lineWidth: 0 }));
  await fs.outputFile(`${INVENTORY}/lab.json`, `${JSON.stringify(labDescription(hosts), null, 2)}\n`);
}

async function removeInventory() {
  for (const file of ['hosts.yml', 'lab.json']) await fs.remove(`${INVENTORY}/${file}`);
  for (const dir of [INVENTORY, path.dirname(INVENTORY)]) await fs.rmdir(dir).catch(() => {}); // only if empty
}

// ---- status

async function hostStatus(host) {
  const pid = hostPid(host.name);
  const ssh = Boolean(pid) && (await canConnect(host.address, 22)) && (await sshTrue(host.address)).ok;
  const running = paint(pid, (pid ? `running (pid ${pid})` : 'not running').padEnd(22));
  return { ok: ssh, line: statusLine(host.name, host.address, running, paint(ssh, ssh ? 'ssh ok' : 'ssh unreachable')) };
}

async function bridgeStatus() {
  const up = (await linkExists(BRIDGE)) && (await bridgeAddresses()).includes(BRIDGE_ADDRESS);
  return { ok: up, line: statusLine('bridge', BRIDGE, paint(up, up ? `up, ${BRIDGE_ADDRESS}/24` : 'missing')) };
}

async function proxyStatus() {
  const pid = proxyPid();
  const answering = Boolean(pid) && (await canConnect(BRIDGE_ADDRESS, PROXY_PORT));
  const state = answering ? `running (pid ${pid}), ${PROXY_URL}` : pid ? `pid ${pid}, not answering` : 'not running';
  return { ok: answering, line: statusLine('apt proxy', 'apt-cacher-ng', paint(answering, state)) };
}

const statusLine = (name, address, ...states) => [name.padEnd(14), address.padEnd(14), ...states].join(' ');
const paint = (good, text) => (good ? chalk.green(text) : chalk.red(text));

// ---- processes

// A daemon that outlives this script: its own session (setsid), output to a log file, its pid recorded.
function startDetached(command, args, { pidFile, logFile, ...options }) {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log], ...options });
  fs.closeSync(log);
  child.unref();
  if (!child.pid) fail(`could not start ${command}`);
  fs.writeFileSync(pidFile, `${child.pid}\n`);
  return child.pid;
}

/** The pid recorded in pidFile, if that process is still alive and one of its arguments is mark. */
function runningPid(pidFile, mark) {
  const pid = Number.parseInt(readText(pidFile), 10);
  if (!Number.isInteger(pid)) return null;
  const args = readText(`/proc/${pid}/cmdline`).split('\0');
  return args.includes(mark) ? pid : null; // not a recycled pid, nor a zombie
}

/**
 * SIGTERM, then after STOP_TIMEOUT_S SIGKILL to each of killInTurn until it is gone. isRunning re-reads the pid
 * file and checks the command line, so that a pid the kernel has given to another process is never signalled.
 */
async function stopProcess(pid, name, isRunning, { killInTurn = [pid] } = {}) {
  const started = Date.now();
  signal(pid, 'SIGTERM');
  if (!(await waitUntil(() => !isRunning(), STOP_TIMEOUT_S * 1000))) {
    for (const target of killInTurn) {
      if (!isRunning()) break;
      say(`${name}: still running ${secondsSince(started)} after SIGTERM; SIGKILL to pid ${target}`);
      signal(target, 'SIGKILL');
      await waitUntil(() => !isRunning(), 5_000);
    }
    if (isRunning()) fail(`${name} (pid ${pid}) survived SIGKILL`);
  }
  // it was started detached, so its parent is PID 1, which reaps it within a few seconds; `ps` lists it until then
  await waitUntil(() => !isZombie(pid), 10_000);
  say(`${name}: stopped (pid ${pid}) in ${secondsSince(started)}`);
}

function signal(pid, name) {
  try {
    process.kill(pid, name);
  } catch (error) {
    if (error.code !== 'ESRCH') throw error; // already gone is fine
  }
}

function isZombie(pid) {
  const stat = readText(`/proc/${pid}/stat`); // "pid (command) state ..."
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}

// ---- small tools

async function waitUntil(condition, timeoutMs, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await sleep(intervalMs);
  }
  return Boolean(await condition());
}

function canConnect(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function writeIfChanged(file, content) {
  if (readText(file) !== content) await fs.outputFile(file, content);
}

function statOrNull(file) {
  try {
    return fs.statSync(file);
  } catch {
    return null;
  }
}

function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

const lastBootOf = (log) => tail(readText(log).split('\n--- ').at(-1)); // ensureBooted starts each boot with ---
const tail = (text, lines = 15) => text.trimEnd().split('\n').slice(-lines).join('\n');

// `rm --one-file-system` will not follow a mount (a debootstrap cut short can leave /proc mounted inside its root).
async function removeTree(dir) {
  if (!path.isAbsolute(dir) || dir.split('/').filter(Boolean).length < 2) fail(`refusing to remove ${dir}`);
  await unmountUnder(dir);
  await $`rm -rf --one-file-system ${dir}`;
}

async function unmountUnder(dir) {
  const mountPoints = readText('/proc/self/mountinfo').split('\n').map((line) => line.split(' ')[4]);
  const under = mountPoints.filter((mountPoint) => mountPoint?.startsWith(`${dir}/`));
  for (const mountPoint of under.reverse()) await $`umount --lazy ${mountPoint}`.nothrow();
}

// ---- main

const commands = { up, status, down };
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
  requireRoot();
  const ok = await commands[command]();
  process.exitCode = ok === false ? 1 : 0;
} catch (error) {
  const message = error instanceof LabError ? error.message : error.stderr?.trim() || error.message;
  console.error(chalk.red(`lab: ${command}: ${message}`));
  process.exitCode = 1;
}
