// The web config file (--web-config): what is read from it, and an error naming the file, the key and the
// value for everything av-exporter does not do or cannot use. Also the password check and its cache.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import bcrypt from 'bcryptjs';
import { OptionError } from '../src/options.js';
import { BcryptWorkers } from '../src/bcrypt-workers.js';
import { PasswordChecker } from '../src/web-access.js';
import { loadWebConfig } from '../src/web-config.js';
import { temporaryDirectory } from './support/real-programs.js';
import { makeTlsFiles } from './support/tls-files.js';

const HASH = bcrypt.hashSync('right password', 4);

describe('web config', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let count = 0;
  /** Writes `text` as a web config file beside the test certificate and key, returns its path. */
  const webConfig = async (text: string) => {
    const file = join(dir.path, `web-${++count}.yml`);
    await writeFile(file, text);
    return file;
  };
  const TLS = 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n';

  before(async () => {
    dir = await temporaryDirectory('av-web-config-');
    makeTlsFiles(dir.path);
  });
  after(() => dir.remove());

  test('reads TLS with paths relative to the file, users, headers; TLS 1.2 at least by default', async () => {
    const file = await webConfig(`${TLS}basic_auth_users:\n  admin: "${HASH}"\n  prometheus: "${HASH.replace('$2b$', '$2y$')}"\n` +
      'http_server_config:\n  http2: false\n  headers:\n    X-Content-Type-Options: nosniff\n    X-Frame-Options: ""\n');
    const web = loadWebConfig(file);
    assert.equal(web.tls?.certFile, join(dir.path, 'server.crt'));
    assert.equal(web.tls?.keyFile, join(dir.path, 'server.key'));
    assert.equal(web.tls?.minVersion, 'TLSv1.2');
    assert.deepEqual([...web.users.keys()], ['admin', 'prometheus']);
    assert.deepEqual(web.headers, { 'X-Content-Type-Options': 'nosniff' });
  });

  test('min_version and an explicit NoClientCert', async () => {
    const web = loadWebConfig(await webConfig(`${TLS}  min_version: TLS13\n  client_auth_type: NoClientCert\n`));
    assert.equal(web.tls?.minVersion, 'TLSv1.3');
    assert.equal(web.users.size, 0);
  });

  test('an empty file, or basic auth alone, means plain HTTP', async () => {
    assert.equal(loadWebConfig(await webConfig('')).tls, null);
    const web = loadWebConfig(await webConfig(`basic_auth_users:\n  admin: "${HASH}"\n`));
    assert.equal(web.tls, null);
    assert.equal(web.users.get('admin'), HASH);
  });

  const errors: Array<[string, string, RegExp]> = [
    ['a file that is not a mapping', '- tls_server_config\n', /^web config file \S+, line \d+, column \d+: expected a mapping, got \["tls_server_config"\]$/],
    ['an unknown top-level key', 'tls_config: {}\n', /^web config file \S+, line \d+, column \d+: unknown key "tls_config" \(known: tls_server_config, basic_auth_users, http_server_config\)$/],
    ['rate_limit', 'rate_limit:\n  interval: 1s\n', /^rate_limit in \S+, line \d+, column \d+: not supported by av-exporter \(no rate limiting\), got \{"interval":"1s"\}$/],
    ['an unknown TLS key', `${TLS}  certfile: x.crt\n`, /^web config file \S+, line \d+, column \d+: unknown key "tls_server_config.certfile" \(known: cert_file, key_file, min_version, client_auth_type\)$/],
    ['tls_server_config without key_file', 'tls_server_config:\n  cert_file: server.crt\n', /^tls_server_config\.key_file in \S+, line \d+, column \d+: missing: tls_server_config needs cert_file and key_file$/],
    ['an empty tls_server_config', 'tls_server_config:\n', /^tls_server_config\.cert_file in \S+, line \d+, column \d+: missing: tls_server_config needs cert_file and key_file$/],
    ['a cert_file that is not a string', 'tls_server_config:\n  cert_file: [a]\n  key_file: server.key\n', /^tls_server_config\.cert_file in \S+, line \d+, column \d+: expected a file name, got \["a"\]$/],
    ['an unreadable cert_file', 'tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n', /^tls_server_config\.cert_file in \S+, line \d+, column \d+: cannot read "nope\.crt": ENOENT: no such file or directory, open '\S+\/nope\.crt'$/],
    ['a key that is not the certificate\'s', 'tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n', /^tls_server_config in \S+, line \d+, column \d+: cert_file "\S+\/server\.crt" and key_file "\S+\/other\.key" are not a usable certificate and key: .*key values mismatch/],
    ['a certificate file that holds no certificate', 'tls_server_config:\n  cert_file: server.ext\n  key_file: server.key\n', /^tls_server_config in \S+, line \d+, column \d+: cert_file "\S+\/server\.ext" and key_file "\S+\/server\.key" are not a usable certificate and key: /],
    ['an unknown min_version', `${TLS}  min_version: TLS14\n`, /^tls_server_config\.min_version in \S+, line \d+, column \d+: expected TLS10, TLS11, TLS12, TLS13, got "TLS14"$/],
    ['client certificates', `${TLS}  client_auth_type: RequireAndVerifyClientCert\n`, /^tls_server_config\.client_auth_type in \S+, line \d+, column \d+: not supported by av-exporter \(av-exporter checks no client certificates\): only NoClientCert is accepted, got "RequireAndVerifyClientCert"$/],
    ['an unknown client_auth_type', `${TLS}  client_auth_type: Sometimes\n`, /^tls_server_config\.client_auth_type in \S+, line \d+, column \d+: expected NoClientCert \(the only one av-exporter supports\), got "Sometimes"$/],
    ['client_ca_file', `${TLS}  client_ca_file: ca.crt\n`, /^tls_server_config\.client_ca_file in \S+, line \d+, column \d+: not supported by av-exporter \(av-exporter checks no client certificates\), got "ca\.crt"$/],
    ['max_version', `${TLS}  max_version: TLS12\n`, /^tls_server_config\.max_version in \S+, line \d+, column \d+: not supported by av-exporter \(.*\), got "TLS12"$/],
    ['a bcrypt hash that is not one', 'basic_auth_users:\n  admin: "$6$salt$abc"\n', /^basic_auth_users\.admin in \S+, line \d+, column \d+: expected a bcrypt hash \(\$2a\$, \$2b\$ or \$2y\$, .*\), got a string of 11 characters starting "\$6\$" \(not shown: it may be a secret\)$/],
    ['a hash that is a number', 'basic_auth_users:\n  admin: 123456\n', /^basic_auth_users\.admin in \S+, line \d+, column \d+: expected a bcrypt hash .*, got a number$/],
    ['a truncated bcrypt hash', `basic_auth_users:\n  admin: "${HASH.slice(0, 40)}"\n`, /^basic_auth_users\.admin in \S+, line \d+, column \d+: expected a bcrypt hash .*, got a string of 40 characters starting "\$2b\$"/],
    ['a user name with a colon', `basic_auth_users:\n  "ad:min": "${HASH}"\n`, /^basic_auth_users\.ad:min in \S+, line \d+, column \d+: a user name cannot contain ":" \(Basic credentials are user:password\), got "ad:min"$/],
    ['basic_auth_users as a list', 'basic_auth_users:\n  - admin\n', /^basic_auth_users in \S+, line \d+, column \d+: expected a mapping, got \["admin"\]$/],
    ['a header exporter-toolkit does not set', 'http_server_config:\n  headers:\n    Server: nginx\n', /^web config file \S+, line \d+, column \d+: unknown header "Server" in http_server_config\.headers \(known: Content-Security-Policy, X-Frame-Options, /],
    ['a bad X-Frame-Options', 'http_server_config:\n  headers:\n    X-Frame-Options: allow\n', /^http_server_config\.headers\.X-Frame-Options in \S+, line \d+, column \d+: expected deny or sameorigin \(or blank\), got "allow"$/],
    ['a header value on two lines', 'http_server_config:\n  headers:\n    Content-Security-Policy: "a\\nb"\n', /^http_server_config\.headers\.Content-Security-Policy in \S+, line \d+, column \d+: expected a one-line string, got "a\\nb"$/],
    ['an unknown http_server_config key', 'http_server_config:\n  header: {}\n', /^web config file \S+, line \d+, column \d+: unknown key "http_server_config.header" \(known: headers, http2\)$/],
    ['HTTP/2', 'http_server_config:\n  http2: true\n', /^http_server_config\.http2 in \S+, line \d+, column \d+: not supported by av-exporter \(it serves HTTP\/1\.1\): only false is accepted, got true$/],
  ];
  for (const [name, text, message] of errors) {
    test(`rejects ${name}`, async () => {
      const file = await webConfig(text);
      assert.throws(() => loadWebConfig(file), (error: Error) => {
        assert.ok(error instanceof OptionError, error.message);
        assert.match(error.message, message);
        assert.ok(error.message.includes(file), `names the file: ${error.message}`);
        return true;
      });
    });
  }

  test('never shows a password or an inline key it refuses', async () => {
    for (const text of ['basic_auth_users:\n  admin: hunter2-plain\n', `${TLS}  key: "-----BEGIN PRIVATE KEY----- hunter2-plain"\n`]) {
      const file = await webConfig(text);
      assert.throws(() => loadWebConfig(file), (error: Error) => /not shown: it may be a secret/.test(error.message) && !error.message.includes('hunter2'));
    }
  });

  test('a missing file is an error', () => {
    assert.throws(() => loadWebConfig(join(dir.path, 'none.yml')), (error: Error) => error instanceof OptionError && /^web config file \S+none\.yml: ENOENT/.test(error.message));
  });
});

