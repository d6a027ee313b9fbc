// Screenshots of Prometheus' own web UI showing a query and its result, taken with Debian's Chromium
// (driven by playwright-core; no browser is ever downloaded). Prometheus speaks HTTPS with the stand's CA
// and asks for its user: Chromium trusts that CA through a throw-away NSS database (certutil) in a HOME of
// its own, and answers the login with the stand's credentials; no certificate error is ever ignored.
// `client`: the stand's (stand-client.mjs), with its CA and user.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { chromium } from 'playwright-core'
import { $ } from 'zx'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
// A closed network: no background fetches, no update checks, no first-run pages.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic']

// Where each Prometheus build serves a graph page, and how to tell which page it is. Debian 13's 2.53 has
// no React UI: /graph is a notice, its classic UI is at /classic/graph (Debian 12's 2.42 serves it there too).
const GRAPH_PAGES = ['classic/graph', 'graph']
const CLASSIC_MARK = 'graph_container'
const REACT_MARK = '<div id="root"'

/** The graph page this Prometheus serves: { url, ui: 'classic' | 'react' }; an error names every URL tried. */
export async function findGraphPage(client, prometheusUrl) {
  const seen = []
  for (const page of GRAPH_PAGES) {
    const url = new URL(page, prometheusUrl).href
    const html = await client.get(url, { timeoutMs: 10_000 }).then((r) => (r.status === 200 ? r.text : `HTTP ${r.status}`), (e) => e.code ?? e.message)
    if (html.includes(CLASSIC_MARK)) return { url, ui: 'classic' }
    if (html.includes(REACT_MARK)) return { url, ui: 'react' }
    seen.push(`${url} (${html.startsWith('HTTP') || html.length < 40 ? html : 'no graph page'})`)
  }
  throw new Error(`Prometheus serves no graph page to take a screenshot of: tried ${seen.join(', ')}`)
}

/**
 * Opens `graphPage` (from findGraphPage) with `query` evaluated at `timeSeconds` in table view, waits for
 * the result and saves a PNG. Returns whether the query text was in the page's editor when it was taken,
 * and the series and values the page showed.
 */
export async function screenshotQuery(client, browser, graphPage, query, timeSeconds, file) {
  // the moment in the URL is written in UTC, so the page must read it in UTC too
  const { user, password } = client.secrets
  const page = await browser.newPage({ viewport: { width: 1400, height: 640 }, deviceScaleFactor: 1, timezoneId: 'UTC', httpCredentials: { username: user, password } })
  try {
    const url = new URL(graphPage.url)
    url.searchParams.set('g0.expr', query)
    url.searchParams.set('g0.tab', '1')
    url.searchParams.set('g0.moment_input', new Date(timeSeconds * 1000).toISOString().replace('T', ' ').slice(0, 19))
    await page.goto(url.href, { waitUntil: 'networkidle' })
    // the classic UI keeps the query in a textarea, the React UI in a CodeMirror editor; both show a table
    await page.waitForSelector('table tbody tr td', { timeout: 30_000 })
    const editorText = graphPage.ui === 'classic'
      ? await page.locator('textarea').first().inputValue()
      : await page.locator('.cm-content').first().innerText()
    // each result row: its series (as `{status="200"}`, `{}` for one without labels) and its value
    const rows = await page.locator('table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.innerText.trim())))
    await page.screenshot({ path: file, fullPage: true })
    return {
      queryVisible: editorText.replace(/\s+/g, '') === query.replace(/\s+/g, ''),
      shownSeries: Object.fromEntries(rows.filter((cells) => cells.length >= 2).map((cells) => [cells[0], Number(cells.at(-1))])),
      url: url.href,
    }
  } finally {
    await page.close()
  }
}

/** Runs `work(browser)` with a Chromium that trusts the stand's CA (and nothing added besides); then closes it and removes its NSS database. */
export async function withBrowser(client, work) {
  const home = await mkdtemp(`${tmpdir()}/av-chromium-`)
  let browser = null
  try {
    const db = `sql:${home}/.pki/nssdb`
    try {
      await $({ quiet: true })`mkdir -p ${home}/.pki/nssdb`
      await $({ quiet: true })`certutil -N -d ${db} --empty-password`
      await $({ quiet: true })`certutil -A -d ${db} -t ${'C,,'} -n ${'av-stand CA'} -i ${client.secrets.caFile}`
    } catch (error) {
      throw new Error(`cannot make Chromium trust the stand's CA (certutil, from libnss3-tools): ${error.stderr?.trim() || error.message}`)
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, env: { ...process.env, HOME: home } })
    return await work(browser)
  } finally {
    await browser?.close()
    await rm(home, { recursive: true, force: true })
  }
}
