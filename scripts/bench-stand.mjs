#!/usr/bin/env zx
// npm run bench:stand: what following nginx's log costs nginx. Debian's wrk, from this machine, against
// one nginx host of the stand, in rounds that alternate av-exporter running and stopped (systemctl over
// SSH, as the inventory logs in). Before each round with the exporter running, it has caught up with the
// log, so the round measures steady following, not catching up. Prints each round's requests/s, the
// medians and the overhead (goal: at most 3 %), av-exporter's CPU per 1,000 requests, and checks at the
// end that the exporter counted every line nginx logged during the bench (it resumes from its state file
// after each stop).
//
//   npx zx scripts/bench-stand.mjs [--inventory inventory/lab/hosts.yml] [--host web1] [--rounds 3]
//                                  [--seconds 10] [--connections 16] [--path /]
import { fileURLToPath } from 'node:url';
import { $, argv, echo, path } from 'zx';
import { accessLogPath, exporterMetrics } from './lib/nginx-hosts.mjs';
import { standClientFor } from './lib/stand-client.mjs';
import { sayAs } from './lib/say.mjs';
import { pollUntil } from './lib/wait.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const GOAL_OVERHEAD = 0.03;
const say = sayAs('bench:stand');

$.quiet = true;

function options() {
  const known = ['inventory', 'host', 'rounds', 'seconds', 'connections', 'path', '_'];
  const unknown = Object.keys(argv).filter((key) => !known.includes(key));
  if (unknown.length > 0 || argv._.length > 0)
    throw new Error(`unknown arguments: ${[...unknown.map((k) => `--${k}`), ...argv._].join(' ')}`);
  const count = (name, fallback, min, max) => {
    const value = argv[name] === undefined ? fallback : Number(argv[name]);
    if (!Number.isInteger(value) || value < min || value > max)
      throw new Error(`--${name}: expected a whole number from ${min} to ${max}, got ${argv[name]}`);
    return value;
  };
  const pathArg = String(argv.path ?? '/');
  if (!/^\/[\w./-]*$/.test(pathArg)) throw new Error(`--path: expected a path such as /index.html, got ${pathArg}`);
  return {
    inventoryFile: path.resolve(ROOT, String(argv.inventory ?? 'inventory/lab/hosts.yml')),
    hostName: argv.host === undefined ? null : String(argv.host),
    rounds: count('rounds', 3, 1, 20),
    seconds: count('seconds', 10, 2, 300),
    connections: count('connections', 16, 1, 1000),
    path: pathArg,
  };
}

/** A command on the host as root (through sudo when the inventory logs in as another user); its words must need no quoting. */
const asRoot = (client, host, words) => client.onHost(host, words, { root: true });

/** av-exporter's lines read, CPU seconds and unread bytes, from its /metrics on the host. */
async function exporterState(client, host) {
  const text = await exporterMetrics(client, [host]);
  const value = (series) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    if (!line) throw new Error(`av-exporter on ${host.name} exposes no ${series}`);
    return Number(line.slice(series.length + 1));
  };
  return {
    lines: value('av_nginx_log_lines_total{result="parsed"}') + value('av_nginx_log_lines_total{result="malformed"}'),
    cpuSeconds: value('process_cpu_seconds_total'),
    unreadBytes: value('av_nginx_log_unread_bytes'),
  };
}

/** Waits until av-exporter answers and has read the whole log; returns its state then. */
async function caughtUp(client, host) {
  const state = async () => {
    const now = await exporterState(client, host).catch(() => null);
    return now?.unreadBytes === 0 ? now : null;
  };
  return pollUntil(state, {
    seconds: 60,
    intervalMs: 500,
    onTimeout: () => {
      throw new Error(
        `av-exporter on ${host.name} did not catch up with the log within 60 s: systemctl status av-exporter there`,
      );
    },
  });
}

async function loggedLines(client, host) {
  const output = await asRoot(client, host, ['wc', '-l', accessLogPath(host.vars)]);
  return Number(output.stdout.trim().split(/\s+/)[0]);
}

