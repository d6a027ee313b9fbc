// The lab's hosts: a cached root per Debian release (mmdebstrap), a copy of it per host set up like a cloud VM
// (a sudo user, root login off, its own keys and address), booted with systemd-nspawn and reached over SSH.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { $, glob } from 'zx';
import { BASE_PACKAGES, BRIDGE, PROXY_URL, RELEASE_NAMES, SSH_USER, paths } from './layout.mjs';
import { hostSourcesFile } from './apt-sources.mjs';
import { nspawnInOwnCgroup, removeHostCgroups } from './cgroups.mjs';
import { disableIpv6, linkExists } from './network.mjs';
import {
  canConnect,
  fail,
  isZombie,
  readText,
  removeTree,
  runningPid,
  say,
  secondsSince,
  signal,
  startDetached,
  statOrNull,
  stopProcess,
  tail,
  writeIfChanged,
} from './processes.mjs';
import { pollUntil } from '../lib/wait.mjs';

const SSH_TIMEOUT_S = 120;
const STILL_BOOTING = /System is booting up|pam_nologin/;
// OpenSSH 9.8 and later (Debian 13's 10.0) drop a source's connections for a while once it has failed to log
// in a few times (PerSourcePenalties): the client sees the connection closed before the key exchange.
const PENALISED = /kex_exchange_identification|Connection closed by remote host/;

/**
 * Runs mmdebstrap once per release, through the apt proxy; later `up`s copy the cached root. mmdebstrap rather
 * than debootstrap: apt fetches the packages side by side and installs them in one go (a Debian 13 root in 15 s
 * instead of 35 s from a warm proxy). The package lists are kept, as debootstrap kept them, so a host's apt knows
 * the archive before anything updates it; the downloaded packages are not.
 */
export async function ensureBaseRoot(release, sources, withProgress) {
  const root = paths.baseRoot(release);
  if (fs.existsSync(root)) return;
  const partial = `${root}.partial`; // renamed only when complete, so an interrupted run starts over
  await removeTree(partial);
  const started = Date.now();
  say(`mmdebstrap: making the ${RELEASE_NAMES[release]} (${release}) root, once, into ${root} (a minute or less)`);
  const flags = ['--variant=minbase', `--include=${BASE_PACKAGES.join(',')}`, '--skip=cleanup/apt/lists'];
  const viaProxy = $({ env: { ...process.env, http_proxy: PROXY_URL }, nothrow: true });
  const result = await withProgress(
    `mmdebstrap ${release}`,
    () => viaProxy`mmdebstrap ${flags} ${release} ${partial} ${sources.archive.viaProxy}`,
  );
  fs.writeFileSync(paths.rootLog(release), result.stdall);
  if (!result.ok) {
    await removeTree(partial);
    fail(
      `mmdebstrap ${release} failed (exit code ${result.exitCode}), log ${paths.rootLog(release)}:\n${tail(result.stdall)}`,
    );
  }
  fs.renameSync(partial, root);
  say(`mmdebstrap: ${release} done in ${secondsSince(started)}`);
}

/** The host's root, copied from its release's root unless it is already made from that release. */
export async function ensureHostRoot(host, hosts, sources) {
  const root = paths.hostRoot(host.name);
  if (readText(paths.madeMarker(host.name)) === host.release && fs.existsSync(root)) {
    await writeIfChanged(`${root}/etc/hosts`, hostsFile(hosts)); // the lab may have grown or shrunk
    return;
  }
  const started = Date.now();
  await stopHost(host.name);
  await removeHostRoot(host.name); // a copy an interrupted run left half made, or one of another release
  await $`cp -a --reflink=auto ${paths.baseRoot(host.release)} ${root}`;
  await configureHost(root, host, hosts, sources);
  fs.writeFileSync(paths.madeMarker(host.name), host.release);
  say(`${host.name}: made ${root} (${host.release}) in ${secondsSince(started)}`);
}

async function configureHost(root, host, hosts, sources) {
  const write = (file, content, mode) => {
    fs.mkdirSync(`${root}${file.slice(0, file.lastIndexOf('/'))}`, { recursive: true });
    fs.writeFileSync(`${root}${file}`, content, mode ? { mode } : undefined);
  };
  write('/etc/hostname', `${host.name}\n`);
  write('/etc/machine-id', `${randomBytes(16).toString('hex')}\n`); // unique per copy
  write('/etc/hosts', hostsFile(hosts));
  write('/etc/resolv.conf', '# No DNS in the lab: its names are in /etc/hosts.\n');
  write('/etc/systemd/network/10-host0.network', networkFile(host));
  await $`systemctl --root=${root} --quiet enable systemd-networkd.service`;
  write('/etc/apt/apt.conf.d/01av-lab-proxy', `Acquire::http::Proxy "${PROXY_URL}";\n`);
  write('/etc/apt/sources.list.d/debian.sources', hostSourcesFile(sources, host.release));
  fs.rmSync(`${root}/etc/apt/sources.list`, { force: true });
  await addSudoUser(root);
  write(
    '/etc/ssh/sshd_config.d/50-av-lab.conf',
    '# as on a cloud VM: log in as the sudo user, never as root\nPermitRootLogin no\nPasswordAuthentication no\n',
  );
  await makeSshHostKeys(root);
}

