// The stand's Prometheus as one: with several shards (each scraping its share of the targets), every
// question is asked of each shard and the answers merged as its record says (questions.mjs): a sum, or
// histogram_quantile over the shards' bucket rates summed by `le`. Also each shard's own view (its hosts,
// its answers, what it costs), for the report and its screenshots.

/** `shards`: [{ name, url }], asked through the stand's `client`. The answers are those of the only shard, or the merge of all of them. */
export function shardedPrometheus(client, shards) {
  const apis = shards.map((shard) => client.prometheus(shard.url));
  const each = (ask) => Promise.all(apis.map(ask));
  const stand = {
    shards,
    single: shards.length === 1,
    /** { [label value]: number } of a `sum by (label)` query, summed over the shards. */
    byLabel: async (query, label, time) => sortedKeys(addUp(await each((api) => api.byLabel(query, label, time)))),
    /** { [instance]: { [label value]: number } }: each instance is some shard's; summed, should one be in two. */
    byInstanceAndLabel: async (query, label, time) => {
      const merged = {};
      for (const answer of await each((api) => api.byInstanceAndLabel(query, label, time))) {
        for (const [instance, values] of Object.entries(answer))
          merged[instance] = addUp([merged[instance] ?? {}, values]);
      }
      return merged;
    },
    /** The single value of a `sum(...)` query, summed over the shards; null when no shard has one. */
    sum: async (query, time) => sumOfValues(await each((api) => api.scalarQuery(query, time))),
    /**
     * A question's answer (questions.mjs): its own query with one shard; with several, the shards' answers
     * merged as the question says. A quantile is merged from the question's own bucket query, summed across
     * the shards, as Prometheus would compute it over all of them.
     */
    answer: async (question, time) => {
      if (question.merge.kind === 'sum')
        return question.label ? stand.byLabel(question.promql, question.label, time) : stand.sum(question.promql, time);
      if (question.merge.kind !== 'histogram_buckets')
        throw new Error(`the question ${question.name} merges by ${question.merge.kind}: no such merge`);
      if (stand.single) return apis[0].scalarQuery(question.promql, time);
      return histogramQuantile(
        question.quantile,
        addUp(await each((api) => api.byLabel(question.merge.promql, 'le', time))),
      );
    },
    /** A question's answer host by host: { [instance]: answer }. Each host is one shard's, so its answer is that shard's. */
    answerByHost: (question, time) =>
      question.label
        ? stand.byInstanceAndLabel(question.promqlByHost, question.label, time)
        : stand.byLabel(question.promqlByHost, 'instance', time),
    /**
     * Waits until every shard that scrapes an av-exporter has scraped each after `afterSeconds`; returns
     * the newest of those scrapes' times (see waitForScrapeAfter).
     */
    waitForScrapeAfter: async (afterSeconds) => {
      await each((api) => api.waitForDiscovery());
      const scraping = [];
      for (const api of apis) if ((await api.targetInstances('av_exporter')).length > 0) scraping.push(api);
      if (scraping.length === 0)
        throw new Error(
          `no Prometheus scrapes av-exporter: check ${shards.map((s) => new URL('targets', s.url)).join(', ')}`,
        );
      return Math.max(...(await Promise.all(scraping.map((api) => api.waitForScrapeAfter(afterSeconds)))));
    },
  };
  return stand;
}

/** Every Prometheus of `shards` (standUrls' entries): a shard's replicas, or the shard itself. */
export const everyReplica = (shards) => shards.flatMap((shard) => shard.replicas ?? [shard]);

/**
 * Each shard's own view, at `evaluatedAt`: the av-exporter instances it scrapes, its answers to every
 * question over them (what its screenshots show), and what it costs: samples ingested per second, head
 * series, CPU seconds per second and per scrape, resident memory, samples per scrape of each job.
 */
export async function eachShardsView(client, shards, questions, evaluatedAt) {
  return Promise.all(
    shards.map(async (shard) => {
      const api = client.prometheus(shard.url);
      const value = (query) => api.scalarQuery(query, evaluatedAt);
      const [
        instances,
        answers,
        samplesPerSecond,
        headSeries,
        cpuPerSecond,
        scrapesPerSecond,
        residentBytes,
        samplesByJob,
      ] = await Promise.all([
        api.targetInstances('av_exporter'),
        Promise.all(questions.map((question) => api.answer(question.promql, question.label, evaluatedAt))),
        value('sum(rate(prometheus_tsdb_head_samples_appended_total[1m]))'),
        value('sum(prometheus_tsdb_head_series)'),
        value('sum(rate(process_cpu_seconds_total{job="prometheus"}[1m]))'),
        value('sum(rate(prometheus_target_interval_length_seconds_count[1m]))'),
        value('sum(process_resident_memory_bytes{job="prometheus"})'),
        api.byLabel('avg by (job) (scrape_samples_scraped)', 'job', evaluatedAt),
      ]);
      return {
        name: shard.name,
        url: shard.url,
        av_exporter_instances: instances,
        ...Object.fromEntries(questions.map((question, i) => [question.field, answers[i]])),
        costs: {
          samples_per_second: samplesPerSecond,
          head_series: headSeries,
          cpu_seconds_per_second: cpuPerSecond,
          scrapes_per_second: scrapesPerSecond,
          cpu_seconds_per_scrape: cpuPerSecond !== null && scrapesPerSecond ? cpuPerSecond / scrapesPerSecond : null,
          resident_bytes: residentBytes,
          // what one scrape of each kind of target brings: an nginx host is node + nginx + av_exporter
          samples_per_scrape_by_job: samplesByJob,
        },
      };
    }),
  );
}

