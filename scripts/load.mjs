#!/usr/bin/env zx
// The load test and its report: siege against nginx, then the report's questions (scripts/lib/questions.mjs:
// the assignment's p99 and requests per status, and the p50) asked of Prometheus beside their exact answers,
// screenshots of Prometheus showing them, and the exporter's metrics. It measures, assembles results.json
// (scripts/lib/results.mjs), and renders summary.md and index.html from that alone (scripts/lib/render.mjs).
//
//   npx zx scripts/load.mjs [--duration 5m] [--concurrency 10] [--urls scripts/urls.txt]
//                           [--inventory inventory/lab/hosts.yml] [--target URL] [--prometheus URL]
//                           [--victoriametrics URL] [--out report]
//   npx zx scripts/load.mjs --render report/latest    # summary.md and index.html again from results.json
//
// With no arguments it targets the lab (its inventory). Writes report/<UTC time>/ and points report/latest at it.
// With several Prometheus shards, each question is asked of every shard and the answers merged
// (scripts/lib/shards.mjs); a shard of several replicas is asked through one that was up for the whole run.
// With VictoriaMetrics, it is asked there too (scripts/lib/victoriametrics.mjs).
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { $, argv, echo, path, retry, spinner, within } from 'zx';
import { sameCounts } from './lib/exact-answers.mjs';
import { readInventory, standUrls } from './lib/inventory.mjs';
import { accessLogPath, accessLogsSince, checkNginxHosts, exporterMetrics } from './lib/nginx-hosts.mjs';
import { parseOptions, readUrlList, UsageError, USAGE } from './lib/options.mjs';
import { QUESTIONS, RAW_COUNTERS, standCountersOf } from './lib/questions.mjs';
import { writeReportFiles } from './lib/render.mjs';
import { assembleResults } from './lib/results.mjs';
import {
  chooseReplicas,
  eachShardsView,
  everyReplica,
  replicasAsked,
  shardedPrometheus,
  sumThroughAnswering,
} from './lib/shards.mjs';
import { secretsDirOf, standClient } from './lib/stand-client.mjs';
import { currentShards, globalAnswers, victoriaMetricsApi, waitUntilWritten } from './lib/victoriametrics.mjs';
import {
  DASHBOARD_PATH,
  findGraphPage,
  screenshotDashboard,
  screenshotGraph,
  screenshotQuery,
  withBrowser,
} from './lib/screenshot.mjs';
import { runSiege } from './lib/siege.mjs';
import { sayAs } from './lib/say.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LIVE_RATE = 'sum(rate(av_nginx_http_requests_total[30s]))';
const WINDOW_SECONDS = 300;
// a user's pause between requests: up to this, at random (siege --delay)
const DELAY_SECONDS = 0.2;

$.quiet = true;

const say = sayAs('load');
const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;

/** A step that may take a while: a spinner on a terminal, a line before it in a log; a line after it on a terminal. */
async function step(title, work) {
  if (!process.stderr.isTTY) {
    say(title);
    return work();
  }
  const began = Date.now();
  const result = await within(() => {
    $.quiet = false; // spinner() stays silent when quiet; it keeps the commands inside it quiet itself
    return spinner(title, work);
  });
  say(`${title}: ${((Date.now() - began) / 1000).toFixed(0)} s`);
  return result;
}

/**
 * The stand's addresses, from the flags or the inventory, and its client; no inventory when nginx's and
 * Prometheus' URLs are both given without one. `prometheus`: the shards, [{ name, url }]; `victoriametrics`:
 * a URL or null.
 */
function resolveStand(opts) {
  const needsInventory = opts.inventoryGiven || !(opts.targets && opts.prometheus);
  const inventory = needsInventory ? readInventory(opts.inventoryFile) : null;
  const fromInventory = inventory ? standUrls(inventory) : { victoriametrics: null };
  return {
    client: standClient({ inventory, secretsDir: opts.secrets ?? secretsDirOf(opts.inventoryFile) }),
    inventory,
    targets: opts.targets ?? fromInventory.targets,
    prometheus: opts.prometheus ?? fromInventory.prometheus,
    victoriametrics: opts.victoriametrics ?? fromInventory.victoriametrics,
  };
}

