// The /metrics listener's connection slots against floods from several addresses, with real sockets from
// 127.0.0.x addresses and the built exporter: idle connections cannot keep Prometheus out, and neither
// can busy ones from clients never answered, since slots are kept for clients answered recently.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { Agent, type AgentOptions } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcryptjs';
import { clientGroup } from '../src/client-group.js';
import { basicAuthHeader, startExporter } from './support/exporter-process.js';
import { rawGet } from './support/raw-http.js';
import { testWorkspace } from './support/real-programs.js';

/** `perAddress` connections from each address that send nothing, each opened again as soon as it is closed. */
function idleFlood(port: number, addresses: string[], perAddress: number) {
  let flooding = true;
  const sockets = new Set<Socket>();
  let reopened = 0;
  const open = (localAddress: string) => {
    if (!flooding) return;
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => {
      sockets.delete(socket);
      reopened++;
      setImmediate(() => open(localAddress));
    });
  };
  for (const address of addresses) for (let i = 0; i < perAddress; i++) open(address);
  return {
    reopened: () => reopened,
    stop: () => {
      flooding = false;
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** `perAddress` clients from each address sending requests with a wrong password in a loop, each as soon as the last was answered. */
function busyFlood(base: string, addresses: string[], perAddress: number) {
  let flooding = true;
  const agents = addresses.map((localAddress) => new Agent({ keepAlive: true, maxSockets: perAddress, localAddress } as AgentOptions));
  const loops = agents.flatMap((agent) => Array.from({ length: perAddress }, async () => {
    while (flooding) await rawGet(`${base}/metrics`, { headers: basicAuthHeader('prom', 'wrong'), agent }).catch(() => sleep(10));
  }));
  return {
    stop: async () => {
      flooding = false;
      await Promise.all(loops);
      for (const agent of agents) agent.destroy();
    },
  };
}

/** Scrapes, each on a new connection (the worst case: it needs a slot every time); their times in ms. */
async function scrapes(base: string, count: number, headers: Record<string, string> = {}): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const answer = await rawGet(`${base}/metrics`, { headers, from: '127.0.0.1' });
    assert.equal(answer.status, 200, `scrape ${i}`);
    assert.ok(answer.complete);
    times.push(performance.now() - started);
    await sleep(20);
  }
  return times;
}

const addresses = (third: number, count: number) => Array.from({ length: count }, (_, i) => `127.0.${third}.${i + 1}`);

describe('connection slots', () => {
  const workspace = testWorkspace('av-slots-');
  const { running } = workspace;

  test('640 idle connections from 10 addresses, reopened as fast as they close, do not keep a scrape out', async () => {
    const log = join(workspace.path(), 'idle.log');
    await writeFile(log, '');
    const exporter = await startExporter(log, [], running);
    const flood = idleFlood(Number(new URL(exporter.base).port), addresses(4, 10), 64);
    let times: number[];
    try {
      await sleep(1500);
      times = await scrapes(exporter.base, 30);
    } finally {
      flood.stop();
    }
    // idle ones are closed after a second, or earlier to make room: the flood had to reopen many
    assert.ok(flood.reopened() > 128, `reopened ${flood.reopened()}`);
    assert.ok(Math.max(...times) < 1000, `scrapes took ${times.map((ms) => ms.toFixed(0)).join(', ')} ms`);
    await exporter.exporter.stop('SIGTERM');
  });

  test('busy connections from 8 addresses never answered cannot take the slots kept for a client that authenticated', async () => {
    const log = join(workspace.path(), 'busy.log');
    await writeFile(log, '');
    const web = join(workspace.path(), 'busy-web.yml');
    await writeFile(web, `basic_auth_users:\n  prom: "${bcrypt.hashSync('right', 4)}"\n`);
    const right = basicAuthHeader('prom', 'right');
    // startExporter's first scrape, from 127.0.0.1, authenticates it
    const exporter = await startExporter(log, ['--web-config', web], running, right);
    const flood = busyFlood(exporter.base, addresses(5, 8), 64);
    let times: number[];
    try {
      await sleep(1500);
      times = await scrapes(exporter.base, 20, right);
    } finally {
      await flood.stop();
    }
    assert.ok(Math.max(...times) < 2000, `scrapes took ${times.map((ms) => ms.toFixed(0)).join(', ')} ms`);
    await exporter.exporter.stop('SIGTERM');
  });

  test('a client is an IPv4 address or an IPv6 /64', () => {
    assert.equal(clientGroup('127.0.0.2'), '127.0.0.2');
    assert.equal(clientGroup('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(clientGroup('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(clientGroup('2001:DB8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
    assert.equal(clientGroup('2001:db8::7'), '2001:db8:0:0::/64');
    assert.equal(clientGroup('::1'), '0:0:0:0::/64');
    assert.equal(clientGroup('fe80::1%eth0'), 'fe80:0:0:0::/64');
    assert.equal(clientGroup('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
  });
});
