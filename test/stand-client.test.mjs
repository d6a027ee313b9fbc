// The stand's one client (scripts/lib/stand-client.mjs), against servers on loopback: its secrets, its
// requests with the stand's user, Prometheus' API through it.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { activeTargets } from '../scripts/lib/prometheus-api.mjs';
import { secretsDirOf, standClient } from '../scripts/lib/stand-client.mjs';

const secretsDir = () => {
  const dir = mkdtempSync(`${tmpdir()}/stand-secrets-`);
  writeFileSync(`${dir}/ca.crt`, 'not used over plain HTTP\n');
  writeFileSync(`${dir}/admin.password`, 's3cret\n');
  return dir;
};

describe('the stand client', () => {
  let server;
  let base;
  const seen = [];
  before(async () => {
    server = createServer((request, response) => {
      seen.push({ url: request.url, authorization: request.headers.authorization });
      const url = new URL(request.url, 'http://x');
      const body =
        url.pathname === '/api/v1/query'
          ? {
              status: 'success',
              data: {
                result:
                  url.searchParams.get('query') === 'up'
                    ? [{ metric: {}, value: [1, '1'] }]
                    : [
                        { metric: { status: '200' }, value: [1, '5'] },
                        { metric: { status: '404' }, value: [1, '2'] },
                      ],
              },
            }
          : {
              status: 'success',
              data: {
                activeTargets: [
                  { labels: { job: 'av_exporter', instance: 'web2' } },
                  { labels: { job: 'node', instance: 'web1' } },
                  { labels: { job: 'av_exporter', instance: 'web1' } },
                ],
              },
            };
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(body));
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (server.address()).port}/`;
  });
  after(() => server.close());

  test("made once from the secrets beside the inventory; the stand's user on every request", async () => {
    const client = standClient({ secretsDir: secretsDir() });
    assert.equal(client.secrets.user, 'admin');
    assert.equal(client.secrets.password, 's3cret');
    assert.equal(client.authorization, `Basic ${Buffer.from('admin:s3cret').toString('base64')}`);
    const response = await client.get(`${base}x`);
    assert.equal(response.status, 200);
    assert.equal(seen.at(-1).authorization, client.authorization);
    await client.get(`${base}y`, { credentials: false });
    assert.equal(seen.at(-1).authorization, undefined);
    assert.equal(secretsDirOf('/srv/inventory/lab/hosts.yml'), '/srv/inventory/lab/secrets');
  });

  test("Prometheus' API through it: a value, values by label, a job's targets", async () => {
    const client = standClient({ secretsDir: secretsDir() });
    const api = client.prometheus(base);
    assert.equal(await api.scalarQuery('up', 100), 1);
    assert.deepEqual(await api.byLabel('sum by (status) (x)', 'status', 100), { 200: 5, 404: 2 });
    assert.deepEqual(await api.answer('sum by (status) (x)', 'status', 100), { 200: 5, 404: 2 });
    assert.equal(new URL(seen.at(-1).url, base).searchParams.get('time'), '100');
    assert.deepEqual(await api.targetInstances('av_exporter'), ['web1', 'web2']);
    assert.equal((await activeTargets(base, client)).length, 3);
    assert.throws(() => activeTargets(base), /the stand's client is needed/);
  });

  test('no secrets: an error that says what makes them', () => {
    assert.throws(
      () => standClient({ secretsDir: '/nonexistent/secrets' }),
      /^Error: no \/nonexistent\/secrets\/ca\.crt or \/nonexistent\/secrets\/admin\.password: the stand's CA and password are made by ansible-playbook site\.yml/,
    );
  });
});