describe('the password check', () => {
  test('a wrong password pauses checks from its address only, and a remembered success is never held up', async (t) => {
    const workers = new BcryptWorkers(1);
    t.after(() => workers.close());
    const checker = new PasswordChecker(new Map([['admin', bcrypt.hashSync('right password', 4)]]), workers);
    assert.equal(await checker.check('admin', 'right password', '10.0.0.1'), 'accepted');
    assert.equal(await checker.check('admin', 'wrong', '10.0.0.2'), 'refused');
    assert.equal(await checker.check('admin', 'other wrong', '10.0.0.2'), 'busy', 'no bcrypt for an address that just sent a wrong password');
    assert.equal(await checker.check('nobody', 'x', '10.0.0.3'), 'refused', 'another address is checked');
    assert.equal(await checker.check('admin', 'right password', '10.0.0.2'), 'accepted', 'a remembered success needs no check');
  });


  test('accepts the right password only, the same for a known and an unknown user, and remembers a success', async (t) => {
    const workers = new BcryptWorkers(1);
    t.after(() => workers.close());
    const checker = new PasswordChecker(new Map([['admin', bcrypt.hashSync('right password', 10)]]), workers);
    let client = 0;
    // each from its own address: a wrong password pauses its address's checks for a second
    const check = async (user: string, password: string) => (await checker.check(user, password, `10.0.0.${++client}`)) === 'accepted';
    const timed = async (user: string, password: string) => {
      const start = process.hrtime.bigint();
      const ok = await check(user, password);
      return { ok, ms: Number(process.hrtime.bigint() - start) / 1e6 };
    };
    await check('admin', 'warm-up'); // the first check also starts the worker thread
    const wrong = await timed('admin', 'wrong password');
    const unknown = await timed('nobody', 'right password');
    const first = await timed('admin', 'right password');
    const cached = await timed('admin', 'right password');
    assert.deepEqual([wrong.ok, unknown.ok, first.ok, cached.ok], [false, false, true, true]);
    assert.equal(await check('admin', 'right passwor'), false);
    assert.equal(await check('admin', 'right password '), false);
    assert.equal(await check('Admin', 'right password'), false);
    // both refusals paid one bcrypt of the same cost: no telling whether the user exists
    assert.ok(unknown.ms > wrong.ms / 3 && unknown.ms < wrong.ms * 3, `unknown user ${unknown.ms} ms vs wrong password ${wrong.ms} ms`);
    assert.ok(cached.ms < first.ms / 10, `cached ${cached.ms} ms vs bcrypt ${first.ms} ms`);
    t.diagnostic(`cost 10: bcrypt check ${first.ms.toFixed(1)} ms, wrong password ${wrong.ms.toFixed(1)} ms, unknown user ${unknown.ms.toFixed(1)} ms, cached check ${cached.ms.toFixed(3)} ms`);
  });
});
