// Screenshots of Prometheus' own web UI showing a query and its result, taken with Debian's Chromium
// (driven by playwright-core; no browser is ever downloaded).
import { chromium } from 'playwright-core'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
// A closed network: no background fetches, no update checks, no first-run pages.
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic']

/**
 * Opens the graph page with `query` evaluated at `timeSeconds` in table view, waits for the result
 * and saves a PNG. Returns whether the query text was in the page's editor when it was taken, and the
 * values the page showed.
 */
export async function screenshotQuery(browser, prometheusUrl, query, timeSeconds, file) {
  // the moment in the URL is written in UTC, so the page must read it in UTC too
  const page = await browser.newPage({ viewport: { width: 1400, height: 640 }, deviceScaleFactor: 1, timezoneId: 'UTC' })
  try {
    const url = new URL('/graph', prometheusUrl)
    url.searchParams.set('g0.expr', query)
    url.searchParams.set('g0.tab', '1')
    url.searchParams.set('g0.moment_input', new Date(timeSeconds * 1000).toISOString().replace('T', ' ').slice(0, 19))
    await page.goto(url.href, { waitUntil: 'networkidle' })
    // Debian's Prometheus serves the classic UI: the query sits in a textarea, the result in a table
    await page.waitForSelector('table tbody tr td', { timeout: 30_000 })
    const editorText = await page.locator('textarea').first().inputValue()
    const values = await page.locator('table tbody tr td:last-child').allInnerTexts()
    await page.screenshot({ path: file })
    return {
      queryVisible: editorText.replace(/\s+/g, '') === query.replace(/\s+/g, ''),
      shownValues: values.map(Number),
      url: url.href,
    }
  } finally {
    await page.close()
  }
}

export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
}
