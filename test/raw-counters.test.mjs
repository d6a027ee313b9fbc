// The raw request counters the report's exact counts come from (scripts/lib/questions.mjs' RAW_COUNTERS), read
// at an instant when one av-exporter was down: a real Prometheus (this machine's) scraping two real av-exporters
// on loopback, one of which is stopped. Its scrapes fail, Prometheus marks its series stale, and a bare selector
// at that instant leaves its requests out: a window starting then would count them all again as growth.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RAW_COUNTERS } from '../scripts/lib/questions.mjs';
import { shardedPrometheus } from '../scripts/lib/shards.mjs';
import { pollUntil } from '../scripts/lib/wait.mjs';
import {
  debian12Build,
  DEBIAN12_MISSING,
  makeSecrets,
  startAvExporters,
  startPrometheus,
  waitForData,
} from './support/local-prometheus.mjs';

const LINES_BEFORE = 60;
const LINES_AFTER = 10;
const total = (byStatus) => Object.values(byStatus).reduce((a, b) => a + b, 0);

describe('the raw request counters at an instant when an av-exporter is down', () => {
  let work;
  let client;
  let logs;
  let prometheus;
  let skip = '';

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'av-raw-counters-'));
    const build = debian12Build();
    if (!build) {
      skip = DEBIAN12_MISSING;
      return;
    }
    const secretsDir = join(work, 'secrets');
    client = makeSecrets(secretsDir);
    logs = await startAvExporters(work, 2);
    logs.write(LINES_BEFORE);
    prometheus = await startPrometheus({ build, work, secretsDir, client, exporters: logs.exporters });
  });
  after(async () => {
    await prometheus?.stop();
    await logs?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test("hold its last value: its requests are not counted again as growth since, and the bare selector's would be", async (t) => {
    if (skip) return t.skip(skip);
    const stand = shardedPrometheus(client, [{ name: 'prom1', url: prometheus.url }]);
    const counted = (query, time) => stand.byLabel(query, 'status', time).then(total);
    const bare = 'sum by (status) (av_nginx_http_requests_total)';
    await pollUntil(async () => (await counted(bare, Date.now() / 1000)) === 2 * LINES_BEFORE, {
      seconds: 20,
      what: `${2 * LINES_BEFORE} requests in Prometheus`,
    });

    const [web1, web2] = logs.exporters;
    await web1.stop();
    await waitForData(client, prometheus.url, `up{instance="${web1.name}"} == 0`);
    await sleep(1500); // past the failed scrape that marked its series stale
    const whileDown = Date.now() / 1000;
    logs.write(LINES_AFTER);
    await waitForData(
      client,
      prometheus.url,
      `sum(av_nginx_http_requests_total{instance="${web2.name}"}) == ${LINES_BEFORE + LINES_AFTER}`,
    );
    const later = Date.now() / 1000;

    assert.equal(await counted(bare, whileDown), LINES_BEFORE, "the test's premise: the bare selector misses web1");
    assert.equal(await counted(RAW_COUNTERS.stand, whileDown), 2 * LINES_BEFORE);
    assert.equal(await counted(RAW_COUNTERS.stand, later), 2 * LINES_BEFORE + LINES_AFTER);
    const byHost = await stand.byInstanceAndLabel(RAW_COUNTERS.byHost, 'status', later);
    assert.deepEqual(Object.fromEntries(Object.entries(byHost).map(([host, byStatus]) => [host, total(byStatus)])), {
      [web1.name]: LINES_BEFORE,
      [web2.name]: LINES_BEFORE + LINES_AFTER,
    });
  });
});
