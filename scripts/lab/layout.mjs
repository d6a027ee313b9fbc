// Where the lab keeps its things, what it is made of, and the marks that say a directory is the lab's own.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail } from './processes.mjs';

export const RELEASES = ['trixie', 'bookworm']; // Debian 13 (stable), Debian 12
export const DEFAULT_RELEASE = 'trixie';
export const RELEASE_NAMES = { trixie: 'Debian 13', bookworm: 'Debian 12' };

// What a Debian cloud image has and the roles must not assume away (sudo, logrotate, cron), and no more:
// no python3-apt, curl or nftables.
export const BASE_PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'openssh-server',
  'python3',
  'iproute2',
  'ca-certificates',
  'sudo',
  'logrotate',
  'cron',
];
export const SSH_USER = 'debian'; // as on Debian's cloud images: may sudo without a password; root may not log in

export const BRIDGE = 'avlab0';
export const BRIDGE_ADDRESS = '10.77.0.1';
export const PROXY_PORT = 3142;
export const PROXY_URL = `http://${BRIDGE_ADDRESS}:${PROXY_PORT}`;
export const MAX_NGINX_HOSTS = 20;
export const MAX_PROMETHEUS_HOSTS = 9;

export const STATE = path.resolve(process.env.AV_LAB_DIR || '/var/lib/av-lab');
export const CACHE = path.resolve(process.env.AV_LAB_CACHE || '/var/cache/av-lab');
export const INVENTORY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../inventory/lab');

export const paths = {
  baseRoot: (release) => `${CACHE}/debian-${release}`,
  rootLog: (release) => `${CACHE}/mmdebstrap-${release}.log`,
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
  hostRoot: (name) => `${STATE}/machines/${name}`,
  madeMarker: (name) => `${STATE}/machines/${name}.made`,
  hostPidFile: (name) => `${STATE}/run/${name}.pid`,
  consoleLog: (name) => `${STATE}/logs/${name}.console.log`,
};

/**
 * prom1, prom2, ... from .10; web1, web2, ... from .21; vm1 at .50 when asked for. Host names never equal
 * group names (Ansible would match the host).
 */
export function planHosts({ nginx, prometheus = 1, victoriametrics = false, release }) {
  const numbered = (count, prefix, group, first) =>
    Array.from({ length: count }, (_, i) => ({
      name: `${prefix}${i + 1}`,
      group,
      address: `10.77.0.${first + i}`,
      release,
    }));
  return [
    ...numbered(prometheus, 'prom', 'prometheus', 10),
    ...numbered(nginx, 'web', 'nginx', 21),
    ...numbered(victoriametrics ? 1 : 0, 'vm', 'victoriametrics', 50),
  ];
}

// ---- ownership: `down` removes only what `up` made

const MARK = '.made-by-av-lab';
const markFile = (dir) => `${dir}/${MARK}`;

/** Before `up` writes into dir: it is new, empty, or already marked as the lab's; then it is marked. */
export function claimDirectory(dir, variable) {
  if (fs.existsSync(dir) && !fs.existsSync(markFile(dir)) && fs.readdirSync(dir).length > 0) {
    fail(`${variable}=${dir} is not empty and was not made by lab up: choose an empty or new directory`);
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(markFile(dir), 'made by scripts/lab.mjs up; removed by scripts/lab.mjs down\n');
}

/** Before `down` removes dir: it is missing (nothing to do, false) or marked as the lab's (true); else refuse. */
export function ownedDirectory(dir, variable) {
  if (!fs.existsSync(dir)) return false;
  if (!fs.existsSync(markFile(dir)))
    fail(`${variable}=${dir} was not made by lab up (no ${MARK} in it): refusing to remove it`);
  return true;
}

// ---- the lab's record of itself

export function readLabFile() {
  return fs.existsSync(paths.labFile) ? JSON.parse(fs.readFileSync(paths.labFile, 'utf8')) : null;
}

export function labDescription(hosts) {
  return {
    bridge: { name: BRIDGE, address: `${BRIDGE_ADDRESS}/24` },
    aptProxy: PROXY_URL,
    sshUser: SSH_USER,
    sshKey: paths.key,
    knownHosts: paths.knownHosts,
    hosts,
  };
}