async function wrk(url, seconds, connections) {
  const output = (await $`wrk --threads 2 --connections ${connections} --duration ${seconds}s ${url}`).stdout;
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const total = /(\d+) requests in/.exec(output);
  if (!rate || !total) throw new Error(`cannot read wrk's output:\n${output}`);
  return { requestsPerSecond: Number(rate[1]), requests: Number(total[1]) };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

async function main() {
  const opts = options();
  if ((await $`command -v wrk`.nothrow()).exitCode !== 0)
    throw new Error('wrk is not installed: bash scripts/prereqs.sh (or apt-get install wrk)');
  // av-exporter's /metrics: HTTPS with the stand's CA and user; systemctl and the log over SSH
  const client = standClientFor({ inventoryFile: opts.inventoryFile });
  const { nginx } = client.inventory;
  const host = opts.hostName ? nginx.find((h) => h.name === opts.hostName) : nginx[0];
  if (!host)
    throw new Error(
      `no nginx host ${opts.hostName} in ${opts.inventoryFile} (there: ${nginx.map((h) => h.name).join(', ')})`,
    );
  const port = Number(host.vars.stand_nginx_port);
  const url = `http://${host.address.includes(':') ? `[${host.address}]` : host.address}${port === 80 ? '' : `:${port}`}${opts.path}`;
  say(
    `wrk against ${url} (${host.name}): ${opts.rounds} rounds each with av-exporter running and stopped, ${opts.seconds} s, ${opts.connections} connections`,
  );

  await asRoot(client, host, ['systemctl', 'start', 'av-exporter']);
  const first = await caughtUp(client, host);
  const firstLogged = await loggedLines(client, host);
  const rates = { running: [], stopped: [] };
  const cpuPerThousand = [];
  for (let round = 0; round < opts.rounds; round++) {
    // alternating which goes first keeps a drift in the machine's load from favouring one side
    for (const mode of round % 2 === 0 ? ['running', 'stopped'] : ['stopped', 'running']) {
      const before = mode === 'running' ? await caughtUp(client, host) : null;
      if (mode === 'stopped') await asRoot(client, host, ['systemctl', 'stop', 'av-exporter']);
      const result = await wrk(url, opts.seconds, opts.connections);
      rates[mode].push(result.requestsPerSecond);
      if (mode === 'stopped') {
        await asRoot(client, host, ['systemctl', 'start', 'av-exporter']);
        say(`round ${round + 1}, av-exporter stopped: ${result.requestsPerSecond.toFixed(0)} requests/s`);
      } else {
        const after = await caughtUp(client, host);
        cpuPerThousand.push(((after.cpuSeconds - before.cpuSeconds) / (after.lines - before.lines)) * 1000);
        say(
          `round ${round + 1}, av-exporter running: ${result.requestsPerSecond.toFixed(0)} requests/s; it used ${(after.cpuSeconds - before.cpuSeconds).toFixed(2)} CPU s for ${after.lines - before.lines} lines`,
        );
      }
    }
  }
  const last = await caughtUp(client, host);
  const lastLogged = await loggedLines(client, host);

  const running = median(rates.running);
  const stopped = median(rates.stopped);
  const overhead = 1 - running / stopped;
  echo('');
  echo(
    `requests/s, median of ${opts.rounds} rounds each: av-exporter running ${running.toFixed(0)}, stopped ${stopped.toFixed(0)}`,
  );
  echo(
    `ratio running / stopped: ${(running / stopped).toFixed(3)}; overhead ${(overhead * 100).toFixed(1)} % (goal <= ${GOAL_OVERHEAD * 100} %) ${overhead <= GOAL_OVERHEAD ? 'OK' : 'ABOVE THE GOAL'}`,
  );
  echo(
    `av-exporter CPU per 1,000 requests: ${median(cpuPerThousand).toFixed(4)} s (median; ${cpuPerThousand.map((c) => c.toFixed(4)).join(', ')})`,
  );
  const counted = last.lines - first.lines;
  const logged = lastLogged - firstLogged;
  echo(`lines nginx logged during the bench: ${logged}; av-exporter counted: ${counted}`);
  if (logged < 0) throw new Error(`${accessLogPath(host.vars)} was rotated during the bench: run it again`);
  if (counted !== logged) throw new Error(`av-exporter counted ${counted} lines, nginx logged ${logged}`);
}

try {
  await main();
} catch (error) {
  say(error.message);
  process.exitCode = 1;
}
