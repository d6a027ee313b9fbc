// Real programs on loopback: Debian's nginx writes its JSON access log, the built exporter follows it,
// requests are sent, and Debian's Prometheus scrapes the exporter. Checks the per-status counts are
// exact and the PromQL p99 is within max(5 %, 1 ms) of the exact p99 of the logged request times.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  EXPORTER, fetchText, freePort, parseExposition, startProgram, temporaryDirectory, waitFor, type RunningProgram,
} from './support/real-programs.js';

const LOG_FORMAT =
  `'{"msec":$msec,"status":$status,"request_method":"$request_method","request_uri":"$request_uri",' ` +
  `'"request_time":$request_time,"upstream_response_time":"$upstream_response_time","body_bytes_sent":$body_bytes_sent}'`;

function nginxConfig(dir: string, port: number, demoPort: number): string {
  return `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 512; }
http {
  log_format av_json escape=json ${LOG_FORMAT};
  access_log ${dir}/access.json.log av_json;
  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;
  server {
    listen 127.0.0.1:${port};
    root ${dir}/html;
    location = /old { return 301 /; }
    location /api/ { proxy_pass http://127.0.0.1:${demoPort}; }
  }
}`;
}

/** Requests sent and how nginx answered, as the client saw it. */
const sentByStatus = new Map<number, number>();

async function send(base: string, path: string, method = 'GET'): Promise<void> {
  const response = await fetch(base + path, { method, redirect: 'manual' });
  await response.arrayBuffer();
  sentByStatus.set(response.status, (sentByStatus.get(response.status) ?? 0) + 1);
}

