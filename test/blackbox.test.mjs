// The blackbox exporter role's config (roles/blackbox_exporter), rendered by Ansible on the control machine
// with the role's defaults: Debian's prometheus-blackbox-exporter accepts it with the role's own validate
// command, alone (the role's modules and yours, plain HTTP at :9115) and in the stand (the stand's two modules,
// yours beside them, which preflight keeps off the stand's names), and, run as a real process on loopback, the
// stand's two modules probe as the stand needs: http_2xx
// against a real nginx (200: success; a closed port or a redirect: failure), tls_connect against a TLS
// listener whose certificate comes from a throw-away CA (that CA: success, and the certificate's notAfter as
// probe_ssl_earliest_cert_expiry; another CA, after a SIGHUP reload: failure); with the stand's kind of web
// config it answers only HTTPS with the password. Every process is stopped by its pid.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { freePort } from '../scripts/lib/ports.mjs';
import { pollUntil } from '../scripts/lib/wait.mjs';
import { ROOT, tool } from './support/ansible.mjs';
import { makeCa as makeTestCa, makeServerCertificate, openssl as opensslIn } from './support/certificates.mjs';
import { startProcess } from './support/local-prometheus.mjs';

const ROLE = join(ROOT, 'roles/blackbox_exporter');
const ROLE_VARS = parseYaml(readFileSync(join(ROLE, 'vars/main.yml'), 'utf8'));
const EXPORTER = ROLE_VARS._blackbox_exporter_binary; // Debian's, as the role runs it
const work = mkdtempSync(join(tmpdir(), 'av-blackbox-'));
const file = (name) => join(work, name);

const openssl = (args) => opensslIn(work, args);

/** A throw-away CA named `name` (valid 30 days), and, with `server`, a certificate for 127.0.0.1 it signs (10 days). */
function makeCa(name, server = false) {
  const ca = makeTestCa(work, { name, subject: `blackbox test ${name}`, days: 30 });
  if (server) makeServerCertificate(work, { name: 'server', ca, days: 10 });
}

/**
 * A template of the role rendered by Ansible with role stand's values (unless `alone`), the role's defaults
 * and vars, and these values.
 */
async function renderTemplate(template, dest, shared, { alone = false } = {}) {
  const stand = alone ? [] : ['-e', `@${join(ROOT, 'roles/stand/defaults/main.yml')}`];
  const output = await tool('ansible', [
    'localhost',
    '-i',
    'localhost,',
    '-c',
    'local',
    '-m',
    'ansible.builtin.template',
    '-a',
    `src=${join(ROLE, 'templates', template)} dest=${dest} mode=0644`,
    ...stand,
    '-e',
    `@${join(ROLE, 'defaults/main.yml')}`,
    '-e',
    `@${join(ROLE, 'vars/main.yml')}`,
    '-e',
    JSON.stringify(shared),
  ]);
  assert.doesNotMatch(output, /\[WARNING\]/, output);
  return readFileSync(dest, 'utf8');
}

/** The role's preflight, run by Ansible after role stand (unless `alone`) with these values: its output, or its failure's. */
async function preflight(values, { alone = false } = {}) {
  const playbook = file(`preflight-${alone ? 'alone' : 'stand'}.yml`);
  writeFileSync(
    playbook,
    JSON.stringify([
      {
        name: 'Preflight',
        hosts: 'localhost',
        connection: 'local',
        gather_facts: false,
        tasks: [
          ...(alone ? [] : [{ name: 'Role stand', 'ansible.builtin.include_role': { name: 'stand', public: true } }]),
          { name: 'The role', 'ansible.builtin.include_role': { name: ROLE, tasks_from: 'preflight.yml' } },
        ],
      },
    ]),
  );
  return tool('ansible-playbook', ['-i', 'localhost,', playbook, '-e', JSON.stringify(values)]).catch(
    (error) => error.output,
  );
}

/** The role's blackbox.yml.j2, the stand's CA being `caFile`. */
const renderConfig = (dest, caFile) => renderTemplate('blackbox.yml.j2', dest, { stand_web_ca_file: caFile });

