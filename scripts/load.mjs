#!/usr/bin/env zx
// The load test and its report: siege against nginx, then the assignment's two PromQL answers beside
// the exact ones, screenshots of Prometheus showing them, and the exporter's metrics.
//
//   npx zx scripts/load.mjs [--duration 5m] [--concurrency 10] [--urls scripts/urls.txt]
//                           [--inventory inventory/lab/hosts.yml] [--target URL] [--prometheus URL] [--out report]
//
// With no arguments it targets the lab (its inventory). Writes report/<UTC time>/ and points report/latest at it.
import { mkdtemp, readFile, rm, symlink, rename, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { $, argv, echo, path, sleep } from 'zx'
import { counterDelta, exactQuantile, logLinesByStatus, relativeError, requestTimesInWindow, withinP99Bound } from './lib/exact-answers.mjs'
import { readInventory } from './lib/inventory.mjs'
import { byLabel, scalarQuery, waitForScrapeAfter } from './lib/prometheus-api.mjs'
import { launchBrowser, screenshotQuery } from './lib/screenshot.mjs'
import { summaryMarkdown } from './lib/summary.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const USAGE = `usage: npx zx scripts/load.mjs [--duration 5m] [--concurrency 10] [--urls FILE]
                         [--inventory FILE | --target URL --prometheus URL] [--out DIR]
  --duration     how long siege runs: 60s, 5m, 1h (default 5m, as the assignment asks)
  --concurrency  siege's simulated users (default 10)
  --urls         URL paths, one per line, relative to the target (default scripts/urls.txt)
  --inventory    Ansible inventory with groups prometheus and nginx (default inventory/lab/hosts.yml)
  --target       nginx base URL (default http://<first nginx host>/)
  --prometheus   Prometheus base URL (default http://<prometheus host>:9090)
  --out          where reports go (default report/)`
const QUERIES = {
  p99: 'histogram_quantile(0.99, sum by (le) (rate(av_nginx_http_request_duration_seconds_bucket[5m])))',
  requests_by_status: 'sum by (status) (increase(av_nginx_http_requests_total[5m]))',
}
const RAW_COUNTERS = 'sum by (status) (av_nginx_http_requests_total)'
const LIVE_RATE = 'sum(rate(av_nginx_http_requests_total[30s]))'
const WINDOW_SECONDS = 300
const ACCESS_LOG = '/var/log/nginx/access.json.log'
const KNOWN_FLAGS = new Set(['_', 'duration', 'concurrency', 'urls', 'inventory', 'target', 'prometheus', 'out', 'help', 'h'])

$.quiet = true

class UsageError extends Error {}

function options() {
  const unknown = Object.keys(argv).filter((key) => !KNOWN_FLAGS.has(key))
  if (unknown.length > 0 || argv._.length > 0) throw new UsageError(`unknown argument: ${[...unknown.map((k) => `--${k}`), ...argv._].join(' ')}`)
  const duration = parseDuration(String(argv.duration ?? '5m'))
  const concurrency = Number(argv.concurrency ?? 10)
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 500) throw new UsageError(`--concurrency takes 1 to 500, got ${argv.concurrency}`)
  const inventoryPath = path.resolve(argv.inventory ?? `${ROOT}/inventory/lab/hosts.yml`)
  const inventory = argv.target && argv.prometheus && !argv.inventory ? null : readInventory(inventoryPath)
  return {
    duration,
    concurrency,
    urlsFile: path.resolve(argv.urls ?? `${ROOT}/scripts/urls.txt`),
    inventory,
    target: baseUrl(argv.target ?? `http://${inventory.nginx[0].address}/`, '--target'),
    prometheus: baseUrl(argv.prometheus ?? `http://${inventory.prometheus[0].address}:9090/`, '--prometheus'),
    out: path.resolve(argv.out ?? `${ROOT}/report`),
    // marks this run's requests in nginx's log, so they can be counted there exactly
    userAgent: `av-load/${new Date().toISOString().replace(/[-:.]/g, '')}-${process.pid}`,
  }
}

function parseDuration(text) {
  const match = /^(\d+)(s|m|h)$/.exec(text)
  if (!match || Number(match[1]) === 0) throw new UsageError(`--duration takes a number and s, m or h (60s, 5m, 1h), got ${text}`)
  return { text, seconds: Number(match[1]) * { s: 1, m: 60, h: 3600 }[match[2]] }
}

function baseUrl(text, flag) {
  try {
    const url = new URL(text)
    if (!/^https?:$/.test(url.protocol)) throw new Error()
    return url.href.endsWith('/') ? url.href : `${url.href}/`
  } catch {
    throw new UsageError(`${flag} takes an http(s) URL, got ${text}`)
  }
}

async function readUrls(file, target) {
  let text
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new UsageError(`cannot read the URL list ${file}: ${error.message}`)
  }
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  if (lines.length === 0) throw new UsageError(`the URL list ${file} has no URLs`)
  // only paths on the target: siege must never be sent anywhere else
  return lines.map((line) => {
    const [urlPath, ...rest] = line.split(/\s+/)
    if (!urlPath.startsWith('/')) throw new UsageError(`${file}: "${line}" is not a path starting with /`)
    return { url: new URL(urlPath.slice(1), target).href, method: rest[0] ?? 'GET', line: [new URL(urlPath.slice(1), target).href, ...rest].join(' ') }
  })
}

