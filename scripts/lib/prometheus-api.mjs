// The few calls to Prometheus' HTTP API the scripts and the e2e checks make (VictoriaMetrics answers the
// same API), over a stand client's HTTPS (stand-client.mjs: its CA and user).
// `engine`: { name, params } for another engine than Prometheus: its name in errors, extra query parameters.
import { pollUntil } from './wait.mjs';

export const PROMETHEUS = { name: 'Prometheus', params: {} };

/** The API of the Prometheus (or VictoriaMetrics) at `base`, asked through `client` (its getJson and secrets). */
export function prometheusApi(client, base, engine = PROMETHEUS) {
  const api = {
    base,
    engine,

    /** The result vector of an instant query at `timeSeconds` (now when undefined). */
    async instantQuery(query, timeSeconds) {
      const url = new URL('api/v1/query', base);
      url.searchParams.set('query', query);
      if (timeSeconds !== undefined) url.searchParams.set('time', String(timeSeconds));
      for (const [key, value] of Object.entries(engine.params)) url.searchParams.set(key, value);
      let response;
      try {
        response = await client.getJson(url.href);
      } catch (error) {
        throw new Error(
          `${engine.name} does not answer at ${base} (${error.code ?? error.message}): is it running on its host?`,
        );
      }
      const { status, body } = response;
      if (status === 401)
        throw new Error(
          `${engine.name} at ${base} refused the stand's user (HTTP 401): is the password in ${client.secrets.passwordFile} the one site.yml set?`,
        );
      if (status !== 200 || body?.status !== 'success') {
        throw new Error(
          `${engine.name} could not evaluate ${query} (HTTP ${status}): ${body?.error ?? 'no JSON answer'}`,
        );
      }
      return body.data.result;
    },

    /** The single value of a query, or null when it has no result. */
    async scalarQuery(query, timeSeconds) {
      const [first] = await api.instantQuery(query, timeSeconds);
      return first ? Number(first.value[1]) : null;
    },

    /** { [label value]: number } of a query that returns one series per value of `label`. */
    async byLabel(query, label, timeSeconds) {
      const result = await api.instantQuery(query, timeSeconds);
      return Object.fromEntries(
        result.map((series) => [series.metric[label], Number(series.value[1])]).sort(([a], [b]) => a.localeCompare(b)),
      );
    },

    /** A query's answer in the shape its `label` gives: a number (no label), or { [label value]: number }. */
    answer: (query, label, timeSeconds) =>
      label ? api.byLabel(query, label, timeSeconds) : api.scalarQuery(query, timeSeconds),

    /** { [instance]: { [label value]: number } } of a query that returns one series per instance and value of `label`. */
    async byInstanceAndLabel(query, label, timeSeconds) {
      const nested = {};
      for (const series of await api.instantQuery(query, timeSeconds)) {
        const instance = series.metric.instance;
        nested[instance] ??= {};
        nested[instance][series.metric[label]] = Number(series.value[1]);
      }
      return nested;
    },

    /**
     * Waits until every av-exporter target has been scraped after `afterSeconds` (Unix time); returns the
     * newest of those scrapes' times. The lines nginx logged before `afterSeconds` are then in Prometheus
     * (av-exporter reads its log within a poll interval, 250 ms by default), and a query at the returned
     * time sees, for every target, a scrape after `afterSeconds`: at the oldest one, a target scraped
     * later would still show its scrape from before.
     */
    async waitForScrapeAfter(afterSeconds, timeoutMs = 90_000) {
      let oldest = null;
      const scrapedAfter = async () => {
        oldest = await api.scalarQuery('min(timestamp(av_nginx_log_lines_total))');
        return oldest !== null && oldest > afterSeconds;
      };
      await pollUntil(scrapedAfter, {
        seconds: timeoutMs / 1000,
        intervalMs: 1000,
        onTimeout: () => {
          throw new Error(
            oldest === null
              ? `Prometheus has no av_nginx_log_lines_total: it does not scrape av-exporter (check ${new URL('targets', base)})`
              : `Prometheus did not scrape av-exporter within ${timeoutMs / 1000} s (last at ${new Date(oldest * 1000).toISOString()}; check ${new URL('targets', base)})`,
          );
        },
      });
      return api.scalarQuery('max(timestamp(av_nginx_log_lines_total))');
    },

    /**
     * Waits until this Prometheus lists a target, for up to `timeoutMs`. Just started (a first site.yml
     * restarts it at its very end) it answers 503 at first, then lists none until its service discovery has
     * run once, a few seconds later. Every shard lists at least itself (job prometheus is on every shard),
     * so an empty list means "not yet"; past the time, the caller says what is missing.
     */
    async waitForDiscovery(timeoutMs = 60_000) {
      const listsOne = async () => (await api.activeTargets().catch(() => [])).length > 0;
      await pollUntil(listsOne, { seconds: timeoutMs / 1000, intervalMs: 1000, onTimeout: () => false });
    },

    /** Prometheus' active targets, as its /api/v1/targets lists them (scraped yet or not, with their health). */
    async activeTargets() {
      const url = new URL('api/v1/targets', base);
      url.searchParams.set('state', 'active');
      const { status, body } = await client.getJson(url.href).catch((error) => {
        throw new Error(
          `Prometheus does not answer at ${base} (${error.code ?? error.message}): is it running on its host?`,
        );
      });
      if (status !== 200 || body?.status !== 'success')
        throw new Error(`Prometheus at ${base} answered ${status} for its targets`);
      return body.data.activeTargets;
    },

    /** The instances of a job's active targets, sorted. */
    async targetInstances(job) {
      return (await api.activeTargets())
        .filter((target) => target.labels.job === job)
        .map((target) => target.labels.instance)
        .sort();
    },
  };
  return api;
}

/**
 * Prometheus' active targets at `base`, asked through the stand's `client`: prometheusApi's, for a caller
 * that has a URL and a client at hand and nothing else.
 */
export function activeTargets(base, client) {
  if (!client?.prometheus)
    throw new TypeError(
      `activeTargets(${base}, client): the stand's client is needed (standClientFor in scripts/lib/stand-client.mjs; standClientOf in test/e2e/stand-checks.mjs)`,
    );
  return client.prometheus(base).activeTargets();
}
