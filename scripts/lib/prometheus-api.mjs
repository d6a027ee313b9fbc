// The few calls to Prometheus' HTTP API the load script makes (VictoriaMetrics answers the same API).
// `engine`: { name, params } for another engine than Prometheus: its name in errors, extra query parameters.
// Every request goes through stand-http: HTTPS with the stand's CA and user.
import { standGetJson, standSecrets } from './stand-http.mjs'

const PROMETHEUS = { name: 'Prometheus', params: {} }

/** The result vector of an instant query at `timeSeconds` (now when undefined). */
export async function instantQuery(base, query, timeSeconds, engine = PROMETHEUS) {
  const url = new URL('api/v1/query', base)
  url.searchParams.set('query', query)
  if (timeSeconds !== undefined) url.searchParams.set('time', String(timeSeconds))
  for (const [key, value] of Object.entries(engine.params)) url.searchParams.set(key, value)
  let response
  try {
    response = await standGetJson(url.href)
  } catch (error) {
    throw new Error(`${engine.name} does not answer at ${base} (${error.code ?? error.message}): is it running on its host?`)
  }
  const { status, body } = response
  if (status === 401) throw new Error(`${engine.name} at ${base} refused the stand's user (HTTP 401): is the password in ${standSecrets()?.dir}/admin.password the one site.yml set?`)
  if (status !== 200 || body?.status !== 'success') {
    throw new Error(`${engine.name} could not evaluate ${query} (HTTP ${status}): ${body?.error ?? 'no JSON answer'}`)
  }
  return body.data.result
}

/** The single value of a query, or null when it has no result. */
export async function scalarQuery(base, query, timeSeconds, engine = PROMETHEUS) {
  const [first] = await instantQuery(base, query, timeSeconds, engine)
  return first ? Number(first.value[1]) : null
}

/** { [instance]: { [label value]: number } } of a query that returns one series per instance and value of `label`. */
export async function byInstanceAndLabel(base, query, label, timeSeconds) {
  const nested = {}
  for (const series of await instantQuery(base, query, timeSeconds)) {
    const instance = series.metric.instance
    nested[instance] ??= {}
    nested[instance][series.metric[label]] = Number(series.value[1])
  }
  return nested
}

/** { [label value]: number } of a query that returns one series per value of `label`. */
export async function byLabel(base, query, label, timeSeconds, engine = PROMETHEUS) {
  const result = await instantQuery(base, query, timeSeconds, engine)
  return Object.fromEntries(result.map((series) => [series.metric[label], Number(series.value[1])]).sort(([a], [b]) => a.localeCompare(b)))
}

/**
 * Waits until every av-exporter target has been scraped after `afterSeconds` (Unix time); returns the
 * newest of those scrapes' times. The lines nginx logged before `afterSeconds` are then in Prometheus
 * (av-exporter reads its log within a poll interval, 250 ms by default), and a query at the returned
 * time sees, for every target, a scrape after `afterSeconds`: at the oldest one, a target scraped
 * later would still show its scrape from before.
 */
export async function waitForScrapeAfter(base, afterSeconds, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs
  let oldest = null
  while (Date.now() < deadline) {
    oldest = await scalarQuery(base, 'min(timestamp(av_nginx_log_lines_total))')
    if (oldest !== null && oldest > afterSeconds) return scalarQuery(base, 'max(timestamp(av_nginx_log_lines_total))')
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
  throw new Error(oldest === null
    ? `Prometheus has no av_nginx_log_lines_total: it does not scrape av-exporter (check ${new URL('targets', base)})`
    : `Prometheus did not scrape av-exporter within ${timeoutMs / 1000} s (last at ${new Date(oldest * 1000).toISOString()}; check ${new URL('targets', base)})`)
}

/** Prometheus' active targets, as its /api/v1/targets lists them (scraped yet or not, with their health). */
export async function activeTargets(base) {
  const url = new URL('api/v1/targets', base)
  url.searchParams.set('state', 'active')
  const { status, body } = await standGetJson(url.href).catch((error) => {
    throw new Error(`Prometheus does not answer at ${base} (${error.code ?? error.message}): is it running on its host?`)
  })
  if (status !== 200 || body?.status !== 'success') throw new Error(`Prometheus at ${base} answered ${status} for its targets`)
  return body.data.activeTargets
}

/** The instances of a job's active targets, sorted. */
export async function targetInstances(base, job) {
  return (await activeTargets(base)).filter((target) => target.labels.job === job).map((target) => target.labels.instance).sort()
}