async function checkReachable(target, prometheus) {
  const answer = (url) => fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(10_000) }).then((r) => r.status, () => null)
  if ((await answer(target)) === null) throw new Error(`nginx does not answer at ${target}: is the stand provisioned (ansible-playbook site.yml)?`)
  if ((await answer(new URL('-/ready', prometheus))) !== 200) throw new Error(`Prometheus is not ready at ${prometheus}: check systemctl status prometheus on its host`)
}

/**
 * Every status/method series the run can produce must exist before the measured window starts:
 * increase() cannot see the first increment of a series born inside its window. So: one request per
 * URL, and for each method the run sends to the demo service, one forced 500, one forced 503, and one
 * request abandoned before it is answered (nginx logs 499, as for siege's last requests).
 */
async function warmUp(urls, target) {
  for (const { url, method } of urls) {
    const response = await fetch(url, { method, redirect: 'manual' })
    await response.arrayBuffer()
  }
  const apiMethods = [...new Set(urls.filter((u) => new URL(u.url).pathname.startsWith('/api/')).map((u) => u.method))]
  for (const method of apiMethods) {
    for (const status of [500, 503]) {
      const response = await fetch(new URL(`api/work?force_status=${status}&delay_ms=0`, target), { method })
      await response.arrayBuffer()
    }
    await fetch(new URL('api/work?delay_ms=2000', target), { method, signal: AbortSignal.timeout(300) }).catch(() => {})
  }
  await sleep(2500) // the abandoned requests reach nginx's log when the demo service answers them
}

async function runSiege(opts, urls, work) {
  const urlFile = `${work}/urls.txt`
  const rcFile = `${work}/siegerc`
  await writeFile(urlFile, `${urls.map((u) => u.line).join('\n')}\n`)
  // follow no redirect (a 301 is one of the answers we count), parse no HTML (no off-list URLs), no log file
  await writeFile(rcFile, 'verbose = false\ncolor = off\nlogging = false\nprotocol = HTTP/1.1\nfollow-location = false\nparser = false\n')
  const started = Date.now()
  const siege = $`siege --rc=${rcFile} --file=${urlFile} --internet --concurrent=${opts.concurrency} --time=${opts.duration.seconds}S --delay=0.2 --no-parser --no-follow --json-output --user-agent=${opts.userAgent}`.nothrow()
  const progress = setInterval(async () => {
    const elapsed = Math.round((Date.now() - started) / 1000)
    const rate = await scalarQuery(opts.prometheus, LIVE_RATE).catch(() => null)
    echo(`load: ${elapsed} s of ${opts.duration.seconds} s, ${Math.max(0, opts.duration.seconds - elapsed)} s left; nginx answers ${rate === null ? '?' : rate.toFixed(1)} requests/s (Prometheus)`)
  }, 10_000)
  const result = await siege
  clearInterval(progress)
  if (!result.ok) throw new Error(`siege failed (exit ${result.exitCode}): ${result.stderr.slice(-2000)}`)
  const json = result.stdout.slice(result.stdout.indexOf('{'))
  try {
    return JSON.parse(json)
  } catch {
    throw new Error(`siege printed no JSON summary:\n${result.stdout.slice(-2000)}`)
  }
}

async function fetchAccessLogs(inventory) {
  const logs = await Promise.all(inventory.nginx.map(async (host) => (await $`ssh ${host.ssh} cat ${ACCESS_LOG}`).stdout))
  return logs.join('\n')
}

async function fetchExporterMetrics(inventory) {
  const host = inventory.nginx[0]
  // from the nginx host itself: its firewall lets only the Prometheus host reach port 8000 from outside
  const script = 'import sys, urllib.request\nsys.stdout.write(urllib.request.urlopen("http://127.0.0.1:8000/metrics").read().decode())\n'
  return (await $({ input: script })`ssh ${host.ssh} python3 -`).stdout
}