/**
 * The replica each shard is asked through, once the run is over. `shards`: standUrls' [{ name, url, replicas? }];
 * a shard without replicas is asked as it is. Of a shard's replicas ([{ name, url }], in inventory order), the
 * first that was up for the whole run: it answers now, and its process started before `sinceSeconds` (Unix
 * time; /api/v1/status/runtimeinfo's startTime), so it holds every sample of the run. Failing that, the one up
 * the longest that answers, said in `why`. Resolves with [{ name, url, replica?, why? }]: `replica` the
 * replica's name, `why` what was wrong with those passed over.
 */
export async function chooseReplicas(client, shards, sinceSeconds) {
  return Promise.all(
    shards.map(async (shard) => {
      if (!shard.replicas) return { name: shard.name, url: shard.url };
      const found = await Promise.all(shard.replicas.map((replica) => startedAt(client, replica.url)));
      const passedOver = [];
      for (const [i, replica] of shard.replicas.entries()) {
        if (typeof found[i] === 'number' && found[i] <= sinceSeconds)
          return { name: shard.name, url: replica.url, replica: replica.name, why: passedOver.join('; ') };
        passedOver.push(
          `${replica.name} ${typeof found[i] === 'number' ? `started at ${new Date(found[i] * 1000).toISOString()}, after the run began` : `does not answer (${found[i]})`}`,
        );
      }
      const answering = shard.replicas
        .map((replica, i) => ({ replica, started: found[i] }))
        .filter(({ started }) => typeof started === 'number')
        .sort((a, b) => a.started - b.started);
      if (answering.length === 0)
        throw new Error(`no replica of the shard ${shard.name} answers: ${passedOver.join('; ')}`);
      const { replica } = answering[0];
      return {
        name: shard.name,
        url: replica.url,
        replica: replica.name,
        why: `none was up for the whole run (${passedOver.join('; ')}): its answers may miss samples`,
      };
    }),
  );
}

/**
 * The single value of a `sum(...)` query now, summed over the shards, each asked through the first of its
 * replicas that answers: the live line of a run, which a replica stopping mid-run must not blank. Null when
 * some shard has no replica answering, or none has a value.
 */
export async function sumThroughAnswering(client, shards, query) {
  const NO_ANSWER = Symbol('no answer');
  const perShard = await Promise.all(
    shards.map(async (shard) => {
      for (const { url } of shard.replicas ?? [shard]) {
        const value = await client
          .prometheus(url)
          .scalarQuery(query)
          .catch(() => NO_ANSWER);
        if (value !== NO_ANSWER) return value;
      }
      return NO_ANSWER;
    }),
  );
  return perShard.includes(NO_ANSWER) ? null : sumOfValues(perShard);
}

/** The sum of the shards' values of a `sum(...)` query, those without one (null) left out; null when none has one. */
function sumOfValues(values) {
  const present = values.filter((value) => value !== null);
  return present.length === 0 ? null : present.reduce((a, b) => a + b, 0);
}

/** When the Prometheus at `url` started (Unix seconds), or why it does not say. */
async function startedAt(client, url) {
  try {
    const { status, body } = await client.getJson(new URL('api/v1/status/runtimeinfo', url).href, {
      timeoutMs: 5_000,
    });
    const time = Date.parse(body?.data?.startTime ?? '');
    return status === 200 && Number.isFinite(time) ? time / 1000 : `HTTP ${status}`;
  } catch (error) {
    return error.code ?? error.message;
  }
}

/** One line: which replica each shard with replicas was asked through, and why others were passed over. */
export function replicasAsked(chosen) {
  const replicated = chosen.filter((shard) => shard.replica !== undefined);
  if (replicated.length === 0) return null;
  return `replicas asked: ${replicated.map((shard) => `shard ${shard.name} through ${shard.replica}${shard.why ? ` (${shard.why})` : ''}`).join(', ')}`;
}

/** { key: number } objects added up key by key. */
export function addUp(answers) {
  const total = {};
  for (const answer of answers)
    for (const [key, value] of Object.entries(answer)) total[key] = (total[key] ?? 0) + value;
  return total;
}

const sortedKeys = (object) => Object.fromEntries(Object.entries(object).sort(([a], [b]) => a.localeCompare(b)));

/**
 * Prometheus' histogram_quantile over cumulative buckets { [le]: count or rate }: the bucket that holds
 * the rank, interpolated linearly inside it; the +Inf bucket answers the highest finite bound. null
 * where Prometheus answers NaN (no +Inf bucket, fewer than two buckets, nothing observed).
 */
export function histogramQuantile(q, bucketsByLe) {
  const buckets = Object.entries(bucketsByLe)
    .map(([le, count]) => ({ upper: le === '+Inf' ? Infinity : Number(le), count }))
    .sort((a, b) => a.upper - b.upper);
  if (buckets.length < 2 || buckets.at(-1).upper !== Infinity) return null;
  for (let i = 1; i < buckets.length; i++) buckets[i].count = Math.max(buckets[i].count, buckets[i - 1].count); // as Prometheus: monotonic
  const observed = buckets.at(-1).count;
  if (!(observed > 0)) return null;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  let rank = q * observed;
  const b = buckets.findIndex((bucket) => bucket.count >= rank);
  if (b === buckets.length - 1) return buckets.at(-2).upper;
  if (b === 0 && buckets[0].upper <= 0) return buckets[0].upper;
  let start = 0;
  let count = buckets[b].count;
  if (b > 0) {
    start = buckets[b - 1].upper;
    count -= buckets[b - 1].count;
    rank -= buckets[b - 1].count;
  }
  return start + (buckets[b].upper - start) * (rank / count);
}