async function checkReachable(client, targets, shards, victoriametrics) {
  const status = (url) =>
    fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(5_000) }).then(
      async (response) => {
        await response.arrayBuffer();
        return response.status;
      },
      (error) => error.cause?.code ?? error.name,
    );
  let answer;
  for (const target of targets) {
    await retry(3, '2s', async () => {
      answer = await status(target);
      if (typeof answer !== 'number') throw new Error(answer);
    }).catch(() => {
      throw new Error(
        `nginx does not answer at ${target} (${answer}): is the host up and provisioned (ansible-playbook site.yml), and its port open to this machine?`,
      );
    });
  }
  // the stand's own endpoints: HTTPS with its CA and user, each until it answers 200
  const answersOk = async (url, trouble, unit) => {
    await retry(3, '2s', async () => {
      answer = await client.get(url.href, { timeoutMs: 5_000 }).then(
        (response) => response.status,
        (error) => error.code ?? error.message,
      );
      if (answer !== 200) throw new Error(String(answer));
    }).catch(() => {
      throw new Error(
        `${trouble} (${typeof answer === 'number' ? `HTTP ${answer}` : answer}): check systemctl status ${unit} on its host, and that its port is open to this machine`,
      );
    });
  };
  for (const { url } of everyReplica(shards))
    await answersOk(new URL('-/ready', url), `Prometheus is not ready at ${url}`, 'prometheus');
  if (victoriametrics)
    await answersOk(
      new URL('health', victoriametrics),
      `VictoriaMetrics does not answer at ${victoriametrics}`,
      'victoria-metrics',
    );
}

/**
 * One request per URL before the measured window: each URL answers before siege starts. No series
 * needs creating any more: av-exporter exposes every common status with GET, HEAD and POST at 0 from
 * its start (its --preset-statuses), so increase() sees a run's first 500, 503 or 499 too.
 */
async function warmUp(urls) {
  const headers = { 'user-agent': 'av-load/warm-up' };
  for (const { url, method } of urls) {
    try {
      const response = await fetch(url, { method, redirect: 'manual', headers, signal: AbortSignal.timeout(10_000) });
      await response.arrayBuffer();
    } catch (error) {
      throw new Error(`the warm-up's ${method} ${url} failed: ${error.cause?.code ?? error.message}`);
    }
  }
}

