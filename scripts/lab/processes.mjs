// Daemons the lab starts and stops by pid, and the small waits and file helpers around them. Nothing here
// signals a process it cannot prove is its own: a pid is used only while its command line still carries a mark.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { $ } from 'zx';
import { sayAs } from '../lib/say.mjs';
import { pollUntil } from '../lib/wait.mjs';

export class LabError extends Error {}
export const fail = (message) => {
  throw new LabError(message);
};
export const say = sayAs('lab');
export const secondsSince = (started) => `${((Date.now() - started) / 1000).toFixed(1)} s`;

const STOP_TIMEOUT_S = 30;
const exits = new Map(); // pid -> how a daemon this script started ended, while this script still runs

/** A daemon that outlives this script: its own session (setsid), output to a log file, its pid recorded. */
export function startDetached(command, args, { pidFile, logFile, ...options }) {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log], ...options });
  fs.closeSync(log);
  child.unref();
  if (!child.pid) fail(`could not start ${command}`);
  child.once('exit', (code, signalName) =>
    exits.set(child.pid, signalName ? `killed by ${signalName}` : `exit code ${code}`),
  );
  fs.writeFileSync(pidFile, `${child.pid}\n`);
  return child.pid;
}

/** How a daemon startDetached started in this script has ended ("exit code 1", "killed by SIGSEGV"), or null. */
export const exitOf = (pid) => exits.get(pid) ?? null;

/** Every running process whose program is command and one of whose arguments is mark. */
export function pidsRunning(command, mark) {
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      const args = readText(`/proc/${pid}/cmdline`).split('\0');
      return path.basename(args[0]) === command && args.includes(mark);
    })
    .map(Number);
}

/** The pid recorded in pidFile, if that process is still alive and one of its arguments is mark. */
export function runningPid(pidFile, mark) {
  const pid = Number.parseInt(readText(pidFile), 10);
  if (!Number.isInteger(pid)) return null;
  const args = readText(`/proc/${pid}/cmdline`).split('\0');
  return args.includes(mark) ? pid : null; // not a recycled pid, nor a zombie
}

/**
 * SIGTERM, then after 30 s SIGKILL to each of killInTurn until it is gone. isRunning re-reads the pid file and
 * checks the command line, so a pid the kernel has given to another process is never signalled.
 */
export async function stopProcess(pid, name, isRunning, { killInTurn = [pid] } = {}) {
  const started = Date.now();
  signal(pid, 'SIGTERM');
  const gone = () => !isRunning();
  if (!(await pollUntil(gone, { seconds: STOP_TIMEOUT_S, onTimeout: () => false }))) {
    for (const target of killInTurn) {
      if (!isRunning()) break;
      say(`${name}: still running ${secondsSince(started)} after SIGTERM; SIGKILL to pid ${target}`);
      signal(target, 'SIGKILL');
      await pollUntil(gone, { seconds: 5, onTimeout: () => false });
    }
    if (isRunning()) fail(`${name} (pid ${pid}) survived SIGKILL`);
  }
  // it was started detached, so PID 1 reaps it within a few seconds; `ps` lists it until then
  await pollUntil(() => !isZombie(pid), { seconds: 10, onTimeout: () => false });
  say(`${name}: stopped (pid ${pid}) in ${secondsSince(started)}`);
}

export function signal(pid, name) {
  try {
    process.kill(pid, name);
  } catch (error) {
    if (error.code !== 'ESRCH') throw error; // already gone is fine
  }
}

export function isZombie(pid) {
  const stat = readText(`/proc/${pid}/stat`); // "pid (command) state ..."
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
}

/** Whether the process pid itself listens on address:port: a connection would be answered by any program there. */
export async function listensOn(pid, address, port) {
  return (await listeners(`src ${address}:${port}`)).some((listener) => listener.pid === pid);
}

/** Who listens on port, on any address: [{ address, pid, program }] (pid null when ss may not see it). */
export async function listenersOnPort(port) {
  return listeners(`sport = :${port}`);
}

async function listeners(filter) {
  const { stdout } = await $`ss -Hltnp ${filter}`.nothrow();
  return stdout
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      const address = line.split(/\s+/)[3];
      const users = [...line.matchAll(/\("([^"]*)",pid=(\d+),/g)];
      if (users.length === 0) return [{ address, pid: null, program: 'unknown' }];
      return users.map(([, program, pid]) => ({ address, pid: Number(pid), program }));
    });
}

export function canConnect(host, port, timeoutMs = 1000) {
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

export function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export function statOrNull(file) {
  try {
    return fs.statSync(file);
  } catch {
    return null;
  }
}

export async function writeIfChanged(file, content) {
  if (readText(file) !== content)
    await fs.promises.mkdir(path.dirname(file), { recursive: true }).then(() => fs.promises.writeFile(file, content));
}

export const tail = (text, lines = 15) => text.trimEnd().split('\n').slice(-lines).join('\n');

/** `rm --one-file-system` will not follow a mount (an mmdebstrap cut short can leave /proc mounted in its root). */
export async function removeTree(dir) {
  if (!path.isAbsolute(dir) || dir.split('/').filter(Boolean).length < 2) fail(`refusing to remove ${dir}`);
  const mountPoints = readText('/proc/self/mountinfo')
    .split('\n')
    .map((line) => line.split(' ')[4]);
  const under = mountPoints.filter((mountPoint) => mountPoint?.startsWith(`${dir}/`));
  for (const mountPoint of under.reverse()) await $`umount --lazy ${mountPoint}`.nothrow();
  await $`rm -rf --one-file-system ${dir}`;
}
