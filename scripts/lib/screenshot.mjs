// Screenshots of Prometheus' own web UI showing a query and its result, taken with Debian's Chromium
// (driven by playwright-core; no browser is ever downloaded). Prometheus speaks HTTPS with the stand's CA
// and asks for its user: Chromium trusts that CA through a throw-away NSS database (certutil) in a HOME of
// its own, and answers the login with the stand's credentials; no certificate error is ever ignored.
// `client`: the stand's (stand-client.mjs), with its CA and user.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { $ } from 'zx';

/* global document -- the functions given to page.evaluate and page.waitForFunction run in the browser */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// A closed network: no background fetches, no update checks, no first-run pages.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

// Where each Prometheus build serves a graph page, and how to tell which page it is. Debian 13's 2.53 has
// no React UI: /graph is a notice, its classic UI is at /classic/graph (Debian 12's 2.42 serves it there too).
const GRAPH_PAGES = ['classic/graph', 'graph'];
const CLASSIC_MARK = 'graph_container';
const REACT_MARK = '<div id="root"';

/** The graph page this Prometheus serves: { url, ui: 'classic' | 'react' }; an error names every URL tried. */
export async function findGraphPage(client, prometheusUrl) {
  const seen = [];
  for (const page of GRAPH_PAGES) {
    const url = new URL(page, prometheusUrl).href;
    const html = await client.get(url, { timeoutMs: 10_000 }).then(
      (r) => (r.status === 200 ? r.text : `HTTP ${r.status}`),
      (e) => e.code ?? e.message,
    );
    if (html.includes(CLASSIC_MARK)) return { url, ui: 'classic' };
    if (html.includes(REACT_MARK)) return { url, ui: 'react' };
    seen.push(`${url} (${html.startsWith('HTTP') || html.length < 40 ? html : 'no graph page'})`);
  }
  throw new Error(`Prometheus serves no graph page to take a screenshot of: tried ${seen.join(', ')}`);
}

/**
 * Opens `graphPage` (from findGraphPage) with `query` evaluated at `timeSeconds` in table view, waits for
 * the result and saves a PNG. Returns whether the query text was in the page's editor when it was taken,
 * and the series and values the page showed.
 */