async function main() {
  const opts = parseOptions(argv, ROOT);
  if (opts.help) return echo(USAGE);
  if (opts.render) return renderAgain(opts.render);
  const { client, inventory, targets, prometheus: shards, victoriametrics } = resolveStand(opts);
  // every path on every nginx host: siege picks URLs at random, so the load spreads evenly
  const urls = targets.flatMap((target) => readUrlList(opts.urlsFile, target));
  await checkReachable(client, targets, shards, victoriametrics);
  if (inventory && !opts.accessLog) await checkNginxHosts(client, inventory.nginx);
  const work = await mkdtemp(`${tmpdir()}/av-load-`);
  try {
    const measured = await measure({ opts, client, inventory, targets, shards, victoriametrics, urls, work });
    const results = assembleResults(measured);
    if (measured.logs !== null && results.exact_p99_seconds === null) {
      throw new Error(
        `the access log has no lines in (${results.window.promql_from}, ${results.window.promql_to}]: is it ${opts.accessLog ?? accessLogPath(inventory.nginx[0].vars)}, and are the hosts' clocks in sync?`,
      );
    }

    // written now, before anything that can fail late, and written again when the rest is done
    const stamp = measured.window.end
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z');
    const dir = `${opts.out}/${stamp}`;
    await mkdir(dir, { recursive: true });
    await writeReportFiles(dir, results);
    await pointLatestAt(opts.out, stamp);

    const reportBegan = Date.now();
    // asked while the screenshots wait for the run's last minute
    const exporterText =
      inventory || opts.exporterUrl
        ? exporterMetrics(client, inventory?.nginx ?? [], opts.exporterUrl).then(
            (text) => ({ text, error: null }),
            (error) => ({ text: '', error }),
          )
        : null;
    const shots = await step(
      'screenshots of Prometheus: the questions, graphs of the run (once its last minute is over), the dashboard',
      () =>
        takeScreenshots(
          client,
          results.prometheus_shards,
          { evaluatedAt: measured.window.evaluatedAt, from: measured.began / 1000, severalHosts: targets.length > 1 },
          dir,
        ),
    );
    results.screenshots = shots.screenshots;
    results.pictures = shots.pictures;
    for (const [name, shot] of Object.entries(results.screenshots)) {
      if (shot.error) results.report_failures.push(`the screenshot ${name}: ${shot.error}`);
    }
    results.report_failures.push(...shots.failures);
    if (exporterText) {
      const { text, error } = await exporterText;
      if (error) results.report_failures.push(`exporter-metrics.txt: ${error.message}`);
      else await writeFile(`${dir}/exporter-metrics.txt`, text);
    } else {
      results.not_checked.push({ what: "exporter-metrics.txt, av-exporter's metrics", why: NO_INVENTORY });
    }
    const { timings } = measured;
    timings.report_seconds = (Date.now() - reportBegan) / 1000;
    timings.total_seconds = (Date.now() - measured.began) / 1000;
    results.timings = timings;
    await writeReportFiles(dir, results);

    tellResults(results, { single: shards.length === 1, dir, out: opts.out });
    const problems = problemsOf(results);
    if (problems.length > 0)
      throw new Error(`the report is written, but not all of it checks out:\n  ${problems.join('\n  ')}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The run and everything asked about it: the warm-up, siege, then every question of Prometheus (and
 * VictoriaMetrics), the raw counters at the run's and the window's ends, nginx's logs. What assembleResults takes.
 */
async function measure({ opts, client, inventory, targets, shards, victoriametrics, urls, work }) {
  // every replica must have scraped the warm-up; the live line asks each shard through a replica that answers
  const replicas = shardedPrometheus(client, everyReplica(shards));
  const userAgent = `av-load/${new Date().toISOString().replace(/[-:.]/g, '')}-${process.pid}`; // marks this run's lines in nginx's log
  const timings = {};
  const began = Date.now();
  say(
    `nginx ${targets.join(', ')}, Prometheus ${shards.map((s) => s.url).join(', ')}${victoriametrics ? `, VictoriaMetrics ${victoriametrics}` : ''}; ${opts.duration.text} of siege with ${opts.concurrency} users over ${urls.length} URLs`,
  );
  const startScrape = await step(`warming up: every URL once, then the next scrape`, async () => {
    await warmUp(urls);
    return replicas.waitForScrapeAfter(Date.now() / 1000 + 1);
  });
  timings.warm_up_seconds = (Date.now() - began) / 1000;

  const start = new Date();
  say(`siege: ${opts.duration.text} from ${start.toISOString()}; a line every 10 s`);
  const siege = await runSiege({
    workDir: work,
    urls,
    concurrency: opts.concurrency,
    seconds: opts.duration.seconds,
    delaySeconds: DELAY_SECONDS,
    userAgent,
    onTick: async (seconds) => {
      const elapsed = Math.round(seconds);
      const rate = await sumThroughAnswering(client, shards, LIVE_RATE);
      say(
        `siege: ${clock(elapsed)} of ${clock(opts.duration.seconds)}, ${clock(Math.max(0, opts.duration.seconds - elapsed))} left; nginx answers ${rate === null ? '?' : rate.toFixed(1)} requests/s (Prometheus)`,
      );
    },
  });
  const end = new Date();
  timings.siege_seconds = (end.getTime() - start.getTime()) / 1000;
  say(`siege done: ${siege.transactions} transactions, ${siege.failed_transactions} failed`);

  // each shard asked once from here on, through a replica up since the window's start (or the run's, if earlier)
  const asked = await chooseReplicas(client, shards, Math.min(began / 1000, end.getTime() / 1000 - WINDOW_SECONDS));
  const said = replicasAsked(asked);
  if (said) say(said);
  const stand = shardedPrometheus(client, asked);
  // the run's counter delta starts at the warm-up's scrape: after its lines are in Prometheus, before siege's first request
  const [startCounters, startByHost] = await Promise.all([
    stand.byLabel(RAW_COUNTERS.stand, 'status', startScrape),
    stand.byInstanceAndLabel(RAW_COUNTERS.byHost, 'status', startScrape),
  ]);

  // The last requests reach the counters at the next scrape; every query is evaluated at a whole second
  // after it (the console page takes its moment in whole seconds, and the screenshots must show the very
  // values of results.json).
  const evaluatedAt = Math.ceil(
    await step('waiting for the scrape after the last request', () =>
      stand.waitForScrapeAfter(end.getTime() / 1000 + 2),
    ),
  );
  const windowFrom = evaluatedAt - WINDOW_SECONDS;
  const [answers, answersByHost, endCounters, windowStartCounters, endByHost, windowStartByHost, shardViews] =
    await Promise.all([
      Promise.all(QUESTIONS.map((question) => stand.answer(question, evaluatedAt))),
      Promise.all(QUESTIONS.map((question) => stand.answerByHost(question, evaluatedAt))),
      stand.byLabel(RAW_COUNTERS.stand, 'status', evaluatedAt),
      stand.byLabel(RAW_COUNTERS.stand, 'status', windowFrom),
      stand.byInstanceAndLabel(RAW_COUNTERS.byHost, 'status', evaluatedAt),
      stand.byInstanceAndLabel(RAW_COUNTERS.byHost, 'status', windowFrom),
      eachShardsView(client, asked, QUESTIONS, evaluatedAt),
    ]);
  const byName = (values) => Object.fromEntries(QUESTIONS.map((question, i) => [question.name, values[i]]));
  const unanswered = QUESTIONS.filter((question, i) => answers[i] === null);
  if (unanswered.length > 0)
    throw new Error(
      `Prometheus has no answer to ${unanswered.map((q) => q.promql).join(' or ')} at ${new Date(evaluatedAt * 1000).toISOString()}`,
    );
  const global = victoriametrics
    ? await step('waiting for VictoriaMetrics to hold the run, then asking it the same questions', async () => {
        const api = victoriaMetricsApi(client, victoriametrics);
        // the series of the shards as they are now (the questions' windows hold an older layout's series only
        // when they span the change: docs/extending.md)
        const selector = currentShards(asked.map((shard) => shard.name));
        await waitUntilWritten(api, evaluatedAt, selector);
        const rawCounters = standCountersOf(selector);
        return globalAnswers(api, { questions: QUESTIONS, rawCounters, evaluatedAt, windowFrom });
      })
    : null;

  // Without an inventory (--target and --prometheus alone) nginx's log and the exporter cannot be reached
  const notChecked = [];
  const canReadLog = Boolean(opts.accessLog || inventory);
  const logs = canReadLog
    ? await step('reading the access log of the run and of the window on the nginx host(s)', () =>
        accessLogsSince(
          client,
          inventory?.nginx ?? [],
          Math.min(windowFrom, start.getTime() / 1000) - 10,
          opts.accessLog,
        ),
      )
    : null;
  if (!canReadLog) notChecked.push({ what: "the exact p99, and the run's lines in nginx's log", why: NO_INVENTORY });
  // host by host, where each host's own log was read (over SSH, from the inventory)
  const hostByHost = Boolean(inventory && logs && !opts.accessLog);
  if (!hostByHost)
    notChecked.push({
      what: 'the answers host by host',
      why: opts.accessLog ? 'one local access log was given (--access-log)' : NO_INVENTORY,
    });

  return {
    began,
    timings,
    stand: { targets, prometheus: asked },
    load: { duration: opts.duration, concurrency: opts.concurrency, delaySeconds: DELAY_SECONDS, urls, userAgent },
    window: { start, end, evaluatedAt, windowFrom },
    answers: byName(answers),
    answersByHost: byName(answersByHost),
    counters: { runStart: startCounters, windowStart: windowStartCounters, end: endCounters },
    countersByHost: { runStart: startByHost, windowStart: windowStartByHost, end: endByHost },
    logs,
    hosts: hostByHost ? inventory.nginx.map((host) => ({ name: host.name, address: host.address })) : null,
    siege,
    shardViews,
    global,
    exporterSource:
      opts.exporterUrl ??
      (inventory ? `${inventory.nginx[0].name} (${inventory.nginx[0].address}), from 127.0.0.1` : null),
    notChecked,
  };
}

/** What the run found, on the terminal: each answer beside the exact one, each host, each shard, the accounting. */
function tellResults(results, { single, dir, out }) {
  const { per_host: perHost, timings } = results;
  for (const question of QUESTIONS.filter((q) => q.kind === 'quantile')) {
    const n = question.name;
    const [answer, exact] = [results[question.field], results[question.exactField]];
    if (exact !== null)
      say(
        `${n}: PromQL ${answer.toFixed(4)} s, exact ${exact.toFixed(4)} s over ${results[`exact_${n}_sample_count`]} lines: error ${(results[`${n}_error_seconds`] * 1000).toFixed(2)} ms (${(results[`${n}_relative_error`] * 100).toFixed(2)} %), ${results[`${n}_within_bound`] ? 'within' : 'OUTSIDE'} max(5 %, 1 ms)`,
      );
    else say(`${n}: PromQL ${answer.toFixed(4)} s (no exact ${n}: ${NO_INVENTORY})`);
  }
  say(
    `requests by status, PromQL increase: ${format(results.requests_by_status, 1)}; exact in the window: ${format(results.window_requests_by_status)}`,
  );
  for (const [name, h] of Object.entries(perHost ?? {})) {
    say(
      `${name}: p99 PromQL ${h.p99_seconds?.toFixed(4) ?? '?'} s, exact ${h.exact_p99_seconds?.toFixed(4) ?? '?'} s; this run: counter delta ${format(h.exact_requests_by_status)}, its log ${format(h.logged_requests_by_status)}`,
    );
  }
  if (!single) {
    for (const shard of results.prometheus_shards)
      say(
        `${shard.name} scrapes ${shard.av_exporter_instances.join(', ') || 'no av-exporter'}: its p99 ${shard.p99_seconds?.toFixed(4) ?? '-'} s, its increase ${format(shard.requests_by_status, 1)}`,
      );
    say(
      `all shards merged: p99 ${results.p99_seconds.toFixed(4)} s from the summed bucket rates, increase ${format(results.requests_by_status, 1)}`,
    );
  }
  const vm = results.victoriametrics;
  if (vm)
    say(
      `VictoriaMetrics: p99 ${vm.p99_seconds?.toFixed(4) ?? '-'} s (${results.exact_p99_seconds === null ? 'no exact p99' : `${(vm.p99_relative_error * 100).toFixed(2)} % from the exact one`}), increase ${format(vm.requests_by_status, 1)}`,
    );
  say(
    `this run: counter delta ${format(results.exact_requests_by_status)} = ${results.exact_requests_total}; siege counted ${results.siege.transactions} + ${results.siege.failed_transactions} failed, ${results.siege_accounting.cut_off_total} cut off at the end`,
  );
  say(
    `took ${clock(timings.total_seconds)} (warm-up ${timings.warm_up_seconds.toFixed(0)} s, siege ${timings.siege_seconds.toFixed(0)} s, the rest ${(timings.total_seconds - timings.warm_up_seconds - timings.siege_seconds).toFixed(0)} s)`,
  );
  say(
    `report: ${path.relative(process.cwd(), dir) || dir}/summary.md and index.html (also ${path.relative(process.cwd(), `${out}/latest`)})`,
  );
  for (const { what, why } of results.not_checked) say(`not checked: ${what} (${why})`);
}

/** Every way the report does not check out: the p99 outside its bound, requests not accounted for, a part of the report missing. */
function problemsOf(results) {
  const { per_host: perHost, victoriametrics: vm } = results;
  return [
    ...(results.p99_within_bound === false
      ? [
          `the PromQL p99 is ${(results.p99_error_seconds * 1000).toFixed(2)} ms from the exact one, more than max(5 %, 1 ms)`,
        ]
      : []),
    ...(results.logged_requests_by_status === null ||
    sameCounts(results.exact_requests_by_status, results.logged_requests_by_status)
      ? []
      : [
          `the counters grew by ${format(results.exact_requests_by_status)}, nginx logged ${format(results.logged_requests_by_status)} for this run`,
        ]),
    ...Object.entries(perHost ?? {})
      .filter(([, h]) => !sameCounts(h.exact_requests_by_status, h.logged_requests_by_status))
      .map(
        ([name, h]) =>
          `${name}: the counters grew by ${format(h.exact_requests_by_status)}, its log has ${format(h.logged_requests_by_status)} for this run`,
      ),
    ...(vm && vm.p99_within_bound === false
      ? [
          `VictoriaMetrics' p99 ${vm.p99_seconds} s is more than max(5 %, 1 ms) from the exact ${results.exact_p99_seconds} s`,
        ]
      : []),
    ...(vm && vm.p99_seconds === null ? ['VictoriaMetrics has no answer to the p99 query'] : []),
    ...results.siege_accounting.problems,
    ...results.report_failures,
  ];
}

