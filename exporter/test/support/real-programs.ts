// Starts and stops the real programs the integration tests run against (nginx, Prometheus, the built
// exporter), each on loopback with its own temporary directory, and stops them by their own pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

/** The built exporter; AV_EXPORTER_BUNDLE points the tests at another build (an older one, to see a test fail). */
export const EXPORTER = process.env.AV_EXPORTER_BUNDLE ?? new URL('../../dist/av-exporter.js', import.meta.url).pathname;

export interface RunningProgram {
  name: string;
  child: ChildProcess;
  output: () => string;
  stop: (signal?: NodeJS.Signals) => Promise<void>;
}

export function startProgram(name: string, command: string, args: string[]): RunningProgram {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    name,
    child,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await Promise.race([exited, sleep(10_000).then(() => child.kill('SIGKILL'))]);
      await exited;
    },
  };
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

/** Polls `check` until it returns a value other than undefined, or fails with `what` and the programs' output. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, programs: RunningProgram[] = []): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(100);
  }
  const outputs = programs.map((p) => `--- ${p.name} ---\n${p.output().slice(-3000)}`).join('\n');
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}\n${outputs}`);
}

/**
 * For one describe block: a temporary directory made before its tests and removed after them, and a list
 * of the programs they start, killed after them.
 */
export function testWorkspace(prefix: string): { path: () => string; running: RunningProgram[] } {
  let dir: { path: string; remove: () => Promise<void> } | undefined;
  const running: RunningProgram[] = [];
  before(async () => {
    dir = await temporaryDirectory(prefix);
  });
  after(async () => {
    await Promise.all(running.map((p) => p.stop('SIGKILL')));
    await dir?.remove();
  });
  return { path: () => dir!.path, running };
}

export async function temporaryDirectory(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Samples of a Prometheus text exposition, keyed by the series as written (`name{labels}`). */
export function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

export async function fetchText(url: string, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(url, { headers });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.text();
}
