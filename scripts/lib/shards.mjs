// The stand's Prometheus as one: with several shards (each scraping its share of the targets), every
// question is asked of each shard and the answers merged. The queries it merges are sums (by a label, or
// by instance and a label), so the merge is a sum too; the p99 is merged from the shards' bucket rates.
// Also each shard's own view (its hosts, its answers, what it costs), for the report and its screenshots.
import { byInstanceAndLabel, byLabel, scalarQuery, targetInstances, waitForScrapeAfter } from './prometheus-api.mjs'

const P99_BUCKETS = 'sum by (le) (rate(av_nginx_http_request_duration_seconds_bucket[5m]))'

/** `shards`: [{ name, url }]. The answers are those of the only shard, or the merge of all of them. */
export function shardedPrometheus(shards) {
  const each = (ask) => Promise.all(shards.map((shard) => ask(shard.url)))
  return {
    shards,
    single: shards.length === 1,
    /** { [label value]: number } of a `sum by (label)` query, summed over the shards. */
    byLabel: async (query, label, time) => sortedKeys(addUp(await each((url) => byLabel(url, query, label, time)))),
    /** { [instance]: { [label value]: number } }: each instance is some shard's; summed, should one be in two. */
    byInstanceAndLabel: async (query, label, time) => {
      const merged = {}
      for (const answer of await each((url) => byInstanceAndLabel(url, query, label, time))) {
        for (const [instance, values] of Object.entries(answer)) merged[instance] = addUp([merged[instance] ?? {}, values])
      }
      return merged
    },
    /** The single value of a `sum(...)` query, summed over the shards; null when no shard has one. */
    sum: async (query, time) => {
      const values = (await each((url) => scalarQuery(url, query, time))).filter((v) => v !== null)
      return values.length === 0 ? null : values.reduce((a, b) => a + b, 0)
    },
    /**
     * The assignment's p99: the query itself with one shard; with several, histogram_quantile over the
     * bucket rates summed across the shards, as Prometheus would compute it over all of them.
     */
    p99: async (query, time) => {
      if (shards.length === 1) return scalarQuery(shards[0].url, query, time)
      const buckets = addUp(await each(async (url) => byLabel(url, P99_BUCKETS, 'le', time)))
      return histogramQuantile(0.99, buckets)
    },
    /**
     * Waits until every shard that scrapes an av-exporter has scraped each after `afterSeconds`; returns
     * the newest of those scrapes' times (see waitForScrapeAfter).
     */
    waitForScrapeAfter: async (afterSeconds) => {
      const scraping = []
      for (const shard of shards) if ((await targetInstances(shard.url, 'av_exporter')).length > 0) scraping.push(shard)
      if (scraping.length === 0) throw new Error(`no Prometheus scrapes av-exporter: check ${shards.map((s) => new URL('targets', s.url)).join(', ')}`)
      return Math.max(...(await Promise.all(scraping.map((shard) => waitForScrapeAfter(shard.url, afterSeconds)))))
    },
  }
}

/**
 * Each shard's own view, at `evaluatedAt`: the av-exporter instances it scrapes, its answers to both
 * questions over them (what its screenshots show), and what it costs: samples ingested per second, head
 * series, CPU seconds per second and per scrape, resident memory, samples per scrape of each job.
 */
export async function eachShardsView(shards, queries, evaluatedAt) {
  const value = (shard, query) => scalarQuery(shard.url, query, evaluatedAt)
  return Promise.all(shards.map(async (shard) => {
    const [instances, p99Seconds, requestsByStatus, samplesPerSecond, headSeries, cpuPerSecond, scrapesPerSecond, residentBytes, samplesByJob] = await Promise.all([
      targetInstances(shard.url, 'av_exporter'),
      value(shard, queries.p99),
      byLabel(shard.url, queries.requests_by_status, 'status', evaluatedAt),
      value(shard, 'sum(rate(prometheus_tsdb_head_samples_appended_total[1m]))'),
      value(shard, 'sum(prometheus_tsdb_head_series)'),
      value(shard, 'sum(rate(process_cpu_seconds_total{job="prometheus"}[1m]))'),
      value(shard, 'sum(rate(prometheus_target_interval_length_seconds_count[1m]))'),
      value(shard, 'sum(process_resident_memory_bytes{job="prometheus"})'),
      byLabel(shard.url, 'avg by (job) (scrape_samples_scraped)', 'job', evaluatedAt),
    ])
    return {
      name: shard.name,
      url: shard.url,
      av_exporter_instances: instances,
      p99_seconds: p99Seconds,
      requests_by_status: requestsByStatus,
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
    }
  }))
}

/** { key: number } objects added up key by key. */
export function addUp(answers) {
  const total = {}
  for (const answer of answers) for (const [key, value] of Object.entries(answer)) total[key] = (total[key] ?? 0) + value
  return total
}

const sortedKeys = (object) => Object.fromEntries(Object.entries(object).sort(([a], [b]) => a.localeCompare(b)))

/**
 * Prometheus' histogram_quantile over cumulative buckets { [le]: count or rate }: the bucket that holds
 * the rank, interpolated linearly inside it; the +Inf bucket answers the highest finite bound. null
 * where Prometheus answers NaN (no +Inf bucket, fewer than two buckets, nothing observed).
 */
export function histogramQuantile(q, bucketsByLe) {
  const buckets = Object.entries(bucketsByLe).map(([le, count]) => ({ upper: le === '+Inf' ? Infinity : Number(le), count })).sort((a, b) => a.upper - b.upper)
  if (buckets.length < 2 || buckets.at(-1).upper !== Infinity) return null
  for (let i = 1; i < buckets.length; i++) buckets[i].count = Math.max(buckets[i].count, buckets[i - 1].count) // as Prometheus: monotonic
  const observed = buckets.at(-1).count
  if (!(observed > 0)) return null
  if (q < 0) return -Infinity
  if (q > 1) return Infinity
  let rank = q * observed
  const b = buckets.findIndex((bucket) => bucket.count >= rank)
  if (b === buckets.length - 1) return buckets.at(-2).upper
  if (b === 0 && buckets[0].upper <= 0) return buckets[0].upper
  let start = 0
  let count = buckets[b].count
  if (b > 0) {
    start = buckets[b - 1].upper
    count -= buckets[b - 1].count
    rank -= buckets[b - 1].count
  }
  return start + (buckets[b].upper - start) * (rank / count)
}
