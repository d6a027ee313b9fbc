// What /metrics and /healthz answer, whatever state the exporter is in: a collector that fails, a stop
// under way; and what a scraper may ask for: OpenMetrics, gzip. Real sockets, the built exporter where a
// process is needed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import bcrypt from 'bcryptjs';
import { Gauge, Registry } from 'prom-client';
import { listen } from '../src/http-serving.js';
import { metricsApp } from '../src/metrics-server.js';
import { basicAuthHeader, PARSED, startExporter } from './support/exporter-process.js';
import { rawGet, type RawAnswer } from './support/raw-http.js';
import { EXPORTER, freePort, testWorkspace, waitFor } from './support/real-programs.js';

const LINE = '{"status":200,"request_time":0.010,"request_method":"GET"}\n';
const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const { version: VERSION } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** What no answer may show: Express's HTML page, a stack frame; and no error answer a file path (/healthz names the log when healthy). */
function assertNothingLeaks(answer: RawAnswer, what: string): void {
  const body = answer.body.toString('utf8');
  assert.doesNotMatch(String(answer.headers['content-type']), /html/, `${what}: ${answer.headers['content-type']}`);
  assert.doesNotMatch(body, /<html|<pre|<!DOCTYPE|\bat \S+ \(|node_modules|\/[\w.-]+\/[\w.-]+\.(?:ts|js)\b/i, `${what}: ${body}`);
  if (answer.status >= 400) assert.doesNotMatch(body, /\/var\/|\/tmp\/|\/work\//, `${what}: ${body}`);
}

describe('answers when something fails', () => {
  const servers: Server[] = [];
  after(() => Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve)))));

  test('a collector that throws gets a short plain-text 503 on /metrics, never a stack or a path, whatever NODE_ENV says', async () => {
    const previousEnv = process.env.NODE_ENV;
    process.env.NODE_ENV = 'development'; // Express's default handler would show the stack here
    const registry = new Registry();
    new Gauge({
      name: 'av_failing', help: 'throws while collected', registers: [registry],
      collect() {
        throw new Error("EBADF: bad file descriptor, fstat '/var/log/nginx/access.json.log'");
      },
    });
    let healthFails = true;
    const app = metricsApp({
      registry,
      logMetrics: () => '',
      health: () => {
        if (healthFails) throw new Error("ENOENT: no such file or directory, stat '/var/lib/av-exporter/state.json'");
        return { ok: true };
      },
    });
    process.env.NODE_ENV = previousEnv;
    const port = await freePort();
    const server = await listen(app, { host: '127.0.0.1', port }, 'test metrics');
    servers.push(server);
    const base = `http://127.0.0.1:${port}`;

    for (const path of ['/metrics', '/healthz']) {
      const answer = await rawGet(`${base}${path}`);
      assert.equal(answer.status, 503, `${path}: ${answer.body}`);
      assert.match(String(answer.headers['content-type']), /^text\/plain/);
      assert.match(answer.body.toString(), /^503 Service Unavailable/);
      assertNothingLeaks(answer, path);
    }
    healthFails = false;
    assert.equal((await rawGet(`${base}/healthz`)).status, 200);
    for (const path of ['/nothing-here', '/%E0%A4%A', '/metrics/%']) {
      const answer = await rawGet(`${base}${path}`);
      assert.ok(answer.status === 404 || answer.status === 400, `${path}: ${answer.status}`);
      assertNothingLeaks(answer, path);
    }
  });
});