async function sendMix(base: string, total: number, concurrency: number): Promise<void> {
  const paths = ['/', '/missing', '/old', '/api/work', '/api/work', '/api/work', '/api/fast'];
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      await send(base, paths[i % paths.length]!, i % 11 === 0 ? 'HEAD' : 'GET');
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

describe('nginx → av-exporter → Prometheus, on loopback', () => {
  let dir: { path: string; remove: () => Promise<void> };
  const programs: RunningProgram[] = [];
  let nginxBase = '';
  let metricsUrl = '';
  let prometheusUrl = '';

  before(async () => {
    dir = await temporaryDirectory('av-integration-');
    await chmod(dir.path, 0o755); // nginx's workers run as an unprivileged user and serve html/ from here
    const [nginxPort, metricsPort, demoPort, prometheusPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    await mkdir(join(dir.path, 'html'));
    await mkdir(join(dir.path, 'tmp'));
    await writeFile(join(dir.path, 'html', 'index.html'), '<h1>stand</h1>\n');
    await writeFile(join(dir.path, 'nginx.conf'), nginxConfig(dir.path, nginxPort, demoPort));
    execFileSync('nginx', ['-t', '-q', '-p', dir.path, '-c', join(dir.path, 'nginx.conf')]);
    programs.push(startProgram('nginx', 'nginx', ['-p', dir.path, '-c', join(dir.path, 'nginx.conf'), '-g', 'daemon off;']));
    nginxBase = `http://127.0.0.1:${nginxPort}`;

    programs.push(startProgram('av-demo', process.execPath, [
      EXPORTER, '--mode', 'demo', '--demo-listen', `127.0.0.1:${demoPort}`,
      '--demo-latency-median-seconds', '0.02', '--demo-latency-sigma', '1.0',
    ]));
    // from the beginning: every request nginx logs counts, even one logged before the exporter's first poll
    programs.push(startProgram('av-exporter', process.execPath, [
      EXPORTER, '--log-file', join(dir.path, 'access.json.log'), '--listen', `127.0.0.1:${metricsPort}`,
      '--positions-file', join(dir.path, 'state.json'), '--start-at', 'beginning', '--poll-interval-ms', '50',
    ]));
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;

    await writeFile(join(dir.path, 'prometheus.yml'), [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      `  - { job_name: av_exporter, static_configs: [ { targets: ["127.0.0.1:${metricsPort}"] } ] }`,
    ].join('\n'));
    execFileSync('promtool', ['check', 'config', join(dir.path, 'prometheus.yml')]);
    programs.push(startProgram('prometheus', 'prometheus', [
      `--config.file=${join(dir.path, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir.path, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${prometheusPort}`,
    ]));
    prometheusUrl = `http://127.0.0.1:${prometheusPort}`;

    await waitFor('nginx', () => send(nginxBase, '/').then(() => true), 10_000, programs); // counted like every request
    await waitFor('the exporter', () => fetchText(metricsUrl), 10_000, programs);
    // two scrapes before any load: every bucket series then starts at 0 inside the query window
    await waitFor('two scrapes of the exporter', async () => {
      const result = await promQuery(prometheusUrl, 'count_over_time(up{job="av_exporter"}[1m])');
      return Number(result[0]?.value[1]) >= 2 ? true : undefined;
    }, 30_000, programs);
  });

  after(async () => {
    await Promise.all(programs.map((p) => p.stop()));
    await dir.remove();
  });

  test('counts every request nginx answered, per status, exactly', async () => {
    await sendMix(nginxBase, 1400, 16);
    const sent = [...sentByStatus.values()].reduce((a, b) => a + b, 0);
    const samples = await waitFor('the exporter to read every request', async () => {
      const parsed = parseExposition(await fetchText(metricsUrl));
      return parsed.get('av_nginx_log_lines_total{result="parsed"}') === sent ? parsed : undefined;
    }, 20_000, programs);

    const exported = new Map<number, number>();
    for (const [series, value] of samples) {
      const match = /^av_nginx_http_requests_total\{status="(\d+)",method="\w+"\}$/.exec(series);
      if (match && value > 0) exported.set(Number(match[1]), (exported.get(Number(match[1])) ?? 0) + value);
    }
    assert.deepEqual(new Map([...exported].sort()), new Map([...sentByStatus].sort()));
    assert.ok(sentByStatus.has(500) || sentByStatus.has(503), 'the demo service sent no 5xx: the mix is too small');
    assert.equal(samples.get('av_nginx_log_lines_total{result="malformed"}'), 0);
  });

  test('the exporter output passes promtool check metrics', async () => {
    const text = await fetchText(metricsUrl);
    const result = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(result.trim(), '');
    // the process' own metrics under the standard names stock dashboards use; everything else is av_
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes']) {
      assert.match(text, new RegExp(`^${name} `, 'm'));
    }
    const names = new Set([...text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)].map((m) => m[1]!));
    assert.deepEqual([...names].filter((n) => !/^(av_|process_|nodejs_)/.test(n)), []);
  });

  test('PromQL p99 over 5m is within max(5 %, 1 ms) of the exact p99 of the logged request times', async () => {
    const logged = (await readFile(join(dir.path, 'access.json.log'), 'utf8'))
      .split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { request_time: number }).request_time);
    const exact = exactQuantile(logged, 0.99);
    const query = 'histogram_quantile(0.99, sum by (le) (rate(av_nginx_http_request_duration_seconds_bucket[5m])))';
    // wait until Prometheus has scraped the final totals
    const promql = await waitFor('Prometheus to see every request', async () => {
      const count = await promQuery(prometheusUrl, 'sum(av_nginx_http_requests_total)');
      if (Number(count[0]?.value[1]) !== logged.length) return undefined;
      return Number((await promQuery(prometheusUrl, query))[0]?.value[1]);
    }, 20_000, programs);
    const bound = Math.max(0.05 * exact, 0.001);
    console.log(`p99: PromQL ${promql.toFixed(4)} s, exact ${exact.toFixed(4)} s over ${logged.length} requests, error ${((promql / exact - 1) * 100).toFixed(2)} % (bound ±${(bound * 1000).toFixed(1)} ms)`);
    assert.ok(Math.abs(promql - exact) <= bound, `PromQL p99 ${promql} vs exact ${exact}: more than ${bound} apart`);
  });
});

async function promQuery(base: string, query: string): Promise<Array<{ value: [number, string] }>> {
  const body = JSON.parse(await fetchText(`${base}/api/v1/query?query=${encodeURIComponent(query)}`)) as {
    status: string;
    data: { result: Array<{ value: [number, string] }> };
  };
  if (body.status !== 'success') throw new Error(`query ${query} failed`);
  return body.data.result;
}