const NO_INVENTORY =
  "no inventory: nginx's log and av-exporter are read over SSH from the inventory's nginx hosts (--inventory FILE)";

/**
 * The pictures of the run, of every shard (one Prometheus: p99.png, p99-graph.png, dashboard.png, ...; several:
 * p99-<shard>.png, p99-graph-<shard>.png, dashboard-<shard>.png, ...). A failure is reported, not thrown.
 * - screenshots: every question that has one (questions.mjs), its console tab at `evaluatedAt`; keyed like
 *   their files without .png, each { shard, file, queryVisible, shownSeries, url } or { shard, file, error }
 * - pictures: each question's graph over the run (from the warm-up, `from`, to `evaluatedAt`) on the Graph
 *   tab, host by host too with several nginx hosts (`severalHosts`), and the live dashboard over the same
 *   span: [{ file, caption, question?, kind, shard, promql?, stacked?, from, to, url }]
 * - failures: what could not be taken, a line each
 * A shard that scrapes no nginx host gets its console screenshots (they show it has nothing), not the graphs
 * and the dashboard.
 */
async function takeScreenshots(client, shards, { evaluatedAt, from, severalHosts }, dir) {
  const suffix = (shard) => (shards.length === 1 ? '' : `-${shard.name}`);
  const ofShard = (shard, caption) => (shards.length === 1 ? caption : `${caption}, ${shard.name}'s hosts`);
  const planned = (shard) =>
    QUESTIONS.filter((q) => q.screenshot).map(({ promql, screenshot }) => ({
      key: `${screenshot.key}${suffix(shard)}`,
      query: promql,
      file: `${screenshot.file}${suffix(shard)}.png`,
    }));
  const graphs = (shard) =>
    QUESTIONS.filter((q) => q.graph).flatMap((q) =>
      [q.graph, ...(severalHosts ? [q.graph.byHost] : [])].map((graph) => ({
        question: q.name,
        file: `${graph.file}${suffix(shard)}.png`,
        caption: ofShard(shard, graph.caption),
        promql: graph.promql,
        stacked: graph.stacked,
      })),
    );
  const taken = {};
  const pictures = [];
  const failures = [];
  const failed = (shard, error) => {
    for (const { key, file } of planned(shard))
      taken[key] ??= { shard: shard.name, file, error: firstLine(error.message) };
    failures.push(`the graphs and the dashboard of ${shard.name}: ${firstLine(error.message)}`);
  };
  /** The dashboard over the run, taken before the graphs (they wait for the run's last minute; it does not). */
  const dashboardOf = async (browser, shard) => {
    const file = `dashboard${suffix(shard)}.png`;
    try {
      const shown = await screenshotDashboard(client, browser, shard.url, { from, to: evaluatedAt }, `${dir}/${file}`);
      if (shown.failed.length > 0) failures.push(`the dashboard ${file}: graphs not drawn: ${shown.failed.join('; ')}`);
      return {
        file,
        kind: 'dashboard',
        caption: ofShard(
          shard,
          `the live dashboard (${DASHBOARD_PATH}) over the run: ${shown.drawn} of ${shown.graphs} graphs with data`,
        ),
        shard: shard.name,
        from: shown.from,
        to: shown.to,
        url: shown.url,
      };
    } catch (error) {
      failures.push(`the dashboard ${file}: ${firstLine(error.message)}`);
      return null;
    }
  };
  try {
    await withBrowser(client, async (browser) => {
      // what does not wait first, for every shard; then the graphs, which wait for the run's last minute
      const drawable = [];
      for (const shard of shards) {
        let graphPage;
        try {
          graphPage = await findGraphPage(client, shard.url);
        } catch (error) {
          failed(shard, error);
          continue;
        }
        for (const { key, query, file } of planned(shard)) {
          taken[key] = await screenshotQuery(client, browser, graphPage, query, evaluatedAt, `${dir}/${file}`).then(
            (result) => ({ shard: shard.name, file, ...result }),
            (error) => ({ shard: shard.name, file, error: firstLine(error.message) }),
          );
        }
        // a shard that scrapes no nginx host (its share of the hosts is empty) has no run to draw
        if ((shard.av_exporter_instances ?? []).length === 0) continue;
        drawable.push({ shard, graphPage, dashboard: await dashboardOf(browser, shard) });
      }
      for (const { shard, graphPage, dashboard } of drawable) {
        for (const graph of graphs(shard)) {
          try {
            const shown = await screenshotGraph(
              client,
              browser,
              graphPage,
              { query: graph.promql, from, to: evaluatedAt, stacked: graph.stacked },
              `${dir}/${graph.file}`,
            );
            const asked = { query: shown.queryVisible, range: shown.rangeShown, stacked: shown.stackedShown };
            if (Object.values(asked).includes(false))
              throw new Error(`the page did not show what was asked: ${JSON.stringify(asked)}`);
            pictures.push({
              ...graph,
              kind: 'graph',
              shard: shard.name,
              from: shown.from,
              to: shown.to,
              url: shown.url,
            });
          } catch (error) {
            failures.push(`the graph ${graph.file}: ${firstLine(error.message)}`);
          }
        }
        if (dashboard) pictures.push(dashboard);
      }
    });
  } catch (error) {
    for (const shard of shards) failed(shard, error);
  }
  return { screenshots: taken, pictures, failures };
}

