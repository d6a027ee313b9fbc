// Shards of several replicas, as scripts/load.mjs asks them: each shard once, through a replica that was up for
// the whole run (its process started before the run, and it answers), else another of the shard, else the one
// up the longest, said. Real Prometheus processes on loopback (this machine's), started one after the other;
// a replica that does not answer is a port nothing listens on.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { standUrls } from '../scripts/lib/inventory.mjs';
import { freePort } from '../scripts/lib/ports.mjs';
import { chooseReplicas, replicasAsked } from '../scripts/lib/shards.mjs';
import { makeSecrets, prometheusBuilds, startPrometheus } from './support/local-prometheus.mjs';

describe("the replica each shard is asked through (scripts/lib/shards.mjs' chooseReplicas)", () => {
  let work;
  let client;
  let early;
  let late;
  let between;
  let dead;
  let skip = '';

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'av-replicas-'));
    const { builds, missing } = prometheusBuilds(work);
    const [build] = builds.filter((b) => b.binary === '/usr/bin/prometheus');
    if (!build) {
      skip = missing.join('; ');
      return;
    }
    const secretsDir = join(work, 'secrets');
    client = makeSecrets(secretsDir);
    early = await startPrometheus({ build, work, secretsDir, client });
    await sleep(1100); // Prometheus' startTime is in whole seconds at the least
    between = Date.now() / 1000;
    await sleep(1100);
    late = await startPrometheus({ build, work, secretsDir, client });
    dead = `https://127.0.0.1:${await freePort()}/`;
  });
  after(async () => {
    for (const prometheus of [late, early]) await prometheus?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('the first replica up since the run began; one that started since, or does not answer, is passed over and said', async (t) => {
    if (skip) return t.skip(skip);
    const shard = (name, ...replicas) => ({
      name,
      url: replicas[0][1],
      replicas: replicas.map(([n, url]) => ({ name: n, url })),
    });
    const asked = await chooseReplicas(
      client,
      [
        shard('prom1', ['prom1', early.url], ['prom2', late.url]),
        shard('prom3', ['prom3', late.url], ['prom4', early.url]),
        shard('prom5', ['prom5', dead], ['prom6', early.url]),
        { name: 'prom7', url: dead }, // no replicas: as it is, not even asked
      ],
      between,
    );
    assert.deepEqual(
      asked.map(({ name, url, replica }) => [name, url, replica]),
      [
        ['prom1', early.url, 'prom1'],
        ['prom3', early.url, 'prom4'],
        ['prom5', early.url, 'prom6'],
        ['prom7', dead, undefined],
      ],
    );
    assert.equal(asked[0].why, '');
    assert.match(asked[1].why, /^prom3 started at \d{4}-\d\d-\d\dT[\d:.]+Z, after the run began$/);
    assert.match(asked[2].why, /^prom5 does not answer \(ECONNREFUSED\)$/);
    assert.match(
      replicasAsked(asked),
      /^replicas asked: shard prom1 through prom1, shard prom3 through prom4 \(prom3 started at \S+, after the run began\), shard prom5 through prom6 \(prom5 does not answer \(ECONNREFUSED\)\)$/,
    );
    assert.equal(replicasAsked([{ name: 'prom1', url: early.url }]), null, 'without replicas, nothing to say');
  });

  test('none up for the whole run: the one up the longest that answers, said; none answering is an error that names them', async (t) => {
    if (skip) return t.skip(skip);
    const [asked] = await chooseReplicas(
      client,
      [
        {
          name: 'prom1',
          url: dead,
          replicas: [
            { name: 'prom1', url: dead },
            { name: 'prom2', url: late.url },
          ],
        },
      ],
      between - 60,
    );
    assert.equal(asked.replica, 'prom2');
    assert.match(
      asked.why,
      /^none was up for the whole run \(prom1 does not answer \(ECONNREFUSED\); prom2 started at \S+, after the run began\): its answers may miss samples$/,
    );
    await assert.rejects(
      chooseReplicas(client, [{ name: 'prom1', url: dead, replicas: [{ name: 'prom1', url: dead }] }], between),
      /^Error: no replica of the shard prom1 answers: prom1 does not answer \(ECONNREFUSED\)$/,
    );
  });
});

describe("the stand's Prometheus URLs with replicas (standUrls)", () => {
  test('a shard of several replicas is one entry, named after its first, with every replica; a shard of one is as before', () => {
    const host = (name, address) => ({ name, address, vars: { stand_prometheus_port: 9090, stand_nginx_port: 80 } });
    const prometheus = ['10', '11', '12', '13'].map((n, i) => host(`prom${i + 1}`, `10.0.0.${n}`));
    const url = (n) => `https://10.0.0.${n}:9090/`;
    const inventory = (shards) => ({
      nginx: [host('web1', '10.0.0.21')],
      prometheus,
      victoriametrics: [],
      model: { shards },
    });
    assert.deepEqual(
      standUrls(
        inventory([
          { name: 'prom1', hosts: ['prom1', 'prom2'] },
          { name: 'prom3', hosts: ['prom3', 'prom4'] },
        ]),
      ).prometheus,
      [
        {
          name: 'prom1',
          url: url(10),
          replicas: [
            { name: 'prom1', url: url(10) },
            { name: 'prom2', url: url(11) },
          ],
        },
        {
          name: 'prom3',
          url: url(12),
          replicas: [
            { name: 'prom3', url: url(12) },
            { name: 'prom4', url: url(13) },
          ],
        },
      ],
    );
    assert.deepEqual(
      standUrls(inventory(prometheus.map((h) => ({ name: h.name, hosts: [h.name] })))).prometheus,
      [10, 11, 12, 13].map((n, i) => ({ name: `prom${i + 1}`, url: url(n) })),
    );
  });
});
