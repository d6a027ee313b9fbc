// apt-cacher-ng on the bridge address: the lab hosts' only way to Debian, fetching only from this machine's mirror.
import fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { $ } from 'zx';
import { BRIDGE_ADDRESS, PROXY_PORT, PROXY_URL, paths } from './layout.mjs';
import { pollUntil } from '../lib/wait.mjs';
import {
  exitOf,
  fail,
  listenersOnPort,
  listensOn,
  pidsRunning,
  readText,
  runningPid,
  say,
  startDetached,
  stopProcess,
} from './processes.mjs';

const PROXY_USER = 'apt-cacher-ng';

export async function ensureAptProxy(sources) {
  const running = proxyPid();
  if (running) return say(`apt proxy: running (pid ${running})`);
  await stopStrayProxies();
  await refuseTakenPort();
  await writeProxyConfig(sources);
  // as Debian's own unit runs it: a daemon listening on the network, without root
  const { uid, gid } = await userIds(PROXY_USER);
  for (const dir of [paths.packageCache, paths.proxyLogs, paths.proxySocketDir]) {
    await fs.mkdir(dir, { recursive: true });
    await $`chown -R ${uid}:${gid} ${dir}`;
  }
  for (let attempt = 1; ; attempt++) {
    const problem = await startProxy(uid, gid);
    if (!problem) break;
    if (attempt === START_ATTEMPTS) fail(problem);
    // CI saw it exit right after another lab's `down`, cause unknown; shown here so the next one is on record
    say(`apt proxy: ${problem}`);
    say(`apt proxy: starting it again (attempt ${attempt + 1} of ${START_ATTEMPTS})`);
    await sleep(2000);
  }
  say(`apt proxy: started apt-cacher-ng on ${PROXY_URL} (pid ${proxyPid()}), fetching from ${sources.archive.backend}`);
}

const START_ATTEMPTS = 3;

/** Starts apt-cacher-ng and waits for it to listen; null when it does, else what went wrong, with its logs. */
async function startProxy(uid, gid) {
  const pid = startDetached(PROXY_USER, ['-c', paths.proxyConfig], {
    pidFile: paths.proxyPid,
    logFile: `${paths.proxyLogs}/console.log`,
    uid,
    gid,
  });
  const listener = await pollUntil(async () => (await ourListener()) ?? (exitOf(pid) && 'none'), {
    seconds: 15,
    onTimeout: () => 'none',
  });
  if (listener !== 'none') {
    // the pid file names the process that serves, even were it not the one started (CI once lost track of one)
    if (listener !== pid) {
      say(`apt proxy: apt-cacher-ng listens as pid ${listener}, not as the started pid ${pid}`);
      await fs.writeFile(paths.proxyPid, `${listener}\n`);
    }
    return null;
  }
  const state = exitOf(pid) ? `ended (${exitOf(pid)})` : 'is running but not listening';
  const problem =
    `apt-cacher-ng (pid ${pid}) ${state} on ${BRIDGE_ADDRESS}:${PROXY_PORT}; ` +
    `the end of its logs in ${paths.proxyLogs}/:\n${logTails() || '(all empty)'}`;
  await stopAptProxy(); // one that runs without listening (its bind failed) would never listen
  return problem;
}

/** The pid of a process running with the lab's proxy config that listens on the proxy's address, or null. */
async function ourListener() {
  const ours = new Set(ourProxies());
  const listeners = await listenersOnPort(PROXY_PORT);
  return listeners.find((listener) => ours.has(listener.pid))?.pid ?? null;
}

/** The proxy port taken by another program: an error naming it, before the lab's own would fail to bind. */
async function refuseTakenPort() {
  const taken = (await listenersOnPort(PROXY_PORT)).filter(
    (listener) =>
      listener.address.startsWith(`${BRIDGE_ADDRESS}:`) || /^(\*|0\.0\.0\.0|\[::\]):/.test(listener.address),
  );
  if (taken.length === 0) return;
  const who = taken.map((l) => `${l.program}${l.pid ? ` (pid ${l.pid})` : ''} on ${l.address}`).join(', ');
  fail(
    `apt proxy: port ${PROXY_PORT} on ${BRIDGE_ADDRESS} is taken by ${who}; the lab's apt-cacher-ng needs it. ` +
      'Stop that program (a system apt-cacher-ng: systemctl disable --now apt-cacher-ng), then run up again.',
  );
}

/** Every apt-cacher-ng running with the lab's config: the lab started each, whether or not a pid file names it. */
const ourProxies = () => pidsRunning(PROXY_USER, paths.proxyConfig);

async function stopStrayProxies() {
  for (const pid of ourProxies()) {
    say(`apt proxy: apt-cacher-ng (pid ${pid}) runs with the lab's config, but no pid file names it; stopping it`);
    await stopProcess(pid, 'apt-cacher-ng', () => ourProxies().includes(pid));
  }
}

export async function stopAptProxy() {
  const pid = proxyPid();
  if (pid) await stopProcess(pid, 'apt-cacher-ng', () => proxyPid());
  await stopStrayProxies();
}

export async function proxyIsAnswering() {
  const pid = proxyPid();
  return { pid, answering: Boolean(pid) && (await listensOn(pid, BRIDGE_ADDRESS, PROXY_PORT)) };
}

/** The last lines of the proxy's own logs: the lab's `down` removes them, so a failure must carry them. */
function logTails(lines = 15) {
  return ['console.log', 'apt-cacher.err', 'apt-cacher.log']
    .map((name) => {
      const text = readText(`${paths.proxyLogs}/${name}`).trimEnd();
      return text && `${name}:\n${text.split('\n').slice(-lines).join('\n')}`;
    })
    .filter(Boolean)
    .join('\n');
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