describe('stopping while answering', () => {
  const workspace = testWorkspace('av-http-answers-');
  const { running } = workspace;

  test('scrapes in a loop across a SIGTERM: every answer whole, none 500, none HTML', async () => {
    const log = join(workspace.path(), 'loop.log');
    await writeFile(log, LINE.repeat(10));
    const exporter = await startExporter(log, ['--positions-file', join(workspace.path(), 'loop.state.json'), '--start-at', 'beginning'], running);
    const writer = setInterval(() => void appendFile(log, LINE.repeat(20)), 5);
    const answers: RawAnswer[] = [];
    let connectionErrors = 0;
    let exited = false;
    exporter.exporter.child.once('exit', () => (exited = true));
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const scraper = async (path: string, keepAlive: boolean) => {
      while (!exited) {
        try {
          answers.push(await rawGet(`${exporter.base}${path}`, { agent: keepAlive ? agent : false }));
        } catch {
          connectionErrors++; // refused once the listener is closed: no answer is no wrong answer
          await sleep(5);
        }
      }
    };
    const scrapers = [
      ...['/metrics', '/healthz'].flatMap((path) => [scraper(path, true), scraper(path, true), scraper(path, false)]),
    ];
    try {
      await sleep(1000);
      exporter.exporter.child.kill('SIGTERM');
      await Promise.all(scrapers);
    } finally {
      clearInterval(writer);
      agent.destroy();
    }
    assert.equal(exporter.exporter.child.exitCode, 0, exporter.exporter.output());
    assert.ok(answers.length > 50, `only ${answers.length} answers`);
    const statuses = new Map<number, number>();
    for (const answer of answers) {
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      assert.ok(answer.complete, `an answer cut off: ${answer.status}`);
      assertNothingLeaks(answer, `status ${answer.status}`);
    }
    assert.deepEqual([...statuses.keys()].filter((status) => status !== 200 && status !== 503), [], JSON.stringify([...statuses]));
    assert.ok(connectionErrors >= 0);
  });

  test('answers under way at SIGTERM are finished before the connections close', async () => {
    const log = join(workspace.path(), 'inflight.log');
    await writeFile(log, LINE);
    const web = join(workspace.path(), 'inflight-web.yml');
    await writeFile(web, `basic_auth_users:\n  prom: "${bcrypt.hashSync('right', 4)}"\n`);
    const exporter = await startExporter(log, ['--web-config', web], running, basicAuthHeader('prom', 'right'));
    // a wrong password is answered after a 250 ms pause: these are under way when the signal arrives
    const inFlight = Array.from({ length: 6 }, (_, i) => rawGet(`${exporter.base}/metrics`, { headers: basicAuthHeader('prom', 'wrong'), from: `127.0.3.${i + 1}` }));
    await sleep(80);
    exporter.exporter.child.kill('SIGTERM');
    const answers = await Promise.allSettled(inFlight);
    await exporter.exporter.stop();
    for (const answer of answers) {
      assert.equal(answer.status, 'fulfilled', `an answer under way was cut off: ${answer.status === 'rejected' ? String(answer.reason) : ''}\n${exporter.exporter.output()}`);
      assert.ok(answer.value.complete);
      assert.ok([401, 429].includes(answer.value.status), String(answer.value.status));
    }
    assert.equal(exporter.exporter.child.exitCode, 0, exporter.exporter.output());
  });
});

