// apt-cacher-ng on the bridge address: the lab hosts' only way to Debian, fetching only from this machine's mirror.
import fs from 'node:fs/promises';
import { $ } from 'zx';
import { BRIDGE_ADDRESS, PROXY_PORT, PROXY_URL, paths } from './layout.mjs';
import { pollUntil } from '../lib/wait.mjs';
import { canConnect, fail, runningPid, say, startDetached, stopProcess } from './processes.mjs';

const PROXY_USER = 'apt-cacher-ng';

export async function ensureAptProxy(sources) {
  const running = proxyPid();
  if (running) return say(`apt proxy: running (pid ${running})`);
  await writeProxyConfig(sources);
  // as Debian's own unit runs it: a daemon listening on the network, without root
  const { uid, gid } = await userIds(PROXY_USER);
  for (const dir of [paths.packageCache, paths.proxyLogs, paths.proxySocketDir]) {
    await fs.mkdir(dir, { recursive: true });
    await $`chown -R ${uid}:${gid} ${dir}`;
  }
  const pid = startDetached('apt-cacher-ng', ['-c', paths.proxyConfig], {
    pidFile: paths.proxyPid,
    logFile: `${paths.proxyLogs}/console.log`,
    uid,
    gid,
  });
  const answering = await pollUntil(() => !proxyPid() || canConnect(BRIDGE_ADDRESS, PROXY_PORT), {
    seconds: 15,
    onTimeout: () => false,
  });
  if (!answering || !proxyPid())
    fail(`apt-cacher-ng (pid ${pid}) is not listening on ${BRIDGE_ADDRESS}:${PROXY_PORT}; see ${paths.proxyLogs}/`);
  say(`apt proxy: started apt-cacher-ng on ${PROXY_URL} (pid ${pid}), fetching from ${sources.archive.backend}`);
}

export async function stopAptProxy() {
  const pid = proxyPid();
  if (pid) await stopProcess(pid, 'apt-cacher-ng', () => proxyPid());
}

export async function proxyIsAnswering() {
  const pid = proxyPid();
  return { pid, answering: Boolean(pid) && (await canConnect(BRIDGE_ADDRESS, PROXY_PORT)) };
}

function proxyPid() {
  return runningPid(paths.proxyPid, paths.proxyConfig);
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
# a mirror that closes a download midway is asked again this many times (2 by default: once, a 24 MB
# nodejs install failed with 503 "Connection closed, check DlMaxRetries")
DlMaxRetries: 6
`;
  await fs.mkdir(paths.proxyConfig, { recursive: true });
  await fs.writeFile(`${paths.proxyConfig}/acng.conf`, config);
  await fs.writeFile(`${paths.proxyConfig}/backends_debian`, `${archive.backend}\n`);
  if (security) await fs.writeFile(`${paths.proxyConfig}/backends_debian_security`, `${security.backend}\n`);
}

async function userIds(user) {
  const [uid, gid] = await Promise.all([$`id -u ${user}`, $`id -g ${user}`]);
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}