const firstLine = (text) => String(text).split('\n')[0];
const format = (byStatus, digits = 0) =>
  Object.entries(byStatus)
    .map(([s, n]) => `${s}: ${n.toFixed(digits)}`)
    .join(', ');

/** A report's summary.md and index.html made again from its results.json (after the renderer changed, say). */
async function renderAgain(dir) {
  let results;
  try {
    results = JSON.parse(await readFile(`${dir}/results.json`, 'utf8'));
  } catch (error) {
    throw new UsageError(
      `--render: cannot read ${dir}/results.json: ${error.code === 'ENOENT' ? 'no such file' : error.message}`,
    );
  }
  await writeReportFiles(dir, results, { results: false });
  say(`rendered ${path.relative(process.cwd(), dir) || dir}/summary.md and index.html from its results.json`);
}

/** report/latest → the new report, replaced atomically (a new link renamed over the old one). */
async function pointLatestAt(out, stamp) {
  const temporary = `${out}/.latest-${process.pid}`;
  await rm(temporary, { force: true });
  await symlink(stamp, temporary);
  await rename(temporary, `${out}/latest`);
}

try {
  await main();
} catch (error) {
  say(error.message);
  if (error instanceof UsageError) echo(USAGE);
  process.exitCode = error instanceof UsageError ? 2 : 1;
}
