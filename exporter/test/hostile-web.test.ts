// The /metrics listener under attack, with the built exporter and real bcrypt: wrong passwords in a flood,
// a costly hash, a web config with a syntax error or none of its protections, idle and slow connections.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { Agent, request, type AgentOptions } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcryptjs';
import { BcryptWorkers } from '../src/bcrypt-workers.js';
import { PasswordChecker } from '../src/web-access.js';
import { basicAuthHeader, startExporter } from './support/exporter-process.js';
import { EXPORTER, freePort, testWorkspace, waitFor } from './support/real-programs.js';

/** GET /metrics through `agent`; the status. */
function get(base: string, headers: Record<string, string>, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/metrics`, { headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the /metrics listener against abuse', () => {
  const workspace = testWorkspace('av-hostile-web-');
  const { running } = workspace;
  let log: string;

  before(async () => {
    log = join(workspace.path(), 'access.log');
    await writeFile(log, '');
  });

  async function webConfig(name: string, text: string): Promise<string> {
    const file = join(workspace.path(), name);
    await writeFile(file, text);
    return file;
  }

  function checkConfig(file: string) {
    return spawnSync(process.execPath, [EXPORTER, '--log-file', log, '--web-config', file, '--check-config'], { encoding: 'utf8', timeout: 10_000 });
  }

  test('wrong passwords from 64 clients do not hold up a scrape that is already authenticated', async () => {
    const web = await webConfig('flood.yml', `basic_auth_users:\n  prom: "${bcrypt.hashSync('right', 10)}"\n`);
    const exporter = await startExporter(log, ['--web-config', web], running, basicAuthHeader('prom', 'right'));
    const statuses = new Map<number, number>();
    let flooding = true;
    // the attackers from another address than Prometheus', as on the stand (where it is another host)
    const agent = new Agent({ keepAlive: true, localAddress: '127.0.0.2' } as AgentOptions);
    const attacker = async () => {
      while (flooding) {
        const status = await get(exporter.base, basicAuthHeader('prom', 'wrong'), agent).catch(() => 0);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    };
    const attackers = Array.from({ length: 64 }, attacker);
    const latencies: number[] = [];
    try {
      await sleep(500);
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        const response = await fetch(`${exporter.base}/metrics`, { headers: basicAuthHeader('prom', 'right') });
        await response.arrayBuffer();
        latencies.push(performance.now() - started);
        assert.equal(response.status, 200);
      }
    } finally {
      flooding = false;
      await Promise.all(attackers);
      agent.destroy();
    }
    assert.ok(statuses.get(429)! > 0, `busy refusals: ${JSON.stringify([...statuses])}`);
    assert.ok(statuses.get(401)! > 0, `wrong-password refusals: ${JSON.stringify([...statuses])}`);
    assert.equal([...statuses.keys()].filter((status) => status !== 401 && status !== 429).length, 0, JSON.stringify([...statuses]));
    // before, bcrypt ran on the event loop and 64 such clients held a scrape up for seconds
    assert.ok(Math.max(...latencies) < 1000, `scrapes took ${latencies.map((ms) => ms.toFixed(0)).join(', ')} ms`);
    await exporter.exporter.stop('SIGTERM');
  });

  test('a bcrypt cost over 14 is refused by --check-config and at the start, without computing it', async () => {
    const costly = `$2b$31$${'a'.repeat(53)}`;
    const file = await webConfig('costly.yml', `basic_auth_users:\n  prom: "${costly}"\n`);
    const checked = checkConfig(file);
    assert.equal(checked.status, 2, checked.stderr);
    assert.match(checked.stderr, /basic_auth_users\.prom in \S+costly\.yml, line 2, column 3: expected a bcrypt cost from 04 to 14 \(10 to 12 is usual\), got a hash of cost 31/);
    const started = spawnSync(process.execPath, [EXPORTER, '--log-file', log, '--web-config', file, '--listen', `127.0.0.1:${await freePort()}`], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(started.status, 2, started.stderr);
    assert.match(started.stderr, /got a hash of cost 31/);
  });

  test('nothing costly runs before the port listens: an unknown user needs no hash computed up front', async () => {
    const workers = new BcryptWorkers(1);
    const users = new Map([['prom', bcrypt.hashSync('right', 4).replace('$04$', '$14$')]]);
    const started = performance.now();
    const checker = new PasswordChecker(users, workers);
    const ms = performance.now() - started;
    // a cost-14 bcrypt takes about a second; the bound leaves room for a loaded machine
    assert.ok(ms < 100, `building the checker took ${ms} ms`);
    assert.equal(await checker.check('nobody', 'x'), 'refused');
    await workers.close();
  });

  test('a YAML error in the web config names the file, line and column, and never shows the line', async () => {
    const file = await webConfig('unclosed.yml', 'basic_auth_users:\n  prom: "plain-password\n');
    const checked = checkConfig(file);
    assert.equal(checked.status, 2);
    assert.match(checked.stderr, /^av-exporter: web config file \S+unclosed\.yml, line \d+, column \d+: not valid YAML: Missing closing "quote \(the line is not shown: it may hold a secret\)$/m);
    assert.doesNotMatch(checked.stderr + checked.stdout, /plain-password/);
  });

  for (const [name, text] of <Array<[string, string]>>[['an empty web config', ''], ['a comment-only web config', '# nothing yet\n'], ['basic_auth_users with no value', 'basic_auth_users:\n']]) {
    test(`${name} warns loudly that /metrics is open to anyone`, async () => {
      const checked = checkConfig(await webConfig(`${name.replace(/\W+/g, '-')}.yml`, text));
      assert.equal(checked.status, 0, checked.stderr);
      assert.match(checked.stderr, /warning: web config \S+ sets neither tls_server_config nor basic_auth_users: \/metrics is served over PLAIN HTTP WITHOUT A PASSWORD/);
    });
  }

  test('idle and slow connections cannot lock Prometheus out: past 64 per address they are closed, and slow ones time out', async () => {
    const exporter = await startExporter(log, [], running);
    const port = Number(new URL(exporter.base).port);
    const closed = new Set<Socket>();
    const sockets: Socket[] = [];
    for (let i = 0; i < 100; i++) {
      const socket = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
      socket.on('error', () => {});
      socket.resume(); // reads (and drops) the 408, so the server's close is seen
      socket.on('close', () => closed.add(socket));
      socket.on('connect', () => socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n')); // the headers never end
      sockets.push(socket);
    }
    await waitFor('the connections past the cap closed', async () => (closed.size >= 36 ? true : undefined), 5000, [exporter.exporter]);
    const started = performance.now();
    assert.ok((await exporter.scrape()).size > 0);
    assert.ok(performance.now() - started < 1000);
    await waitFor('the slow ones timed out', async () => (closed.size === 100 ? true : undefined), 15_000, [exporter.exporter]);
    for (const socket of sockets) socket.destroy();
    await exporter.exporter.stop('SIGTERM');
  });
});
