// Shards of several replicas, as scripts/load.mjs asks them: each shard once, through a replica that was up for
// the whole run (its process started before the run, and it answers), else another of the shard, else the one
// up the longest, said. Real Prometheus processes on loopback (this machine's), started one after the other;
// a replica that does not answer is a port nothing listens on. And two replicas' remote_write, relabelled as
// the role renders it, into VictoriaMetrics with and without -dedup.minScrapeInterval.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { standUrls } from '../scripts/lib/inventory.mjs';
import { freePort } from '../scripts/lib/ports.mjs';
import { chooseReplicas, replicasAsked, sumThroughAnswering } from '../scripts/lib/shards.mjs';
import { currentShards } from '../scripts/lib/victoriametrics.mjs';
import { writeFileSync } from 'node:fs';
import {
  debian12Build,
  DEBIAN12_MISSING,
  makeSecrets,
  prometheusBuilds,
  startPrometheus,
  startProcess,
  victoriaMetricsBinary,
} from './support/local-prometheus.mjs';

describe("the replica each shard is asked through (scripts/lib/shards.mjs' chooseReplicas, sumThroughAnswering)", () => {
  let work;
  let client;
  let early;
  let late;
  let between;
  let dead;
  let skip = '';

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'av-replicas-'));
    const build = debian12Build();
    if (!build) {
      skip = DEBIAN12_MISSING;
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

  test('a shard whose first replica is stopped is asked through the next; one with none answering makes it unknown', async (t) => {
    if (skip) return t.skip(skip);
    const replicated = (first, second) => ({
      name: 'prom1',
      url: first,
      replicas: [
        { name: 'prom1', url: first },
        { name: 'prom2', url: second },
      ],
    });
    const alone = { name: 'prom3', url: early.url };
    assert.equal(await sumThroughAnswering(client, [replicated(dead, early.url), alone], 'sum(vector(2))'), 4);
    assert.equal(await sumThroughAnswering(client, [replicated(early.url, dead)], 'sum(vector(3))'), 3);
    assert.equal(await sumThroughAnswering(client, [replicated(dead, dead), alone], 'sum(vector(2))'), null);
    assert.equal(await sumThroughAnswering(client, [alone], 'sum(absent_series_of_no_one)'), null, 'no value anywhere');
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

describe("VictoriaMetrics' series of the shards as they are now (currentShards)", () => {
  test("the shards' names, escaped for PromQL's regex in a string, and no label at all", () => {
    assert.equal(currentShards(['prom1', 'prom3']), '{shard=~"prom1|prom3|"}');
    assert.equal(currentShards(['mon.example']), '{shard=~"mon\\\\.example|"}');
  });
});

describe("two replicas' remote_write into VictoriaMetrics, on loopback, with each Prometheus build here", () => {
  // what role prometheus renders with replicas (test/sharded-configs.test.mjs checks it is this)
  const DROP_REPLICA = [{ action: 'labeldrop', regex: 'replica' }];
  const INTERVAL = 2;
  const work = mkdtempSync(join(tmpdir(), 'av-replicas-write-'));
  const { builds, missing } = prometheusBuilds(work);
  const vm = victoriaMetricsBinary(work);
  after(() => rmSync(work, { recursive: true, force: true }));

  /** Two VictoriaMetrics (with and without deduplication) and two replicas of `build` writing to both; their URLs and a stop(). */
  async function replicasWriting(build, dir) {
    const running = [];
    const start = async (name, command, args, port, path) => {
      const url = `http://127.0.0.1:${port}/`;
      const ready = async () => (await fetch(new URL(path, url)).catch(() => null))?.status === 200;
      running.push(await startProcess(name, command, args, ready, { cwd: dir }));
      return url;
    };
    const stop = async () => {
      for (const proc of running.reverse()) await proc.stop();
    };
    try {
      const victoriaMetrics = async (name, extra) => {
        const port = await freePort();
        const args = [
          `-storageDataPath=${join(dir, name)}`,
          `-httpListenAddr=127.0.0.1:${port}`,
          '-search.latencyOffset=0s',
        ];
        return start(name, vm, [...args, ...extra], port, 'health');
      };
      const deduplicated = await victoriaMetrics('vm-dedup', [`-dedup.minScrapeInterval=${INTERVAL}s`]);
      const plain = await victoriaMetrics('vm-plain', []);
      for (const replica of ['prom1', 'prom2']) {
        const port = await freePort();
        const config = {
          global: { scrape_interval: `${INTERVAL}s`, external_labels: { shard: 'prom1', replica } },
          scrape_configs: [
            {
              job_name: 'victoriametrics',
              static_configs: [{ targets: [new URL(plain).host], labels: { instance: 'vm1' } }],
            },
          ],
          remote_write: [deduplicated, plain].map((url) => ({
            url: new URL('api/v1/write', url).href,
            write_relabel_configs: DROP_REPLICA,
          })),
        };
        writeFileSync(join(dir, `${replica}.yml`), JSON.stringify(config));
        const args = [
          `--config.file=${join(dir, `${replica}.yml`)}`,
          `--storage.tsdb.path=${join(dir, replica)}`,
          `--web.listen-address=127.0.0.1:${port}`,
        ];
        await start(`Prometheus ${build.version} ${replica}`, build.binary, args, port, '-/ready');
      }
      return { deduplicated, plain, stop };
    } catch (error) {
      await stop();
      throw error;
    }
  }

  for (const build of builds) {
    test(`${build.name}: the replica label is dropped on the way (write_relabel_configs sees the external labels), and -dedup.minScrapeInterval keeps one replica's sample per interval`, async (t) => {
      if (!vm) return t.skip('no VictoriaMetrics binary here, nor its .deb in the lab cache');
      const { deduplicated, plain, stop } = await replicasWriting(build, mkdtempSync(join(work, 'run-')));
      try {
        await sleep(12 * INTERVAL * 1000 + 3000); // twelve intervals of both replicas' scrapes, and their delivery
        const query = async (url, promql) => {
          // seconds back: what both replicas have delivered by now (remote_write sends every 5 s at the least)
          const time = Date.now() / 1000 - 8;
          const response = await fetch(`${url}api/v1/query?nocache=1&time=${time}&query=${encodeURIComponent(promql)}`);
          return (await response.json()).data.result;
        };
        const samples = `count_over_time(up{job="victoriametrics"}[${6 * INTERVAL}s])`;
        for (const url of [deduplicated, plain]) {
          assert.deepEqual(await query(url, 'count({replica!=""})'), [], `${url}: a series with a replica label`);
          const [series, ...more] = await query(url, samples);
          assert.deepEqual(more, [], 'the replicas write one series');
          assert.deepEqual(series.metric, { job: 'victoriametrics', instance: 'vm1', shard: 'prom1' });
        }
        const [kept] = await query(deduplicated, samples);
        const [both] = await query(plain, samples);
        // six intervals: one sample each kept (one fewer or more at the window's edges); about twice that without
        const [n, twice] = [Number(kept.value[1]), Number(both.value[1])];
        assert.ok(n >= 5 && n <= 7 && twice >= 1.6 * n, `deduplicated: ${n} samples; without deduplication: ${twice}`);
      } finally {
        await stop();
      }
    });
  }
  test('every Prometheus build is here', (t) => {
    if (missing.length > 0) t.skip(missing.join('; '));
  });
});
