// The built exporter with --web-config: HTTPS with a certificate from a test CA, basic auth on every path,
// the configured headers; and --check-config loading the certificate and key.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { PARSED } from './support/exporter-process.js';
import { EXPORTER, freePort, parseExposition, startProgram, temporaryDirectory, waitFor, type RunningProgram } from './support/real-programs.js';
import { makeTlsFiles, type TlsFiles } from './support/tls-files.js';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  protocol: string | null;
}

interface Ask {
  /** user:password, sent as Basic credentials */
  auth?: string;
  authorization?: string;
  /** CA to verify the server with; null: the system's CAs only */
  ca?: Buffer | null;
  /** The client's own address (a loopback one): a wrong password pauses checks from its address for a second. */
  from?: string;
}

let nextAddress = 10;
/** A loopback address no earlier request came from. */
function freshAddress(): string {
  return `127.0.0.${nextAddress++}`;
}

describe('the exporter behind a web config', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let tls: TlsFiles;
  let port: number;
  let exporter: RunningProgram;
  const running: RunningProgram[] = [];

  function get(path: string, { auth, authorization, ca = tls.caPem, from }: Ask = {}): Promise<Answer> {
    const headers = authorization ? { authorization } : auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {};
    return new Promise((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path, headers, agent: false, timeout: 5000, ...(ca ? { ca } : {}), ...(from ? { localAddress: from } : {}) }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, protocol: (res.socket as TLSSocket).getProtocol?.() ?? null }));
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
  }

  before(async () => {
    dir = await temporaryDirectory('av-web-');
    tls = makeTlsFiles(dir.path);
    const hash = bcrypt.hashSync('scrape-secret', 10).replace(/^\$2b\$/, '$2y$'); // htpasswd writes $2y$
    // relative paths: relative to the web config's directory, not to the exporter's working directory
    await writeFile(join(dir.path, 'web.yml'), [
      'tls_server_config:', '  cert_file: server.crt', '  key_file: server.key', '  min_version: TLS12',
      'basic_auth_users:', `  prometheus: ${hash}`,
      'http_server_config:', '  headers:', '    X-Content-Type-Options: nosniff',
    ].join('\n') + '\n');
    const log = join(dir.path, 'access.log');
    await writeFile(log, '{"status":200,"request_time":0.004,"request_method":"GET"}\n{"status":404,"request_time":0.001,"request_method":"GET"}\n');
    port = await freePort();
    exporter = startProgram('av-exporter', process.execPath, [
      EXPORTER, '--log-file', log, '--listen', `127.0.0.1:${port}`, '--poll-interval-ms', '20', '--start-at', 'beginning',
      '--web-config', join(dir.path, 'web.yml'),
    ]);
    running.push(exporter);
    await waitFor('the exporter to answer over HTTPS', async () => {
      const answer = await get('/metrics', { auth: 'prometheus:scrape-secret' });
      return parseExposition(answer.body).get(PARSED) === 2 ? answer : undefined;
    }, 10_000, [exporter]);
  });
  after(async () => {
    await Promise.all(running.map((p) => p.stop('SIGKILL')));
    await dir.remove();
  });

  test('plain HTTP to the port gets no answer', async () => {
    const plain = new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: 5000 }, (res) => resolve(res.statusCode ?? 0));
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end();
    });
    await assert.rejects(plain, (error: Error) => !/timed out/.test(error.message));
  });

  test('the certificate verifies against the test CA, and not without it', async () => {
    const answer = await get('/metrics', { auth: 'prometheus:scrape-secret' });
    assert.equal(answer.status, 200);
    assert.match(answer.protocol ?? '', /^TLSv1\.[23]$/);
    await assert.rejects(get('/metrics', { auth: 'prometheus:scrape-secret', ca: null }), (error: NodeJS.ErrnoException) => error.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  test('without credentials every path answers 401 with WWW-Authenticate', async () => {
    for (const path of ['/metrics', '/healthz', '/', '/nope']) {
      const answer = await get(path);
      assert.equal(answer.status, 401, path);
      assert.equal(answer.headers['www-authenticate'], 'Basic realm="av-exporter"', path);
      assert.equal(answer.headers['x-content-type-options'], 'nosniff', path);
      assert.match(answer.body, /^401 Unauthorized/, path);
      assert.ok(answer.body.length < 100, path);
      assert.ok(!answer.body.includes('av_nginx'), path);
    }
  });

  test('a wrong password, an unknown user or malformed credentials answer 401', async () => {
    const asks: Ask[] = [
      { auth: 'prometheus:wrong' }, { auth: 'prometheus:scrape-secret ' }, { auth: 'admin:scrape-secret' }, { auth: 'prometheus' },
      { authorization: 'Bearer scrape-secret' }, { authorization: 'Basic !!!' },
    ];
    for (const ask of asks) {
      const answer = await get('/metrics', { ...ask, from: freshAddress() });
      assert.equal(answer.status, 401, JSON.stringify(ask));
      assert.equal(answer.headers['www-authenticate'], 'Basic realm="av-exporter"');
    }
  });

  test('the right password answers 200 with the metrics, and the header of the web config', async () => {
    const answer = await get('/metrics', { auth: 'prometheus:scrape-secret' });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['x-content-type-options'], 'nosniff');
    assert.match(answer.headers['content-type'] ?? '', /^text\/plain/);
    const samples = parseExposition(answer.body);
    assert.equal(samples.get(PARSED), 2);
    assert.equal(samples.get('av_nginx_http_requests_total{status="404",method="GET"}'), 1);
  });

  test('/healthz and / need the credentials too, and answer with them', async () => {
    const health = await get('/healthz', { auth: 'prometheus:scrape-secret' });
    assert.equal(health.status, 200);
    assert.equal(JSON.parse(health.body).ok, true);
    assert.equal((await get('/', { auth: 'prometheus:scrape-secret' })).status, 200);
    assert.equal((await get('/healthz', { auth: 'prometheus:nope', from: freshAddress() })).status, 401);
  });

  test('the log names the web config and never a password', () => {
    assert.match(exporter.output(), /web config \S+web\.yml: HTTPS \(\S+server\.crt, from TLSv1\.2\), basic auth for 1 user, headers X-Content-Type-Options/);
    assert.match(exporter.output(), /metrics listening on 127\.0\.0\.1:\d+ \(HTTPS\)/);
    assert.ok(!exporter.output().includes('scrape-secret'));
  });

  test('--check-config loads the web config: a key that is not the certificate\'s fails there', async () => {
    const check = (web: string) => spawnSync(process.execPath, [EXPORTER, '--check-config', '--log-file', '/x.log', '--web-config', web], { encoding: 'utf8' });
    const good = check(join(dir.path, 'web.yml'));
    assert.equal(good.status, 0, good.stderr);
    assert.match(good.stdout, /options OK: .*\(HTTPS \(\S+server\.crt, from TLSv1\.2\), basic auth for 1 user/);

    const mismatched = join(dir.path, 'mismatched.yml');
    await writeFile(mismatched, 'tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n');
    const bad = check(mismatched);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^av-exporter: tls_server_config in \S+mismatched\.yml, line 1, column 1: cert_file "\S+server\.crt" and key_file "\S+other\.key" are not a usable certificate and key: /);

    const missing = check(join(dir.path, 'none.yml'));
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^av-exporter: web config file \S+none\.yml: ENOENT/);
  });
});
