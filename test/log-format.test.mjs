// nginx's JSON access log as the nginx role renders it, written by the real nginx on loopback: every
// line parses with JSON.parse, for the default field lists, an empty string list and other lists; and the
// role's preflight refuses a numeric field that nginx may write as "-" or as a list, and a log without a
// field that av-exporter or the load report reads (naming it and what reads it).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { freePort } from '../scripts/lib/ports.mjs';
import { pollUntil } from '../scripts/lib/wait.mjs';
import { EXAMPLE_INVENTORY, ROOT, renderConfigs, tool } from './support/ansible.mjs';

/** Renders the site with these field lists, runs nginx with it, sends `requests`; resolves with the log's lines. */
async function logLinesWith(fields, requests) {
  const work = await mkdtemp(join(tmpdir(), 'av-log-format-'));
  const [port, statusPort] = [await freePort(), await freePort()];
  const rendered = await renderConfigs(EXAMPLE_INVENTORY, {
    ...fields,
    stand_nginx_port: port,
    stand_stub_status_url: `http://127.0.0.1:${statusPort}/stub_status`,
    stand_demo_service_listen: `127.0.0.1:${await freePort()}`, // nothing listens: /api/ answers 502, with upstream fields
    stand_access_log_path: join(work, 'access.log'),
    nginx_site_root: work,
  });
  const temp = (name) => join(work, name);
  await writeFile(
    temp('nginx.conf'),
    `pid ${temp('nginx.pid')};
error_log ${temp('error.log')};
daemon off;
events {}
http {
  include /etc/nginx/mime.types;
  client_body_temp_path ${temp('body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  include ${join(rendered, 'web1/av-stand.conf')};
}
`,
  );
  const nginx = spawn('nginx', ['-c', temp('nginx.conf'), '-p', work], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  nginx.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => nginx.once('exit', resolve));
  try {
    const answered = () =>
      fetch(`http://127.0.0.1:${port}/`).then(
        () => true,
        () => false,
      );
    let up = false;
    await pollUntil(async () => (up = await answered()) || nginx.exitCode !== null, {
      seconds: 5,
      intervalMs: 100,
      onTimeout: () => false,
    });
    if (!up)
      throw new Error(`nginx did not start:\n${output}${await readFile(temp('error.log'), 'utf8').catch(() => '')}`);
    for (const { path, headers } of requests)
      await (await fetch(`http://127.0.0.1:${port}${path}`, { headers })).arrayBuffer();
    // nginx logs a request after it has answered it: on a busy machine the last line may come a moment later
    let lines = [];
    await pollUntil(
      async () => (lines = (await readFile(temp('access.log'), 'utf8')).trimEnd().split('\n')).length > requests.length,
      { seconds: 5, intervalMs: 100, onTimeout: () => false },
    );
    return lines.slice(1); // the first is the start-up probe
  } finally {
    nginx.kill('SIGQUIT');
    await exited;
    await rm(work, { recursive: true, force: true });
    await rm(rendered, { recursive: true, force: true });
  }
}

const ODD_REFERER = 'http://example.test/a"b\\c/{}';

describe("nginx's JSON access log, as rendered", () => {
  test('with the default fields: every line parses, numbers are numbers, upstream times are strings', async () => {
    const lines = await logLinesWith({}, [{ path: '/missing' }, { path: '/api/work' }, { path: '/a"b?c=\\' }]);
    assert.equal(lines.length, 3);
    const records = lines.map((line) => JSON.parse(line));
    assert.deepEqual(Object.keys(records[0]), [
      'msec',
      'status',
      'body_bytes_sent',
      'request_time',
      'time_iso8601',
      'remote_addr',
      'request_method',
      'request_uri',
      'upstream_response_time',
      'upstream_addr',
      'http_user_agent',
    ]);
    assert.deepEqual(
      records.map((r) => r.status),
      [404, 502, 404],
    );
    for (const r of records)
      for (const field of ['msec', 'status', 'body_bytes_sent', 'request_time'])
        assert.equal(typeof r[field], 'number', field);
    assert.equal(records[0].upstream_response_time, '');
    assert.match(records[1].upstream_response_time, /^\d+\.\d{3}$/);
    assert.equal(records[2].request_uri, '/a%22b?c=\\');
  });

  test('with no string fields: no trailing comma, every line parses', async () => {
    const lines = await logLinesWith(
      { stand_access_log_numeric_fields: ['msec', 'status', 'request_time'], stand_access_log_string_fields: [] },
      [{ path: '/missing' }],
    );
    assert.deepEqual(Object.keys(JSON.parse(lines[0])), ['msec', 'status', 'request_time']);
  });

  test('with only string fields, and with other lists: every line parses, values escaped', async () => {
    const onlyStrings = await logLinesWith(
      { stand_access_log_numeric_fields: [], stand_access_log_string_fields: ['status', 'request_time'] },
      [{ path: '/missing' }],
    );
    assert.equal(JSON.parse(onlyStrings[0]).status, '404');
    const other = await logLinesWith(
      {
        stand_access_log_numeric_fields: ['status', 'request_time', 'bytes_sent', 'request_length', 'connection'],
        stand_access_log_string_fields: ['http_referer', 'request_method', 'upstream_status'],
      },
      [{ path: '/missing', headers: { referer: ODD_REFERER } }, { path: '/api/work' }],
    );
    const [missing, api] = other.map((line) => JSON.parse(line));
    assert.equal(missing.http_referer, ODD_REFERER);
    assert.equal(typeof missing.bytes_sent, 'number');
    assert.equal(api.upstream_status, '502');
  });
});

