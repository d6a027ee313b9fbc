#!/usr/bin/env zx
// The load test and its report: siege against nginx, then the assignment's two PromQL answers beside
// the exact ones, screenshots of Prometheus showing them, and the exporter's metrics.
//
//   npx zx scripts/load.mjs [--duration 5m] [--concurrency 10] [--urls scripts/urls.txt]
//                           [--inventory inventory/lab/hosts.yml] [--target URL] [--prometheus URL]
//                           [--victoriametrics URL] [--out report]
//
// With no arguments it targets the lab (its inventory). Writes report/<UTC time>/ and points report/latest at it.
// With several Prometheus shards, each question is asked of every shard and the answers merged
// (scripts/lib/shards.mjs); with VictoriaMetrics, it is asked there too (scripts/lib/victoriametrics.mjs).
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { $, argv, echo, path, retry, spinner, within } from 'zx'
import { counterDelta, exactQuantile, logLinesByStatus, reconcileWithSiege, relativeError, requestTimesInWindow, sameCounts, withinP99Bound } from './lib/exact-answers.mjs'
import { readInventory, standUrls } from './lib/inventory.mjs'
import { accessLogPath, accessLogsSince, checkNginxHosts, exporterMetrics } from './lib/nginx-hosts.mjs'
import { parseOptions, readUrlList, UsageError, USAGE } from './lib/options.mjs'
import { eachShardsView, shardedPrometheus } from './lib/shards.mjs'
import { secretsDirOf, standGet, useStandSecrets } from './lib/stand-http.mjs'
import { globalAnswers, globalView, waitUntilWritten } from './lib/victoriametrics.mjs'
import { findGraphPage, screenshotQuery, withBrowser } from './lib/screenshot.mjs'
import { runSiege } from './lib/siege.mjs'
import { summaryMarkdown } from './lib/summary.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const QUERIES = {
  p99: 'histogram_quantile(0.99, sum by (le) (rate(av_nginx_http_request_duration_seconds_bucket[5m])))',
  requests_by_status: 'sum by (status) (increase(av_nginx_http_requests_total[5m]))',
}
const RAW_COUNTERS = 'sum by (status) (av_nginx_http_requests_total)'
// the same, host by host (the instance label is the host's inventory name)
const BY_INSTANCE = {
  p99: 'histogram_quantile(0.99, sum by (instance, le) (rate(av_nginx_http_request_duration_seconds_bucket[5m])))',
  requests_by_status: 'sum by (instance, status) (increase(av_nginx_http_requests_total[5m]))',
  raw_counters: 'sum by (instance, status) (av_nginx_http_requests_total)',
}
const LIVE_RATE = 'sum(rate(av_nginx_http_requests_total[30s]))'
const WINDOW_SECONDS = 300
// a user's pause between requests: up to this, at random (siege --delay)
const DELAY_SECONDS = 0.2

$.quiet = true