/** The role's `validate:` command for the config, as tasks/configure.yml writes it, run on `path`. */
function roleValidate(path) {
  const task = parseYaml(readFileSync(join(ROLE, 'tasks/configure.yml'), 'utf8')).find(
    (t) => t['ansible.builtin.template']?.src === 'blackbox.yml.j2',
  );
  const command = task['ansible.builtin.template'].validate
    .replace('{{ _blackbox_exporter_binary }}', EXPORTER)
    .replace('%s', path);
  assert.doesNotMatch(command, /\{\{/, `the validate command names a variable this test does not know: ${command}`);
  const [program, ...args] = command.split(' ');
  const run = spawnSync(program, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}${run.error ?? ''}` };
}

/** The metrics of one probe, as Prometheus would ask for it: { name: value } (unlabelled series only). */
async function probe(port, module, target) {
  const url = `http://127.0.0.1:${port}/probe?module=${module}&target=${encodeURIComponent(target)}`;
  const response = await fetch(url, { headers: { 'X-Prometheus-Scrape-Timeout-Seconds': '5' } });
  assert.equal(response.status, 200, `${url}: ${await response.clone().text()}`);
  const metrics = {};
  for (const line of (await response.text()).split('\n')) {
    const match = /^([a-z_]+) (\S+)$/.exec(line);
    if (match) metrics[match[1]] = Number(match[2]);
  }
  return metrics;
}

describe('the blackbox exporter role', () => {
  before(() => {
    makeCa('ca', true);
    makeCa('other-ca');
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test("its config, rendered with the role's defaults, passes the role's validate command (the exporter's --config.check)", async () => {
    const text = await renderConfig(file('blackbox.yml'), file('ca.crt'));
    assert.match(text, /^# Ansible managed/m);
    const config = parseYaml(text);
    assert.deepEqual(Object.keys(config.modules), ['http_2xx', 'tls_connect']);
    assert.deepEqual(config.modules.http_2xx.http.valid_status_codes, [200]);
    assert.equal(config.modules.http_2xx.http.follow_redirects, false);
    assert.deepEqual(config.modules.tls_connect, {
      prober: 'tcp',
      tcp: {
        tls: true,
        tls_config: { ca_file: file('ca.crt') },
        preferred_ip_protocol: 'ip4',
        ip_protocol_fallback: true,
      },
    });
    const checked = roleValidate(file('blackbox.yml'));
    assert.ok(checked.ok, checked.output);
    assert.match(checked.output, /Config file is ok/);
    // and the check does refuse a module the exporter cannot read
    writeFileSync(file('broken.yml'), text.replace('valid_status_codes:', 'valid_status_code:'));
    const broken = roleValidate(file('broken.yml'));
    assert.equal(broken.ok, false, broken.output);
    assert.match(broken.output, /field valid_status_code not found/);
  });

  test('its arguments for /etc/default name the config, the shared port and the web config, and the exporter knows every flag', async () => {
    const text = await renderTemplate('prometheus-blackbox-exporter.default.j2', file('default'), {
      stand_blackbox_exporter_port: 9115,
      stand_web_config_file: '/etc/av-stand/web-config.yml',
    });
    const args = /^ARGS="([^"]*)"$/m.exec(text)?.[1];
    assert.equal(
      args,
      '--config.file=/etc/prometheus/blackbox.yml --web.listen-address=:9115 --web.config.file=/etc/av-stand/web-config.yml',
    );
    // kingpin refuses a flag it does not know (or one given twice); the config checked is this test's rendering
    await renderConfig(file('for-flags.yml'), file('ca.crt'));
    const flags = args
      .split(' ')
      .map((flag) => (flag.startsWith('--config.file=') ? `--config.file=${file('for-flags.yml')}` : flag));
    const run = spawnSync(EXPORTER, [...flags, '--config.check'], { encoding: 'utf8' });
    assert.equal(run.status, 0, `${run.stdout}${run.stderr}`);
  });

  const ownModules = {
    ssh_banner: { prober: 'tcp', timeout: '5s', tcp: { query_response: [{ expect: '^SSH-2.0-' }] } },
    http_post_2xx: { prober: 'http', http: { method: 'POST', valid_status_codes: [200, 201] } },
  };

  test("alone (no role stand): the role's modules and your own, checked by the exporter; plain HTTP at :9115", async () => {
    const text = await renderTemplate('blackbox.yml.j2', file('alone.yml'), {}, { alone: true });
    const config = parseYaml(text);
    assert.deepEqual(Object.keys(config.modules), ['http_2xx', 'tls_connect', 'tcp_connect']);
    assert.deepEqual(
      config.modules.tls_connect.tcp,
      { tls: true, preferred_ip_protocol: 'ip4', ip_protocol_fallback: true },
      "the host's CAs, none of the stand's",
    );
    assert.equal(config.modules.http_2xx.http.headers, undefined, "no User-Agent of the stand's");
    assert.doesNotMatch(text, /av-stand/);
    assert.ok(roleValidate(file('alone.yml')).ok);
    const args = await renderTemplate(
      'prometheus-blackbox-exporter.default.j2',
      file('alone-default'),
      {},
      { alone: true },
    );
    assert.equal(
      /^ARGS="([^"]*)"$/m.exec(args)?.[1],
      '--config.file=/etc/prometheus/blackbox.yml --web.listen-address=:9115',
    );

    // yours join the role's, and one named like the role's replaces it whole; the flags of the mapping come after the role's
    const own = parseYaml(
      await renderTemplate(
        'blackbox.yml.j2',
        file('alone-own.yml'),
        {
          blackbox_exporter_configuration_modules: {
            ...ownModules,
            http_2xx: { prober: 'http', http: { valid_status_codes: [200, 301] } },
          },
        },
        { alone: true },
      ),
    );
    assert.deepEqual(Object.keys(own.modules), [
      'http_2xx',
      'tls_connect',
      'tcp_connect',
      'ssh_banner',
      'http_post_2xx',
    ]);
    assert.deepEqual(own.modules.http_2xx, { prober: 'http', http: { valid_status_codes: [200, 301] } });
    assert.deepEqual(own.modules.ssh_banner, ownModules.ssh_banner);
    const checked = roleValidate(file('alone-own.yml'));
    assert.ok(checked.ok, checked.output);
    const flagged = await renderTemplate(
      'prometheus-blackbox-exporter.default.j2',
      file('alone-flags'),
      {
        blackbox_exporter_cli_flags: { 'log.level': 'debug', 'web.systemd-socket': false },
        blackbox_exporter_extra_args: ['--timeout-offset=0.6'],
        blackbox_exporter_web_listen_host: '::1',
        blackbox_exporter_web_config_file: '/etc/blackbox/web.yml',
      },
      { alone: true },
    );
    assert.equal(
      /^ARGS="([^"]*)"$/m.exec(flagged)?.[1],
      '--config.file=/etc/prometheus/blackbox.yml --web.listen-address=[::1]:9115 --web.config.file=/etc/blackbox/web.yml --log.level=debug --timeout-offset=0.6',
    );
    assert.match(
      await preflight({ blackbox_exporter_configuration_modules: { tls_connect: { prober: 'tcp' } } }, { alone: true }),
      /failed=0/,
    );

    // run with it: the role's tcp_connect connects to a listening port, and fails on a closed one
    const [exporterPort, openPort, closedPort] = [await freePort(), await freePort(), await freePort()];
    const listening = createServer((socket) => socket.end()).listen(openPort, '127.0.0.1');
    const exporter = await startProcess(
      'the blackbox exporter',
      EXPORTER,
      [`--config.file=${file('alone-own.yml')}`, `--web.listen-address=127.0.0.1:${exporterPort}`],
      async () => (await fetch(`http://127.0.0.1:${exporterPort}/-/healthy`)).ok,
      { seconds: 10 },
    );
    try {
      assert.equal((await probe(exporterPort, 'tcp_connect', `127.0.0.1:${openPort}`)).probe_success, 1);
      assert.equal((await probe(exporterPort, 'tcp_connect', `127.0.0.1:${closedPort}`)).probe_success, 0);
    } finally {
      await exporter.stop();
      await new Promise((resolve) => listening.close(resolve));
    }
  });

  test("in the stand: its two modules as they are, yours beside them; preflight refuses yours named like the stand's", async () => {
    const standOnly = await renderConfig(file('stand-only.yml'), file('ca.crt'));
    const text = await renderTemplate('blackbox.yml.j2', file('stand-own.yml'), {
      stand_web_ca_file: file('ca.crt'),
      blackbox_exporter_configuration_modules: ownModules,
    });
    const config = parseYaml(text);
    assert.deepEqual(Object.keys(config.modules), ['http_2xx', 'tls_connect', 'ssh_banner', 'http_post_2xx']);
    const stand = parseYaml(standOnly).modules;
    assert.deepEqual({ http_2xx: config.modules.http_2xx, tls_connect: config.modules.tls_connect }, stand);
    const checked = roleValidate(file('stand-own.yml'));
    assert.ok(checked.ok, checked.output);

    assert.match(await preflight({ blackbox_exporter_configuration_modules: ownModules }), /failed=0/);
    const refused = await preflight({
      blackbox_exporter_configuration_modules: { ...ownModules, tls_connect: { prober: 'tcp' } },
    });
    assert.match(refused, /failed=1/);
    assert.match(
      refused,
      /blackbox_exporter_configuration_modules names tls_connect: in the stand, http_2xx and tls_connect are the stand's own modules/,
    );
    assert.match(
      await preflight({ blackbox_exporter_web_listen_address: ':9116' }),
      /set the port through stand_blackbox_exporter_port/,
    );
  });

  test('run on loopback, http_2xx and tls_connect probe a real nginx and a TLS listener as the stand needs', async () => {
    const configFile = file('probing.yml');
    await renderConfig(configFile, file('ca.crt'));
    const [nginxPort, tlsPort, closedPort, exporterPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    writeFileSync(
      file('nginx.conf'),
      `pid ${file('nginx.pid')};
error_log ${file('nginx-error.log')};
daemon off;
events {}
http {
  include /etc/nginx/mime.types;
  log_format agent '$status $http_user_agent';
  access_log ${file('nginx-access.log')} agent;
  client_body_temp_path ${file('body')};
  proxy_temp_path ${file('proxy')};
  fastcgi_temp_path ${file('fastcgi')};
  uwsgi_temp_path ${file('uwsgi')};
  scgi_temp_path ${file('scgi')};
  server {
    listen 127.0.0.1:${nginxPort};
    root ${join(ROOT, 'roles/nginx/files/site')};
    location = /old { return 301 /; }
  }
}
`,
    );
    const running = [];
    const tls = createHttpsServer(
      { cert: readFileSync(file('server.crt')), key: readFileSync(file('server.key')) },
      (req, res) => res.end('ok\n'),
    );
    try {
      running.push(
        await startProcess(
          'nginx',
          'nginx',
          ['-c', file('nginx.conf'), '-p', work],
          async () => (await fetch(`http://127.0.0.1:${nginxPort}/`)).ok,
          { seconds: 10, stopSignal: 'SIGQUIT' },
        ),
      );
      await new Promise((resolve) => tls.listen(tlsPort, '127.0.0.1', () => resolve(null)));
      const exporter = await startProcess(
        'the blackbox exporter',
        EXPORTER,
        [`--config.file=${configFile}`, `--web.listen-address=127.0.0.1:${exporterPort}`],
        async () => (await fetch(`http://127.0.0.1:${exporterPort}/-/healthy`)).ok,
        { seconds: 10 },
      );
      running.push(exporter);

      // the demo site answers 200: success; nothing listening, or a redirect (not followed): failure
      const site = await probe(exporterPort, 'http_2xx', `http://127.0.0.1:${nginxPort}/`);
      assert.equal(site.probe_success, 1, JSON.stringify(site));
      assert.equal(site.probe_http_status_code, 200);
      assert.match(
        readFileSync(file('nginx-access.log'), 'utf8'),
        /^200 av-stand-probe$/m,
        "the probe's own User-Agent in nginx's log",
      );
      assert.equal((await probe(exporterPort, 'http_2xx', `http://127.0.0.1:${closedPort}/`)).probe_success, 0);
      const redirect = await probe(exporterPort, 'http_2xx', `http://127.0.0.1:${nginxPort}/old`);
      assert.equal(redirect.probe_success, 0);
      assert.equal(redirect.probe_http_status_code, 301);

      // the certificate verifies against the stand's CA: success, and its end as the earliest expiry
      const notAfter = openssl(['x509', '-in', 'server.crt', '-noout', '-enddate', '-dateopt', 'iso_8601'])
        .trim()
        .replace(/^notAfter=/, '')
        .replace(' ', 'T');
      const good = await probe(exporterPort, 'tls_connect', `127.0.0.1:${tlsPort}`);
      assert.equal(good.probe_success, 1, JSON.stringify(good));
      assert.equal(good.probe_ssl_earliest_cert_expiry, Date.parse(notAfter) / 1000, `notAfter ${notAfter}`);
      assert.equal((await probe(exporterPort, 'tls_connect', `127.0.0.1:${closedPort}`)).probe_success, 0);

      // the same modules with another CA, loaded by SIGHUP as Debian's unit reloads: the certificate fails
      await renderConfig(configFile, file('other-ca.crt'));
      process.kill(exporter.pid, 'SIGHUP');
      await pollUntil(() => /Reloaded config file/.test(exporter.output()), {
        seconds: 5,
        intervalMs: 100,
        onTimeout: () => assert.fail(`no reload:\n${exporter.output()}`),
      });
      const bad = await probe(exporterPort, 'tls_connect', `127.0.0.1:${tlsPort}`);
      assert.equal(bad.probe_success, 0, JSON.stringify(bad));
      assert.equal(bad.probe_ssl_earliest_cert_expiry, undefined);
      const debug = await (
        await fetch(`http://127.0.0.1:${exporterPort}/probe?module=tls_connect&target=127.0.0.1:${tlsPort}&debug=true`)
      ).text();
      assert.match(debug, /certificate signed by unknown authority/);
    } finally {
      for (const program of running.reverse()) await program.stop();
      await new Promise((resolve) => tls.close(resolve));
    }
  });

  test("serves HTTPS and basic auth with a web config in the stand's format (--web.config.file, as the role runs it)", async () => {
    const hash = execFileSync(
      '/usr/bin/python3',
      ['-c', 'import bcrypt; print(bcrypt.hashpw(b"test-password", bcrypt.gensalt(10)).decode())'],
      { encoding: 'utf8' },
    ).trim();
    writeFileSync(
      file('web-config.yml'),
      `tls_server_config:\n  cert_file: ${file('server.crt')}\n  key_file: ${file('server.key')}\nbasic_auth_users:\n  admin: ${hash}\n`,
    );
    await renderConfig(file('served.yml'), file('ca.crt'));
    const port = await freePort();
    const get = (path, auth) =>
      new Promise((resolve, reject) => {
        httpsGet({ host: '127.0.0.1', port, path, ca: readFileSync(file('ca.crt')), auth }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode));
        }).on('error', reject);
      });
    const exporter = await startProcess(
      'the blackbox exporter',
      EXPORTER,
      [
        `--config.file=${file('served.yml')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        `--web.config.file=${file('web-config.yml')}`,
      ],
      async () => (await get('/-/healthy', 'admin:test-password')) === 200,
      { seconds: 10 },
    );
    try {
      assert.equal(await get('/metrics'), 401);
      assert.equal(await get('/metrics', 'admin:wrong'), 401);
      assert.equal(await get('/metrics', 'admin:test-password'), 200);
      assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 400); // plain HTTP to a TLS port
    } finally {
      await exporter.stop();
    }
  });
});