async function main() {
  if (argv.help || argv.h) return echo(USAGE)
  const opts = options()
  const urls = await readUrls(opts.urlsFile, opts.target)
  await checkReachable(opts.target, opts.prometheus)
  const work = await mkdtemp(`${tmpdir()}/av-load-`)
  try {
    echo(`load: warming up (${urls.length} URLs once), then ${opts.duration.text} of siege with ${opts.concurrency} users against ${opts.target}`)
    await warmUp(urls, opts.target)
    const warmUpEnd = Date.now() / 1000
    const startScrape = await waitForScrapeAfter(opts.prometheus, warmUpEnd + 1)
    const startCounters = await byLabel(opts.prometheus, RAW_COUNTERS, 'status', startScrape)
    const start = new Date()

    const siege = await runSiege(opts, urls, work)
    const end = new Date()
    echo(`load: siege done: ${siege.transactions} transactions; waiting for the last scrape`)
    // a whole second: Prometheus' console page takes its evaluation moment in seconds, and the screenshots
    // must show the very values results.json holds
    const evaluatedAt = Math.ceil(await waitForScrapeAfter(opts.prometheus, end.getTime() / 1000 + 1))

    const [p99, requestsByStatus, endCounters, windowStartCounters] = await Promise.all([
      scalarQuery(opts.prometheus, QUERIES.p99, evaluatedAt),
      byLabel(opts.prometheus, QUERIES.requests_by_status, 'status', evaluatedAt),
      byLabel(opts.prometheus, RAW_COUNTERS, 'status', evaluatedAt),
      byLabel(opts.prometheus, RAW_COUNTERS, 'status', evaluatedAt - WINDOW_SECONDS),
    ])
    const exactRequests = counterDelta(startCounters, endCounters)
    const results = {
      target: opts.target,
      prometheus: opts.prometheus,
      load: { duration: opts.duration.text, concurrency: opts.concurrency, urls: urls.map((u) => u.line) },
      window: { start: start.toISOString(), end: end.toISOString(), evaluated_at: new Date(evaluatedAt * 1000).toISOString() },
      queries: QUERIES,
      p99_seconds: p99,
      requests_by_status: requestsByStatus,
      exact_requests_by_status: exactRequests,
      exact_requests_total: Object.values(exactRequests).reduce((a, b) => a + b, 0),
      // the exact counterpart of the increase() query: raw counters at both ends of its 5-minute window
      window_requests_by_status: counterDelta(windowStartCounters, endCounters),
      // increase() misses the first increment of a series born inside its window (prometheus/prometheus#3000)
      statuses_born_in_window: Object.keys(endCounters).filter((status) => !(status in windowStartCounters)),
      siege,
      // siege counts 5xx answers as failed transactions; requests in flight when its time is up are in
      // nginx's log but not in siege's tally, so siege's total may fall short by up to one per user
      siege_requests_total: siege.transactions + siege.failed_transactions,
      user_agent: opts.userAgent,
    }
    if (opts.inventory) {
      const accessLogs = await fetchAccessLogs(opts.inventory)
      results.logged_requests_by_status = logLinesByStatus(accessLogs, opts.userAgent)
      const times = requestTimesInWindow(accessLogs, evaluatedAt - WINDOW_SECONDS, evaluatedAt)
      results.exact_p99_seconds = exactQuantile(times, 0.99)
      results.exact_p99_sample_count = times.length
      results.p99_relative_error = relativeError(p99, results.exact_p99_seconds)
      results.p99_within_bound = withinP99Bound(p99, results.exact_p99_seconds)
    }

    const stamp = end.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
    const dir = `${opts.out}/${stamp}`
    await mkdir(dir, { recursive: true })
    const browser = await launchBrowser()
    try {
      results.screenshots = {
        p99: await screenshotQuery(browser, opts.prometheus, QUERIES.p99, evaluatedAt, `${dir}/p99.png`),
        status_codes: await screenshotQuery(browser, opts.prometheus, QUERIES.requests_by_status, evaluatedAt, `${dir}/status-codes.png`),
      }
    } finally {
      await browser.close()
    }
    if (opts.inventory) await writeFile(`${dir}/exporter-metrics.txt`, await fetchExporterMetrics(opts.inventory))
    await writeFile(`${dir}/results.json`, `${JSON.stringify(results, null, 2)}\n`)
    await writeFile(`${dir}/summary.md`, summaryMarkdown(results))
    await pointLatestAt(opts.out, stamp)

    echo(`load: p99 PromQL ${p99?.toFixed(4)} s, exact ${results.exact_p99_seconds?.toFixed(4)} s (error ${((results.p99_relative_error ?? NaN) * 100).toFixed(2)} %)`)
    echo(`load: requests by status, exact: ${JSON.stringify(exactRequests)}; siege transactions ${siege.transactions}`)
    echo(`load: report in ${path.relative(process.cwd(), dir)}/ (report/latest)`)
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/** report/latest → the new report, replaced atomically (a new link renamed over the old one). */
async function pointLatestAt(out, stamp) {
  const temporary = `${out}/.latest-${process.pid}`
  await symlink(stamp, temporary)
  await rename(temporary, `${out}/latest`)
}

try {
  await main()
} catch (error) {
  echo(`load: ${error.message}`)
  if (error instanceof UsageError) echo(USAGE)
  process.exitCode = error instanceof UsageError ? 2 : 1
}