const say = (text) => echo(`load: ${text}`)
const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`

/** A step that may take a while: a spinner on a terminal, a line before it in a log; a line after it on a terminal. */
async function step(title, work) {
  if (!process.stderr.isTTY) {
    say(title)
    return work()
  }
  const began = Date.now()
  const result = await within(() => {
    $.quiet = false // spinner() stays silent when quiet; it keeps the commands inside it quiet itself
    return spinner(title, work)
  })
  say(`${title}: ${((Date.now() - began) / 1000).toFixed(0)} s`)
  return result
}

/**
 * The stand's addresses, from the flags or the inventory; no inventory when nginx's and Prometheus' URLs
 * are both given without one. `prometheus`: the shards, [{ name, url }]; `victoriametrics`: a URL or null.
 */
function resolveStand(opts) {
  const needsInventory = opts.inventoryGiven || !(opts.targets && opts.prometheus)
  const inventory = needsInventory ? readInventory(opts.inventoryFile) : null
  const fromInventory = inventory ? standUrls(inventory) : { victoriametrics: null }
  return {
    inventory,
    targets: opts.targets ?? fromInventory.targets,
    prometheus: opts.prometheus ?? fromInventory.prometheus,
    victoriametrics: opts.victoriametrics ?? fromInventory.victoriametrics,
  }
}

async function checkReachable(targets, shards, victoriametrics) {
  const status = (url) => fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(5_000) }).then(
    async (response) => { await response.arrayBuffer(); return response.status },
    (error) => error.cause?.code ?? error.name)
  let answer
  for (const target of targets) {
    await retry(3, '2s', async () => {
      answer = await status(target)
      if (typeof answer !== 'number') throw new Error(answer)
    }).catch(() => {
      throw new Error(`nginx does not answer at ${target} (${answer}): is the host up and provisioned (ansible-playbook site.yml), and its port open to this machine?`)
    })
  }
  // the stand's own endpoints: HTTPS with its CA and user, each until it answers 200
  const answersOk = async (url, trouble, unit) => {
    await retry(3, '2s', async () => {
      answer = await standGet(url.href, { timeoutMs: 5_000 }).then((response) => response.status, (error) => error.code ?? error.message)
      if (answer !== 200) throw new Error(String(answer))
    }).catch(() => {
      throw new Error(`${trouble} (${typeof answer === 'number' ? `HTTP ${answer}` : answer}): check systemctl status ${unit} on its host, and that its port is open to this machine`)
    })
  }
  for (const { url } of shards) await answersOk(new URL('-/ready', url), `Prometheus is not ready at ${url}`, 'prometheus')
  if (victoriametrics) await answersOk(new URL('health', victoriametrics), `VictoriaMetrics does not answer at ${victoriametrics}`, 'victoria-metrics')
}

/**
 * One request per URL before the measured window: each URL answers before siege starts. No series
 * needs creating any more: av-exporter exposes every common status with GET, HEAD and POST at 0 from
 * its start (its --preset-statuses), so increase() sees a run's first 500, 503 or 499 too.
 */
async function warmUp(urls) {
  const headers = { 'user-agent': 'av-load/warm-up' }
  for (const { url, method } of urls) {
    try {
      const response = await fetch(url, { method, redirect: 'manual', headers, signal: AbortSignal.timeout(10_000) })
      await response.arrayBuffer()
    } catch (error) {
      throw new Error(`the warm-up's ${method} ${url} failed: ${error.cause?.code ?? error.message}`)
    }
  }
}