export async function screenshotQuery(client, browser, graphPage, query, timeSeconds, file) {
  // the moment in the URL is written in UTC, so the page must read it in UTC too
  const { user, password } = client.secrets;
  const page = await browser.newPage({
    viewport: { width: 1400, height: 640 },
    deviceScaleFactor: 1,
    timezoneId: 'UTC',
    httpCredentials: { username: user, password },
  });
  try {
    const url = new URL(graphPage.url);
    url.searchParams.set('g0.expr', query);
    url.searchParams.set('g0.tab', '1');
    url.searchParams.set('g0.moment_input', new Date(timeSeconds * 1000).toISOString().replace('T', ' ').slice(0, 19));
    await page.goto(url.href, { waitUntil: 'networkidle' });
    // the classic UI keeps the query in a textarea, the React UI in a CodeMirror editor; both show a table
    await page.waitForSelector('table tbody tr td', { timeout: 30_000 });
    const editorText =
      graphPage.ui === 'classic'
        ? await page.locator('textarea').first().inputValue()
        : await page.locator('.cm-content').first().innerText();
    // each result row: its series (as `{status="200"}`, `{}` for one without labels) and its value
    const rows = await page
      .locator('table tbody tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.innerText.trim())));
    await page.screenshot({ path: file, fullPage: true });
    return {
      queryVisible: editorText.replace(/\s+/g, '') === query.replace(/\s+/g, ''),
      shownSeries: Object.fromEntries(
        rows.filter((cells) => cells.length >= 2).map((cells) => [cells[0], Number(cells.at(-1))]),
      ),
      url: url.href,
    };
  } finally {
    await page.close();
  }
}

/**
 * The classic graph page's range for the span [from, to] (seconds): its end is given in whole minutes
 * (end_input, YYYY-MM-DD HH:mm, UTC), so the end is the minute at or after `to`, and the range reaches
 * back to the minute at or before `from`; the range in minutes when whole, else in seconds.
 */
export function graphRange(from, to) {
  const end = Math.ceil(to / 60) * 60;
  const seconds = Math.max(60, end - Math.floor(from / 60) * 60);
  return {
    end,
    start: end - seconds,
    endInput: new Date(end * 1000).toISOString().replace('T', ' ').slice(0, 16),
    rangeInput: seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`,
  };
}

/**
 * Opens `graphPage` (from findGraphPage; the classic UI, which both Debian builds serve) on its Graph tab
 * with `query` over [from, to] (seconds; graphRange rounds them out to whole minutes, as the page takes its
 * end), `stacked` or not, waits for the graph to be drawn and saves a PNG; an end still to come is waited
 * for first, unless `waitForEnd` is false. Returns what the page showed when it was taken: whether
 * the query, the range, the end and the stacking were those asked, the series in its legend, its URL.
 */
export async function screenshotGraph(
  client,
  browser,
  graphPage,
  { query, from, to, stacked = false, waitForEnd = true },
  file,
) {
  if (graphPage.ui !== 'classic')
    throw new Error(
      `${graphPage.url} is the React UI: the graph screenshots know the classic UI's page (/classic/graph) only`,
    );
  const { user, password } = client.secrets;
  const range = graphRange(from, to);
  // an end still to come would draw the last seconds as Prometheus sees the future (rates falling, gauges
  // held): unless told not to, wait for it (at most a minute)
  const wait = (range.end + 2) * 1000 - Date.now();
  if (waitForEnd && wait > 0) await sleep(wait);
  const page = await browser.newPage({
    viewport: { width: 1400, height: 760 },
    deviceScaleFactor: 1,
    timezoneId: 'UTC',
    httpCredentials: { username: user, password },
  });
  try {
    const url = new URL(graphPage.url);
    url.searchParams.set('g0.expr', query);
    url.searchParams.set('g0.tab', '0');
    url.searchParams.set('g0.range_input', range.rangeInput);
    url.searchParams.set('g0.end_input', range.endInput);
    url.searchParams.set('g0.stacked', stacked ? '1' : '0');
    await page.goto(url.href, { waitUntil: 'networkidle' });
    // drawn: Rickshaw's paths in the graph area, or the page's own error
    await page.waitForSelector('.graph_area svg path, .error.alert:visible', { timeout: 30_000 });
    const error = await page
      .locator('.error.alert')
      .first()
      .evaluate((node) => (node.offsetParent === null ? '' : node.innerText.trim()));
    if (error) throw new Error(`the graph page says: ${error}`);
    const shown = {
      query: await page.locator('textarea[name=expr]').first().inputValue(),
      range: await page.locator('input[name=range_input]').first().inputValue(),
      end: await page.locator('input[name=end_input]').first().inputValue(),
      stacked: await page.locator('input[name=stacked]').first().inputValue(),
    };
    const series = await page
      .locator('.legend .legend_item, .legend .line')
      .evaluateAll((items) => items.map((item) => item.innerText.trim()).filter(Boolean));
    await page.screenshot({ path: file, fullPage: true });
    return {
      queryVisible: shown.query.replace(/\s+/g, '') === query.replace(/\s+/g, ''),
      rangeShown: shown.range === range.rangeInput && shown.end === range.endInput,
      stackedShown: (shown.stacked === '1') === stacked,
      from: new Date(range.start * 1000).toISOString(),
      to: new Date(range.end * 1000).toISOString(),
      shownSeries: series,
      url: url.href,
    };
  } finally {
    await page.close();
  }
}

/** The live dashboard's path (roles/prometheus/templates/consoles/av-stand.html.j2). */
export const DASHBOARD_PATH = 'consoles/av-stand.html';

/**
 * The live dashboard of the Prometheus at `prometheusUrl` over [from, to] (seconds), as a PNG of the whole
 * page once every graph is drawn (or says it has no data). Returns { graphs, drawn, empty: [titles], failed: [titles], from, to, url }; throws when the page is not there (a stand provisioned before it).
 */
export async function screenshotDashboard(client, browser, prometheusUrl, { from, to }, file) {
  const { user, password } = client.secrets;
  const page = await browser.newPage({
    viewport: { width: 1400, height: 900 },
    deviceScaleFactor: 1,
    timezoneId: 'UTC',
    httpCredentials: { username: user, password },
  });
  try {
    // the page takes its span in seconds (prom_console.js' #pctc): exactly [from, to], at least a minute
    const range = { start: Math.floor(Math.min(from, to - 60)), end: Math.ceil(to) };
    const url = new URL(DASHBOARD_PATH, prometheusUrl);
    url.hash = `pctc${encodeURIComponent(JSON.stringify({ duration: range.end - range.start, endTime: range.end }))}`;
    const response = await page.goto(url.href, { waitUntil: 'networkidle' });
    if (response.status() !== 200)
      throw new Error(
        `${url.origin}${url.pathname} answers HTTP ${response.status()}: is the stand provisioned with the dashboard (ansible-playbook site.yml)?`,
      );
    const state = () =>
      page.evaluate(() => {
        const boxes = [...document.querySelectorAll('.av-graph')];
        const of = (box) => ({
          title: box.querySelector('h3')?.innerText.trim() ?? '',
          drawn: box.querySelector('.rickshaw_graph svg path') !== null,
          error: box.querySelector('.prom_graph_error')?.innerText.trim() ?? null,
          loading: box.querySelector('.prom_graph_loading') !== null,
        });
        return boxes.map(of);
      });
    await page.waitForFunction(
      () => {
        const boxes = [...document.querySelectorAll('.av-graph')];
        return (
          boxes.length > 0 &&
          boxes.every(
            (box) =>
              box.querySelector('.rickshaw_graph svg, .prom_graph_error') !== null &&
              box.querySelector('.prom_graph_loading') === null,
          )
        );
      },
      null,
      { timeout: 60_000 },
    );
    const graphs = await state();
    await page.screenshot({ path: file, fullPage: true });
    return {
      graphs: graphs.length,
      drawn: graphs.filter((g) => g.drawn).length,
      empty: graphs.filter((g) => !g.drawn && g.error === 'No timeseries returned').map((g) => g.title),
      failed: graphs
        .filter((g) => !g.drawn && g.error !== 'No timeseries returned')
        .map((g) => `${g.title}: ${g.error ?? 'not drawn'}`),
      from: new Date(range.start * 1000).toISOString(),
      to: new Date(range.end * 1000).toISOString(),
      url: url.href,
    };
  } finally {
    await page.close();
  }
}

/** Runs `work(browser)` with a Chromium that trusts the stand's CA (and nothing added besides); then closes it and removes its NSS database. */
export async function withBrowser(client, work) {
  const home = await mkdtemp(`${tmpdir()}/av-chromium-`);
  let browser = null;
  try {
    const db = `sql:${home}/.pki/nssdb`;
    try {
      await $({ quiet: true })`mkdir -p ${home}/.pki/nssdb`;
      await $({ quiet: true })`certutil -N -d ${db} --empty-password`;
      await $({ quiet: true })`certutil -A -d ${db} -t ${'C,,'} -n ${'av-stand CA'} -i ${client.secrets.caFile}`;
    } catch (error) {
      throw new Error(
        `cannot make Chromium trust the stand's CA (certutil, from libnss3-tools): ${error.stderr?.trim() || error.message}`,
      );
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      env: { ...process.env, HOME: home },
    });
    return await work(browser);
  } finally {
    await browser?.close();
    await rm(home, { recursive: true, force: true });
  }
}