describe('what a scraper may ask for', () => {
  const workspace = testWorkspace('av-http-formats-');
  const { running } = workspace;

  test('OpenMetrics when asked, as a well-kept parser reads it; Prometheus text otherwise, before and after', async () => {
    const log = join(workspace.path(), 'formats.log');
    await writeFile(log, LINE.repeat(3));
    const exporter = await startExporter(log, ['--start-at', 'beginning'], running);
    await exporter.scrapeUntil('3 parsed lines', (s) => s.get('av_nginx_log_lines_total{result="parsed"}') === 3);

    const open = await rawGet(`${exporter.base}/metrics`, { headers: { accept: PROMETHEUS_ACCEPT } });
    assert.equal(open.status, 200);
    assert.equal(open.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    const parsed = spawnSync('/usr/bin/python3', ['-c', [
      'import json, sys',
      'from prometheus_client.openmetrics.parser import text_string_to_metric_families',
      'families = {f.name: {"type": f.type, "samples": [[s.name, s.labels, repr(float(s.value))] for s in f.samples]} for f in text_string_to_metric_families(sys.stdin.read())}',
      'print(json.dumps(families))',
    ].join('\n')], { input: open.body, encoding: 'utf8' });
    assert.equal(parsed.status, 0, `the OpenMetrics parser refused it: ${parsed.stderr}`);
    // values as Python's repr: 3.0, inf
    const families = JSON.parse(parsed.stdout) as Record<string, { type: string; samples: Array<[string, Record<string, string>, string]> }>;
    assert.equal(families.av_nginx_http_requests?.type, 'counter');
    assert.deepEqual(families.av_nginx_http_requests?.samples.find(([, labels]) => labels.status === '200' && labels.method === 'GET'), ['av_nginx_http_requests_total', { status: '200', method: 'GET' }, '3.0']);
    assert.equal(families.av_nginx_http_request_duration_seconds?.type, 'histogram');
    assert.equal(families.process_cpu_seconds?.type, 'counter');
    assert.deepEqual(families.av_exporter_build_info?.samples, [['av_exporter_build_info', { version: VERSION, nodejs: process.versions.node }, '1.0']]);

    // and the next Prometheus-text scrape keeps its counters' names (prom-client's own switch would not)
    for (const accept of [undefined, 'text/plain;version=0.0.4', '*/*']) {
      const text = await rawGet(`${exporter.base}/metrics`, { headers: accept ? { accept } : {} });
      assert.equal(text.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8', String(accept));
      const body = text.body.toString();
      assert.match(body, /^# TYPE process_cpu_seconds_total counter$/m);
      assert.match(body, /^av_nginx_http_requests_total\{status="200",method="GET"\} 3$/m);
      assert.match(body, new RegExp(`^av_exporter_build_info\\{version="${VERSION.replace(/\./g, '\\.')}",nodejs="${process.versions.node}"\\} 1$`, 'm'));
      assert.doesNotMatch(body, /# EOF/);
    }
  });

  test('gzip when the scraper takes it, plain otherwise', async () => {
    const log = join(workspace.path(), 'gzip.log');
    await writeFile(log, LINE);
    const exporter = await startExporter(log, [], running);
    // the log's totals are exposed from the first poll on (daemon.ts' exposedTotals); a loaded machine may scrape before it
    await exporter.scrapeUntil('the first poll', (s) => s.has(PARSED));
    const plain = await rawGet(`${exporter.base}/metrics`);
    assert.equal(plain.headers['content-encoding'], undefined);
    for (const acceptEncoding of ['gzip', 'deflate, gzip;q=0.8, br', '*']) {
      const zipped = await rawGet(`${exporter.base}/metrics`, { headers: { 'accept-encoding': acceptEncoding } });
      assert.equal(zipped.headers['content-encoding'], 'gzip', acceptEncoding);
      assert.match(String(zipped.headers.vary), /Accept-Encoding/);
      const text = gunzipSync(zipped.body).toString();
      assert.match(text, /^av_nginx_log_lines_total\{result="parsed"\} \d+$/m);
      assert.ok(zipped.body.length < text.length / 3, `${zipped.body.length} bytes zipped of ${text.length}`);
    }
    for (const acceptEncoding of ['gzip;q=0', 'identity', 'br']) {
      const answer = await rawGet(`${exporter.base}/metrics`, { headers: { 'accept-encoding': acceptEncoding } });
      assert.equal(answer.headers['content-encoding'], undefined, acceptEncoding);
      assert.match(answer.body.toString(), /^# HELP /);
    }
  });

  test('--version prints the version of package.json and exits 0, built and from source', () => {
    const built = spawnSync(process.execPath, [EXPORTER, '--version'], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(built.status, 0, built.stderr);
    assert.equal(built.stdout, `av-exporter ${VERSION}\n`);
    const source = spawnSync(process.execPath, ['--import', 'tsx', new URL('../src/main.ts', import.meta.url).pathname, '--version'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(source.status, 0, source.stderr);
    assert.equal(source.stdout, `av-exporter ${VERSION}\n`);
  });
});
