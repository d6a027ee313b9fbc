// Checks of a stand whose Prometheus hosts are shards of several replicas (stand_prometheus_replicas), for the
// end-to-end test (not a test file itself). Each throws with a message that says what is wrong. The stand's
// client (its CA and user) comes from the inventory, as standClientOf makes it. A lab run would:
//   await checkReplicasScrapeAlike(inventory);
//   const stopped = await stopReplicaDuring(inventory, 'prom2', () => run load.mjs ...);  // one replica down mid-run
//   checkReportAskedAround(results, stopped, inventory); await checkVictoriaMetricsCountsOnce(inventory, results);
import assert from 'node:assert/strict';
import { standUrls } from '../../scripts/lib/inventory.mjs';
import { pollUntil } from '../../scripts/lib/wait.mjs';
import { isReady } from '../support/local-prometheus.mjs';
import { onHosts, standClientOf, standHosts } from './stand-checks.mjs';

const targetKey = (t) =>
  t.labels.service ? `${t.labels.job}/${t.labels.host}/${t.labels.service}` : `${t.labels.job}/${t.labels.instance}`;

/** The shards of several replicas of an inventory's stand: [{ name, replicas: [{ name, url }] }]. */
export async function replicatedShards(inventory) {
  const shards = standUrls(await standHosts(inventory)).prometheus.filter((shard) => shard.replicas);
  assert.ok(shards.length > 0, `${inventory}: no shard has several replicas (stand_prometheus_replicas)`);
  return shards.map(({ name, replicas }) => ({ name, replicas }));
}

/**
 * Every replica of each shard scrapes the same targets, its shard's share as the resolved stand has it, and
 * all of them are up (retried for up to 90 s). Resolves with { [shard]: number of targets }.
 */
export async function checkReplicasScrapeAlike(inventory) {
  const hosts = await standHosts(inventory);
  const client = await standClientOf(inventory);
  const counts = {};
  for (const shard of await replicatedShards(inventory)) {
    const expected = [...hosts.targets[shard.replicas[0].name]].sort();
    let seen = [];
    const alike = async () => {
      seen = await Promise.all(
        shard.replicas.map(async (replica) => ({
          replica: replica.name,
          targets: await client
            .prometheus(replica.url)
            .activeTargets()
            .catch(() => []),
        })),
      );
      return seen.every(
        ({ targets }) =>
          targets.map(targetKey).sort().join() === expected.join() && targets.every((t) => t.health === 'up'),
      );
    };
    if (!(await pollUntil(alike, { seconds: 90, intervalMs: 2000, onTimeout: () => false }))) {
      const lines = seen.flatMap(({ replica, targets }) =>
        targets.map((t) => `${replica}: ${targetKey(t)} ${t.health} ${t.lastError}`),
      );
      assert.fail(
        `the replicas of shard ${shard.name} (${shard.replicas.map((r) => r.name).join(', ')}) should each scrape ${expected.length} targets, all up (${expected.join(', ')}); they scrape:\n${lines.join('\n')}`,
      );
    }
    for (const replica of shard.replicas)
      assert.deepEqual(
        hosts.targets[replica.name].slice().sort(),
        expected,
        `the resolved stand gives ${replica.name} another share than its shard's`,
      );
    counts[shard.name] = expected.length;
  }
  return counts;
}

/**
 * Stops Prometheus on the replica `host` once `afterMs` of `run` (a promise-returning function: load.mjs) has
 * passed, lets the run finish, then starts it again and waits until it is ready (it answers 503 while it
 * replays its WAL), as the phases after it expect. Resolves with { host, url, shard, result: run's answer }.
 */
export async function stopReplicaDuring(inventory, host, run, { afterMs = 30_000 } = {}) {
  const shard = (await replicatedShards(inventory)).find((s) => s.replicas.some((r) => r.name === host));
  assert.ok(shard, `${host} is not a replica of a shard of several`);
  const { url } = shard.replicas.find((r) => r.name === host);
  const running = run();
  const stopping = new Promise((resolve) => setTimeout(resolve, afterMs)).then(() =>
    onHosts(inventory, host, 'systemctl stop prometheus'),
  );
  try {
    const [result] = await Promise.all([running, stopping]);
    return { host, url, shard: shard.name, result };
  } finally {
    await stopping.catch(() => null);
    await onHosts(inventory, host, 'systemctl start prometheus');
    const client = await standClientOf(inventory);
    await pollUntil(() => isReady(client, url), {
      seconds: 120,
      intervalMs: 500,
      what: `${host}'s Prometheus ready again (${url}-/ready)`,
    });
  }
}

/**
 * The report of a run during which a replica stopped (stopReplicaDuring's answer) asked its shard through
 * another replica, never the stopped one, and asked every shard once.
 */
export async function checkReportAskedAround(results, stopped, inventory) {
  const shards = standUrls(await standHosts(inventory)).prometheus;
  const asked = results.prometheus.split(', ');
  assert.equal(asked.length, shards.length, `results.json: prometheus ${results.prometheus}: one URL per shard`);
  assert.ok(!asked.includes(stopped.url), `the report asked ${stopped.host} (${stopped.url}), stopped during the run`);
  const fellows = shards.find((s) => s.name === stopped.shard).replicas.filter((r) => r.name !== stopped.host);
  assert.ok(
    fellows.some((r) => asked.includes(r.url)),
    `shard ${stopped.shard} was not asked through a fellow of ${stopped.host} (${fellows.map((r) => r.url).join(', ')}): ${results.prometheus}`,
  );
}

/**
 * VictoriaMetrics holds each series once though every replica writes it: no series carries a `replica` label;
 * it holds as many av-exporter series as one replica of each shard together; and its own counters grew in the
 * window by exactly what Prometheus' did (results.json's window_requests_by_status), not twice that.
 */
export async function checkVictoriaMetricsCountsOnce(inventory, results) {
  const client = await standClientOf(inventory);
  const urls = standUrls(await standHosts(inventory));
  assert.ok(urls.victoriametrics, `${inventory}: no VictoriaMetrics host`);
  const vm = client.prometheus(urls.victoriametrics, { name: 'VictoriaMetrics', params: { nocache: '1' } });
  const withReplica = await vm.instantQuery('count({replica!=""})');
  assert.deepEqual(withReplica, [], 'VictoriaMetrics holds series with a replica label: the remote_write keeps it');
  const series = 'count(av_nginx_log_lines_total)';
  const perShard = await Promise.all(
    urls.prometheus.map((shard) => client.prometheus(shard.replicas?.[0].url ?? shard.url).scalarQuery(series)),
  );
  // the shards as they are now: an earlier layout's series (another shard label) stay in its 5 min look-back
  const current = `count(av_nginx_log_lines_total{shard=~"${urls.prometheus.map((shard) => shard.name).join('|')}"})`;
  assert.equal(
    await vm.scalarQuery(current),
    perShard.reduce((a, b) => a + (b ?? 0), 0),
    `VictoriaMetrics' ${current} vs the shards' ${series} (one replica each, ${perShard.join(' + ')})`,
  );
  assert.deepEqual(
    results.victoriametrics.window_requests_by_status,
    results.window_requests_by_status,
    "VictoriaMetrics' counters grew by other numbers than Prometheus' in the window: the replicas' samples are counted twice, or lost",
  );
}