// Like the default user of Debian's cloud images: sudo without a password, in group sudo only (not adm, so
// it cannot read nginx's logs without sudo, as on a VM where the user was made by hand).
async function addSudoUser(root) {
  await $`chroot ${root} useradd --create-home --shell /bin/bash --groups sudo ${SSH_USER}`;
  fs.writeFileSync(`${root}/etc/sudoers.d/90-cloud-init-users`, `${SSH_USER} ALL=(ALL) NOPASSWD:ALL\n`, {
    mode: 0o440,
  });
  const sshDir = `${root}/home/${SSH_USER}/.ssh`;
  fs.mkdirSync(sshDir, { mode: 0o700 });
  fs.writeFileSync(`${sshDir}/authorized_keys`, fs.readFileSync(`${paths.key}.pub`), { mode: 0o600 });
  await $`chroot ${root} chown -R ${`${SSH_USER}:${SSH_USER}`} ${`/home/${SSH_USER}/.ssh`}`;
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

// Every copy of the cached root would otherwise share the host keys made with it.
async function makeSshHostKeys(root) {
  for (const file of await glob(`${root}/etc/ssh/ssh_host_*`)) fs.rmSync(file);
  await $`ssh-keygen -A -f ${root}`;
}

/** Boots the host unless it is running; resolves to when it was started (or null if it already ran). */
export async function ensureBooted(host) {
  const running = hostPid(host.name);
  if (running) {
    say(`${host.name}: running (pid ${running})`);
    return null;
  }
  await stopOrphanedContainer(host.name);
  const log = paths.consoleLog(host.name);
  fs.appendFileSync(log, `\n--- ${new Date().toISOString()} lab.mjs: booting ${host.name}\n`);
  const flags = [
    `--directory=${paths.hostRoot(host.name)}`,
    `--machine=${host.name}`,
    '--boot',
    // no systemd or machined on this machine to register with or to make a scope unit
    '--register=no',
    '--keep-unit',
    `--network-bridge=${BRIDGE}`,
    '--console=read-only',
  ];
  // The hosts boot with the unified cgroup v2 layout that Debian 12 and 13 boot with, whatever this machine's
  // own: on a cgroup v1 machine nspawn would give them the hybrid one, which systemd 256 and later call obsolete.
  const [command, args, cgroupEnv] = nspawnInOwnCgroup(host.name, flags);
  const env = { ...process.env, ...cgroupEnv, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' };
  const pid = startDetached(command, args, { pidFile: paths.hostPidFile(host.name), logFile: log, env });
  say(`${host.name}: booting ${host.release} (pid ${pid}, console log ${log})`);
  return Date.now();
}

export function hostPid(name) {
  return runningPid(paths.hostPidFile(name), `--directory=${paths.hostRoot(name)}`);
}

export async function stopHost(name) {
  const pid = hostPid(name);
  if (pid) {
    // SIGTERM makes nspawn power the host off; if that hangs, killing the host's systemd first lets nspawn clean up
    const [init] = readText(`/proc/${pid}/task/${pid}/children`).split(' ').filter(Boolean).map(Number);
    await stopProcess(pid, name, () => hostPid(name), { killInTurn: [init, pid].filter(Boolean) });
  }
  await stopOrphanedContainer(name);
  removeHostCgroups(name);
}

// A systemd-nspawn that dies by SIGKILL leaves its container running, a child of PID 1, with its vb- link in place;
// a new nspawn then fails with "Failed to add new veth interfaces ... File exists".
async function stopOrphanedContainer(name) {
  const init = containerInit(name);
  if (!init) return;
  say(`${name}: its systemd-nspawn is gone but the container runs on (init pid ${init}); killing it`);
  signal(init, 'SIGKILL'); // a namespace's init ignores other signals from outside; this ends the whole namespace
  await pollUntil(() => !containerInit(name) && !isZombie(init), { seconds: 10, onTimeout: () => false });
  await pollUntil(async () => !(await linkExists(`vb-${name}`)), { seconds: 10, onTimeout: () => false });
}

/** The host's systemd as seen from here: the init of a PID namespace whose root directory is the host's root. */
function containerInit(name) {
  const root = statOrNull(paths.hostRoot(name));
  if (!root) return null;
  const isInit = (pid) => {
    const namespacePids =
      readText(`/proc/${pid}/status`)
        .match(/^NSpid:\s+(.*)$/m)?.[1]
        .split(/\s+/) ?? [];
    return namespacePids.length > 1 && namespacePids.at(-1) === '1';
  };
  const inRoot = (pid) => {
    const processRoot = statOrNull(`/proc/${pid}/root`);
    return processRoot?.dev === root.dev && processRoot?.ino === root.ino;
  };
  const pids = fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number);
  return pids.find((pid) => isInit(pid) && inRoot(pid)) ?? null;
}

export async function waitForSsh(host, bootedAt) {
  const started = bootedAt ?? Date.now();
  const log = paths.consoleLog(host.name);
  const listening = await pollUntil(() => !hostPid(host.name) || canConnect(host.address, 22), {
    seconds: SSH_TIMEOUT_S,
    onTimeout: () => false,
  });
  if (!hostPid(host.name))
    fail(`${host.name}: systemd-nspawn exited; console log ${log}:\n${tail(readText(log).split('\n--- ').at(-1))}`);
  if (!listening) fail(`${host.name} (${host.address}): no SSH after ${SSH_TIMEOUT_S} s; see its console log ${log}`);
  // sshd answers before boot is over: until systemd-user-sessions runs, /run/nologin (made early by
  // systemd-tmpfiles) turns users away, and each login it turns away counts against this machine in sshd's
  // PerSourcePenalties. So the login is tried once the file is gone, looked at through the host's init; what
  // still says so, or a penalty met anyway, is waited out (to the same timeout); any other refusal fails
  // after a few tries.
  const init = containerInit(host.name); // found once: looking it up walks the whole of /proc
  if (init !== null)
    await pollUntil(() => !fs.existsSync(`/proc/${init}/root/run/nologin`), {
      seconds: SSH_TIMEOUT_S,
      intervalMs: 500,
      onTimeout: () => false,
    });
  /** @type {any} the last try's ProcessOutput */
  let login = null;
  let refusals = 0;
  const loggedIn = await pollUntil(
    async () => {
      login = await sshAsUser(host.address, ['sudo', '-n', 'true']);
      if (login.exitCode !== 0 && !STILL_BOOTING.test(login.stderr) && !PENALISED.test(login.stderr)) refusals += 1;
      return login.exitCode === 0 || refusals >= 5;
    },
    { seconds: SSH_TIMEOUT_S, intervalMs: 1000, onTimeout: () => false },
  );
  if (!loggedIn || login.exitCode !== 0) {
    const why = login.stderr?.trim() || `exit code ${login.exitCode}`;
    fail(`${host.name} (${host.address}): port 22 is open but ssh ${SSH_USER}@ with sudo fails (${why}); see ${log}`);
  }
  if (bootedAt) say(`${host.name}: SSH up ${secondsSince(started)} after boot`);
  await disableIpv6(`vb-${host.name}`);
}

/** A command on a host as the lab's SSH user, host keys checked strictly. */
export function sshAsUser(address, command, { nothrow = true } = {}) {
  const options = [
    `UserKnownHostsFile=${paths.knownHosts}`,
    'StrictHostKeyChecking=yes',
    'BatchMode=yes',
    'ConnectTimeout=5',
  ];
  const flags = ['-F', 'none', '-i', paths.key, ...options.flatMap((o) => ['-o', o])];
  return $({ nothrow })`ssh ${flags} ${`${SSH_USER}@${address}`} ${command}`;
}

// Written from the keys configureHost made, so ssh and Ansible can check host keys strictly from the first contact.
export async function writeKnownHosts(hosts) {
  const lines = hosts.map((host) => {
    const [type, key] = fs
      .readFileSync(`${paths.hostRoot(host.name)}/etc/ssh/ssh_host_ed25519_key.pub`, 'utf8')
      .split(' ');
    return `${host.address},${host.name} ${type} ${key}`;
  });
  fs.mkdirSync(paths.knownHosts.slice(0, paths.knownHosts.lastIndexOf('/')), { recursive: true });
  fs.writeFileSync(paths.knownHosts, `${lines.join('\n')}\n`);
}

/** Host names the lab has a pid file or a root for. */
export function recordedHostNames() {
  const names = (dir, pattern) =>
    (fs.existsSync(dir) ? fs.readdirSync(dir) : []).map((file) => file.match(pattern)?.[1]).filter(Boolean);
  const pids = names(paths.run, /^(.+)\.pid$/).filter((n) => n !== 'apt-cacher-ng');
  return [...new Set([...pids, ...names(paths.machines, /^([^.]+)$/)])];
}

export async function removeHost(name) {
  await stopHost(name);
  fs.rmSync(paths.madeMarker(name), { force: true });
  await removeHostRoot(name);
  fs.rmSync(paths.hostPidFile(name), { force: true });
  say(`${name}: removed`);
}

// systemd-nspawn locks a root with a file beside it, and one in /run named for its inode that stays behind
// when nspawn does not exit cleanly.
async function removeHostRoot(name) {
  const root = statOrNull(paths.hostRoot(name));
  if (root) fs.rmSync(`/run/systemd/nspawn/locks/inode-${root.dev}:${root.ino}`, { force: true });
  fs.rmSync(`${paths.machines}/.#${name}.lck`, { force: true });
  await removeTree(paths.hostRoot(name));
}

// systemd-nspawn leaves its lock and propagation directories behind, empty; rmdir leaves them if anything is inside.
export function removeNspawnRunDirs() {
  for (const dir of ['/run/systemd/nspawn/propagate', '/run/systemd/nspawn/locks', '/run/systemd/nspawn']) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // not there, or not empty: left as it is
    }
  }
}