async function main() {
  const opts = parseOptions(argv, ROOT)
  if (opts.help) return echo(USAGE)
  const { inventory, targets, prometheus: shards, victoriametrics } = resolveStand(opts)
  useStandSecrets(opts.secrets ?? secretsDirOf(opts.inventoryFile), inventory?.prometheus[0].vars.stand_web_user ?? DEFAULT_WEB_USER)
  const stand = shardedPrometheus(shards)
  // every path on every nginx host: siege picks URLs at random, so the load spreads evenly
  const urls = targets.flatMap((target) => readUrlList(opts.urlsFile, target))
  await checkReachable(targets, shards, victoriametrics)
  if (inventory && !opts.accessLog) await checkNginxHosts(inventory.nginx)
  const userAgent = `av-load/${new Date().toISOString().replace(/[-:.]/g, '')}-${process.pid}` // marks this run's lines in nginx's log
  const timings = {}
  const began = Date.now()
  const work = await mkdtemp(`${tmpdir()}/av-load-`)
  try {
    say(`nginx ${targets.join(', ')}, Prometheus ${shards.map((s) => s.url).join(', ')}${victoriametrics ? `, VictoriaMetrics ${victoriametrics}` : ''}; ${opts.duration.text} of siege with ${opts.concurrency} users over ${urls.length} URLs`)
    const startScrape = await step(`warming up: every URL once, then the next scrape`, async () => {
      await warmUp(urls)
      return stand.waitForScrapeAfter(Date.now() / 1000 + 1)
    })
    // the run's counter delta starts here: after the warm-up's lines are in Prometheus, before siege's first request
    const [startCounters, startByHost] = await Promise.all([
      stand.byLabel(RAW_COUNTERS, 'status', startScrape),
      stand.byInstanceAndLabel(BY_INSTANCE.raw_counters, 'status', startScrape),
    ])
    timings.warm_up_seconds = (Date.now() - began) / 1000

    const start = new Date()
    say(`siege: ${opts.duration.text} from ${start.toISOString()}; a line every 10 s`)
    const siege = await runSiege({
      workDir: work, urls, concurrency: opts.concurrency, seconds: opts.duration.seconds, delaySeconds: DELAY_SECONDS, userAgent,
      onTick: async (seconds) => {
        const elapsed = Math.round(seconds)
        const rate = await stand.sum(LIVE_RATE).catch(() => null)
        say(`siege: ${clock(elapsed)} of ${clock(opts.duration.seconds)}, ${clock(Math.max(0, opts.duration.seconds - elapsed))} left; nginx answers ${rate === null ? '?' : rate.toFixed(1)} requests/s (Prometheus)`)
      },
    })
    const end = new Date()
    timings.siege_seconds = (end - start) / 1000
    say(`siege done: ${siege.transactions} transactions, ${siege.failed_transactions} failed`)

    // The last requests reach the counters at the next scrape; both queries are evaluated at a whole
    // second after it (the console page takes its moment in whole seconds, and the screenshots must
    // show the very values of results.json).
    const evaluatedAt = Math.ceil(await step('waiting for the scrape after the last request', () => stand.waitForScrapeAfter(end.getTime() / 1000 + 2)))
    const windowFrom = evaluatedAt - WINDOW_SECONDS
    const [p99, requestsByStatus, endCounters, windowStartCounters, p99ByHost, requestsByHost, endByHost, windowStartByHost, shardAnswers] = await Promise.all([
      stand.p99(QUERIES.p99, evaluatedAt),
      stand.byLabel(QUERIES.requests_by_status, 'status', evaluatedAt),
      stand.byLabel(RAW_COUNTERS, 'status', evaluatedAt),
      stand.byLabel(RAW_COUNTERS, 'status', windowFrom),
      stand.byLabel(BY_INSTANCE.p99, 'instance', evaluatedAt),
      stand.byInstanceAndLabel(BY_INSTANCE.requests_by_status, 'status', evaluatedAt),
      stand.byInstanceAndLabel(BY_INSTANCE.raw_counters, 'status', evaluatedAt),
      stand.byInstanceAndLabel(BY_INSTANCE.raw_counters, 'status', windowFrom),
      eachShardsView(shards, QUERIES, evaluatedAt),
    ])
    if (p99 === null) throw new Error(`Prometheus has no answer to ${QUERIES.p99} at ${new Date(evaluatedAt * 1000).toISOString()}`)
    const global = victoriametrics
      ? await step('waiting for VictoriaMetrics to hold the run, then asking it the same questions', async () => {
        await waitUntilWritten(victoriametrics, evaluatedAt)
        return globalAnswers(victoriametrics, { queries: QUERIES, rawCounters: RAW_COUNTERS, evaluatedAt, windowFrom })
      })
      : null

    // Without an inventory (--target and --prometheus alone) nginx's log and the exporter cannot be reached
    const notChecked = []
    const canReadLog = Boolean(opts.accessLog || inventory)
    const logs = canReadLog
      ? await step('reading the access log of the run and of the window on the nginx host(s)', () =>
        accessLogsSince(inventory?.nginx ?? [], Math.min(windowFrom, start.getTime() / 1000) - 10, opts.accessLog))
      : null
    const logText = logs === null ? null : Object.values(logs).join('')
    if (!canReadLog) notChecked.push({ what: "the exact p99, and the run's lines in nginx's log", why: NO_INVENTORY })
    const times = logText === null ? [] : requestTimesInWindow(logText, windowFrom, evaluatedAt)
    const exactP99 = exactQuantile(times, 0.99)
    if (logText !== null && exactP99 === null) throw new Error(`the access log has no lines in (${iso(windowFrom)}, ${iso(evaluatedAt)}]: is it ${opts.accessLog ?? accessLogPath(inventory.nginx[0].vars)}, and are the hosts' clocks in sync?`)
    const exactRequests = counterDelta(startCounters, endCounters)
    const windowRequests = counterDelta(windowStartCounters, endCounters)
    const checked = (value) => (exactP99 === null ? null : value)
    // host by host, where each host's own log was read (over SSH, from the inventory)
    const perHost = inventory && logs && !opts.accessLog
      ? Object.fromEntries(inventory.nginx.map((host) => [host.name, {
        address: host.address,
        p99_seconds: p99ByHost[host.name] ?? null,
        exact_p99_seconds: exactQuantile(requestTimesInWindow(logs[host.name], windowFrom, evaluatedAt), 0.99),
        requests_by_status: requestsByHost[host.name] ?? {},
        window_requests_by_status: counterDelta(windowStartByHost[host.name] ?? {}, endByHost[host.name] ?? {}),
        exact_requests_by_status: counterDelta(startByHost[host.name] ?? {}, endByHost[host.name] ?? {}),
        logged_requests_by_status: logLinesByStatus(logs[host.name], userAgent),
      }]))
      : null
    if (!perHost) notChecked.push({ what: 'the answers host by host', why: opts.accessLog ? 'one local access log was given (--access-log)' : NO_INVENTORY })

    const results = {
      target: targets[0],
      targets,
      prometheus: shards.map((shard) => shard.url).join(', '),
      load: { duration: opts.duration.text, duration_seconds: opts.duration.seconds, concurrency: opts.concurrency, delay_seconds: DELAY_SECONDS, urls: urls.map((u) => u.siegeLine), user_agent: userAgent },
      window: {
        start: start.toISOString(), // siege's first request; the run's counter delta starts just before it
        end: end.toISOString(), // siege done
        evaluated_at: iso(evaluatedAt), // the PromQL `time=`
        promql_from: iso(windowFrom), // the queries' 5 minutes: (promql_from, promql_to]
        promql_to: iso(evaluatedAt),
      },
      queries: QUERIES,
      exact_query: RAW_COUNTERS,
      queries_by_host: BY_INSTANCE,

      p99_seconds: p99,
      exact_p99_seconds: exactP99,
      exact_p99_method: 'nearest rank: the ceil(0.99 n)-th smallest $request_time of the n access-log lines whose msec is in (promql_from, promql_to]',
      exact_p99_sample_count: checked(times.length),
      p99_error_seconds: checked(p99 - exactP99),
      p99_relative_error: checked(relativeError(p99, exactP99)),
      p99_bound_seconds: checked(Math.max(0.05 * exactP99, 0.001)),
      p99_within_bound: checked(withinP99Bound(p99, exactP99)),

      requests_by_status: requestsByStatus,
      // the exact counterpart of increase(): the raw counters at both ends of its 5-minute window
      window_requests_by_status: windowRequests,
      requests_by_status_relative_error: Object.fromEntries(Object.entries(requestsByStatus).map(([s, v]) => [s, relativeError(v, windowRequests[s] ?? 0)])),
      // increase() misses the first increment of a series born inside its window (prometheus/prometheus#3000)
      statuses_born_in_window: Object.keys(endCounters).filter((status) => !(status in windowStartCounters)),

      // the run itself: raw counters after the warm-up and after the last scrape
      exact_requests_by_status: exactRequests,
      exact_requests_total: Object.values(exactRequests).reduce((a, b) => a + b, 0),
      logged_requests_by_status: logText === null ? null : logLinesByStatus(logText, userAgent),
      siege, // its JSON summary; siege 4.0.7 counts nothing by status
      siege_requests_total: siege.transactions + siege.failed_transactions,
      // the counter delta against siege's tally, class by class (see scripts/lib/siege.mjs)
      siege_accounting: reconcileWithSiege({ exact: exactRequests, siege, concurrency: opts.concurrency }),
      // each nginx host's share: PromQL by instance beside the exact values from that host's own log
      per_host: perHost,
      // each Prometheus: the hosts it scrapes, its own answers over them, what it costs (one entry: the whole stand)
      prometheus_shards: shardAnswers,
      // the global view, where there is one: the same questions asked of VictoriaMetrics
      victoriametrics: global && globalView(global, { exactP99, windowRequests, p99, requestsByStatus }),
      exporter_source: opts.exporterUrl ?? (inventory ? `${inventory.nginx[0].name} (${inventory.nginx[0].address}), from 127.0.0.1` : null),
      screenshots: null, // taken after this is first written
      not_checked: notChecked,
      report_failures: [],
    }

    // written now, before anything that can fail late, and written again when the rest is done
    const stamp = end.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
    const dir = `${opts.out}/${stamp}`
    await mkdir(dir, { recursive: true })
    const writeReport = async () => {
      await writeFile(`${dir}/results.json`, `${JSON.stringify(results, null, 2)}\n`)
      await writeFile(`${dir}/summary.md`, summaryMarkdown(results))
    }
    await writeReport()
    await pointLatestAt(opts.out, stamp)

    const reportBegan = Date.now()
    results.screenshots = await step('screenshots of Prometheus showing both queries', () => takeScreenshots(shardAnswers, evaluatedAt, dir))
    for (const [name, shot] of Object.entries(results.screenshots)) {
      if (shot.error) results.report_failures.push(`the screenshot ${name}: ${shot.error}`)
    }
    if (inventory || opts.exporterUrl) {
      await exporterMetrics(inventory?.nginx ?? [], opts.exporterUrl).then(
        (text) => writeFile(`${dir}/exporter-metrics.txt`, text),
        (error) => results.report_failures.push(`exporter-metrics.txt: ${error.message}`))
    } else {
      notChecked.push({ what: "exporter-metrics.txt, av-exporter's metrics", why: NO_INVENTORY })
    }
    timings.report_seconds = (Date.now() - reportBegan) / 1000
    timings.total_seconds = (Date.now() - began) / 1000
    results.timings = timings
    await writeReport()

    if (exactP99 !== null) say(`p99: PromQL ${p99.toFixed(4)} s, exact ${exactP99.toFixed(4)} s over ${times.length} lines: error ${(results.p99_error_seconds * 1000).toFixed(2)} ms (${(results.p99_relative_error * 100).toFixed(2)} %), ${results.p99_within_bound ? 'within' : 'OUTSIDE'} max(5 %, 1 ms)`)
    else say(`p99: PromQL ${p99.toFixed(4)} s (no exact p99: ${NO_INVENTORY})`)
    say(`requests by status, PromQL increase: ${format(requestsByStatus, 1)}; exact in the window: ${format(windowRequests)}`)
    for (const [name, h] of Object.entries(perHost ?? {})) {
      say(`${name}: p99 PromQL ${h.p99_seconds?.toFixed(4) ?? '?'} s, exact ${h.exact_p99_seconds?.toFixed(4) ?? '?'} s; this run: counter delta ${format(h.exact_requests_by_status)}, its log ${format(h.logged_requests_by_status)}`)
    }
    if (!stand.single) {
      for (const shard of shardAnswers) say(`${shard.name} scrapes ${shard.av_exporter_instances.join(', ') || 'no av-exporter'}: its p99 ${shard.p99_seconds?.toFixed(4) ?? '-'} s, its increase ${format(shard.requests_by_status, 1)}`)
      say(`all shards merged: p99 ${p99.toFixed(4)} s from the summed bucket rates, increase ${format(requestsByStatus, 1)}`)
    }
    const vm = results.victoriametrics
    if (vm) say(`VictoriaMetrics: p99 ${vm.p99_seconds?.toFixed(4) ?? '-'} s (${exactP99 === null ? 'no exact p99' : `${(vm.p99_relative_error * 100).toFixed(2)} % from the exact one`}), increase ${format(vm.requests_by_status, 1)}`)
    say(`this run: counter delta ${format(exactRequests)} = ${results.exact_requests_total}; siege counted ${siege.transactions} + ${siege.failed_transactions} failed, ${results.siege_accounting.cut_off_total} cut off at the end`)
    say(`took ${clock(timings.total_seconds)} (warm-up ${timings.warm_up_seconds.toFixed(0)} s, siege ${timings.siege_seconds.toFixed(0)} s, the rest ${(timings.total_seconds - timings.warm_up_seconds - timings.siege_seconds).toFixed(0)} s)`)
    say(`report: ${path.relative(process.cwd(), dir) || dir}/summary.md (also ${path.relative(process.cwd(), `${opts.out}/latest`)})`)
    for (const { what, why } of notChecked) say(`not checked: ${what} (${why})`)
    const problems = [
      ...(results.p99_within_bound === false ? [`the PromQL p99 is ${(results.p99_error_seconds * 1000).toFixed(2)} ms from the exact one, more than max(5 %, 1 ms)`] : []),
      ...(results.logged_requests_by_status === null || sameCounts(exactRequests, results.logged_requests_by_status) ? [] : [`the counters grew by ${format(exactRequests)}, nginx logged ${format(results.logged_requests_by_status)} for this run`]),
      ...Object.entries(perHost ?? {}).filter(([, h]) => !sameCounts(h.exact_requests_by_status, h.logged_requests_by_status))
        .map(([name, h]) => `${name}: the counters grew by ${format(h.exact_requests_by_status)}, its log has ${format(h.logged_requests_by_status)} for this run`),
      ...(vm && vm.p99_within_bound === false ? [`VictoriaMetrics' p99 ${vm.p99_seconds} s is more than max(5 %, 1 ms) from the exact ${exactP99} s`] : []),
      ...(vm && vm.p99_seconds === null ? ['VictoriaMetrics has no answer to the p99 query'] : []),
      ...results.siege_accounting.problems,
      ...results.report_failures,
    ]
    if (problems.length > 0) throw new Error(`the report is written, but not all of it checks out:\n  ${problems.join('\n  ')}`)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

const DEFAULT_WEB_USER = 'admin' // group_vars/all.yml's stand_web_user, when no inventory is read
const NO_INVENTORY = "no inventory: nginx's log and av-exporter are read over SSH from the inventory's nginx hosts (--inventory FILE)"

/**
 * Both screenshots of every shard (p99.png and status-codes.png with one Prometheus; p99-<shard>.png and so
 * on with several), keyed like their files without .png; each is { shard, file, queryVisible, shownSeries,
 * url } or { shard, file, error }: a failure is reported, not thrown.
 */
async function takeScreenshots(shards, evaluatedAt, dir) {
  const kinds = { p99: [QUERIES.p99, 'p99'], status_codes: [QUERIES.requests_by_status, 'status-codes'] }
  const suffix = (shard) => (shards.length === 1 ? '' : `-${shard.name}`)
  const planned = (shard) => Object.entries(kinds).map(([kind, [query, file]]) => ({ key: `${kind}${suffix(shard)}`, query, file: `${file}${suffix(shard)}.png` }))
  const taken = {}
  const failed = (shard, error) => {
    for (const { key, file } of planned(shard)) taken[key] ??= { shard: shard.name, file, error: firstLine(error.message) }
  }
  try {
    await withBrowser(async (browser) => {
      for (const shard of shards) {
        let graphPage
        try {
          graphPage = await findGraphPage(shard.url)
        } catch (error) {
          failed(shard, error)
          continue
        }
        for (const { key, query, file } of planned(shard)) {
          taken[key] = await screenshotQuery(browser, graphPage, query, evaluatedAt, `${dir}/${file}`).then(
            (result) => ({ shard: shard.name, file, ...result }),
            (error) => ({ shard: shard.name, file, error: firstLine(error.message) }))
        }
      }
    })
  } catch (error) {
    for (const shard of shards) failed(shard, error)
  }
  return taken
}

const firstLine = (text) => String(text).split('\n')[0]
const iso = (seconds) => new Date(seconds * 1000).toISOString()
const format = (byStatus, digits = 0) => Object.entries(byStatus).map(([s, n]) => `${s}: ${n.toFixed(digits)}`).join(', ')

/** report/latest → the new report, replaced atomically (a new link renamed over the old one). */
async function pointLatestAt(out, stamp) {
  const temporary = `${out}/.latest-${process.pid}`
  await rm(temporary, { force: true })
  await symlink(stamp, temporary)
  await rename(temporary, `${out}/latest`)
}

try {
  await main()
} catch (error) {
  say(error.message)
  if (error instanceof UsageError) echo(USAGE)
  process.exitCode = error instanceof UsageError ? 2 : 1
}