describe("the nginx role's preflight on the log's fields", () => {
  async function preflight(fields) {
    const work = await mkdtemp(join(tmpdir(), 'av-preflight-'));
    const playbook = join(work, 'preflight.yml');
    await writeFile(
      playbook,
      `- hosts: localhost
  connection: local
  gather_facts: false
  vars_files: [${ROOT}roles/stand/defaults/main.yml, ${ROOT}roles/nginx/defaults/main.yml, ${ROOT}roles/nginx/vars/main.yml]
  tasks:
    - ansible.builtin.include_tasks: ${ROOT}roles/nginx/tasks/preflight.yml
`,
    );
    await writeFile(join(work, 'vars.json'), JSON.stringify(fields));
    try {
      return await tool('ansible-playbook', ['-i', 'localhost,', playbook, '-e', `@${join(work, 'vars.json')}`]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  test('passes the defaults', async () => {
    assert.match(await preflight({}), /failed=0/);
  });

  test('refuses upstream_response_time among the numeric fields, and says where it belongs', async () => {
    const error = await preflight({
      stand_access_log_numeric_fields: ['msec', 'status', 'request_time', 'upstream_response_time'],
    }).then(
      () => null,
      (e) => e,
    );
    assert.ok(error, 'the preflight passed');
    assert.match(
      error.output,
      /nginx_access_log_numeric_fields \(stand_access_log_numeric_fields in the stand\) has upstream_response_time: nginx may write it as \\?"-\\?" or as a list/,
    );
    assert.match(error.output, /Move it to nginx_access_log_string_fields \(stand_access_log_string_fields\)/);
  });

  test('refuses a field twice, and a name that is no nginx variable', async () => {
    for (const fields of [
      {
        stand_access_log_numeric_fields: ['msec', 'status', 'request_time'],
        stand_access_log_string_fields: ['http_user_agent', 'status'],
      },
      { stand_access_log_string_fields: ['http_user_agent', '$remote_addr'] },
    ]) {
      const error = await preflight(fields).then(
        () => null,
        (e) => e,
      );
      assert.ok(error, `the preflight passed ${JSON.stringify(fields)}`);
      assert.match(
        error.output,
        /Each field of the access log must come once and be an nginx variable name without \$/,
      );
    }
  });

  test('refuses a log without a field that av-exporter or the load report reads, naming it and what reads it', async () => {
    const shared = parseYaml(await readFile(join(ROOT, 'roles/stand/defaults/main.yml'), 'utf8'));
    const without = (...fields) => ({
      stand_access_log_numeric_fields: shared.stand_access_log_numeric_fields.filter((f) => !fields.includes(f)),
      stand_access_log_string_fields: shared.stand_access_log_string_fields.filter((f) => !fields.includes(f)),
    });
    const readers = {
      msec: /msec: scripts\/load\.mjs bisects the log on it to find the run's lines/,
      http_user_agent:
        /http_user_agent: scripts\/load\.mjs tells the run's lines from all others by siege's User-Agent/,
      status: /status: av-exporter counts the requests by it \(av_nginx_http_requests_total\)/,
      request_time:
        /request_time: av-exporter's latency histogram is made of it, and so is scripts\/load\.mjs's exact p99/,
    };
    for (const [field, reader] of Object.entries(readers)) {
      const error = await preflight(without(field)).then(
        () => null,
        (e) => e,
      );
      assert.ok(error, `the preflight passed a log without ${field}`);
      assert.match(error.output, new RegExp(`The access log lacks ${field}, which is read from it\\.`));
      assert.match(error.output, reader);
      for (const other of Object.keys(readers).filter((f) => f !== field))
        assert.doesNotMatch(error.output, new RegExp(`${other}: `), `${other} named too`);
    }
    const error = await preflight(without('msec', 'http_user_agent')).then(
      () => null,
      (e) => e,
    );
    assert.ok(error, 'the preflight passed a log without msec and http_user_agent');
    assert.match(error.output, /The access log lacks msec, http_user_agent, which are read from it\./);
    assert.match(error.output, readers.msec);
    assert.match(error.output, readers.http_user_agent);
  });
});
