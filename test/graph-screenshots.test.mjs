// The report's graphs of the run and the live dashboard, against real Prometheus builds on loopback, without
// the lab: Debian 12's 2.42 and Debian 13's 2.53 (test/support/local-prometheus.mjs), each over HTTPS with a
// password, scraping itself and two real av-exporters that follow a log this test writes. For each build:
// - the Graph tab (screenshot.mjs's screenshotGraph) shows the expression, the range and the stacking asked
//   for, draws the series, and a PNG of it is written that is not blank;
// - the role's console template (roles/prometheus/templates/consoles/av-stand.html.j2, rendered by Ansible
//   with the role's task vars) is served at /consoles/av-stand.html with the password only, every expression
//   of it is valid PromQL there, and headless Chromium draws its graphs (screenshotDashboard).
// With AV_TEST_PICTURES=DIR, every picture taken is also saved there, named for its build (docs/dashboard.png
// is one of them).
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { inflateSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { QUESTIONS } from '../scripts/lib/questions.mjs';
import {
  findGraphPage,
  graphRange,
  screenshotDashboard,
  screenshotGraph,
  withBrowser,
} from '../scripts/lib/screenshot.mjs';
import { dashboardExpressions, checkDashboardExpressions } from './e2e/dashboard-checks.mjs';
import { ROOT, tool } from './support/ansible.mjs';
import { checkResultsSchema } from './support/results-schema.mjs';
import {
  makeSecrets,
  prometheusBuilds,
  startAvExporters,
  startPrometheus,
  waitForData,
} from './support/local-prometheus.mjs';

const ROLE = join(ROOT, 'roles/prometheus');
const work = mkdtempSync(join(tmpdir(), 'av-graphs-'));
const { builds, missing } = prometheusBuilds(work);

/**
 * The console template as the role's task renders it: its own vars, the role's defaults and those of role
 * alert_rules (whose thresholds it draws; the prometheus role includes it, public, before the dashboard).
 */
async function renderDashboard(dir) {
  mkdirSync(dir, { recursive: true });
  const task = parseYaml(readFileSync(join(ROLE, 'tasks/consoles.yml'), 'utf8')).find(
    (t) => t['ansible.builtin.template'],
  );
  const defaults = [join(ROLE, 'defaults/main.yml'), join(ROOT, 'roles/alert_rules/defaults/main.yml')].filter((file) =>
    existsSync(file),
  );
  const output = await tool('ansible', [
    'localhost',
    '-i',
    'localhost,',
    '-c',
    'local',
    '-m',
    'ansible.builtin.template',
    '-a',
    `src=${join(ROLE, 'templates', task['ansible.builtin.template'].src)} dest=${join(dir, 'av-stand.html')} mode=0644`,
    ...defaults.flatMap((file) => ['-e', `@${file}`]),
    '-e',
    JSON.stringify({ role_path: ROLE, ...task.vars }),
  ]);
  assert.doesNotMatch(output, /\[WARNING\]/, output);
  return readFileSync(join(dir, 'av-stand.html'), 'utf8');
}

/** `file` copied to $AV_TEST_PICTURES, if set, named for `build`. */
function keep(file, build) {
  const dir = process.env.AV_TEST_PICTURES;
  if (dir) copyFileSync(file, join(dir, `${build.version.replace(/[^\w.]+/g, '_')}-${file.split('/').at(-1)}`));
}

/** A PNG's size and how many distinct colours its pixels have (8-bit RGB or RGBA, as Chromium writes them). */
function pngStats(file) {
  const png = readFileSync(file);
  assert.equal(png.toString('latin1', 1, 4), 'PNG', `${file} is not a PNG`);
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const [depth, type] = [png[24], png[25]];
  assert.ok(depth === 8 && (type === 2 || type === 6), `${file}: PNG of depth ${depth}, type ${type}`);
  const chunks = [];
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    if (png.toString('latin1', at + 4, at + 8) === 'IDAT') chunks.push(png.subarray(at + 8, at + 8 + length));
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(chunks));
  const bpp = type === 6 ? 4 : 3;
  const stride = width * bpp + 1;
  const colours = new Set();
  // each row's filter undone (None, Sub, Up, Average, Paeth), then every other pixel of every 4th row counted
  const previous = Buffer.alloc(width * bpp);
  const row = Buffer.alloc(width * bpp);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * stride];
    for (let x = 0; x < width * bpp; x++) {
      const value = raw[y * stride + 1 + x];
      const a = x >= bpp ? row[x - bpp] : 0;
      const b = previous[x];
      const c = x >= bpp ? previous[x - bpp] : 0;
      const paeth = () => {
        const p = a + b - c;
        const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      };
      row[x] = (value + [0, a, b, (a + b) >> 1, paeth()][filter]) & 0xff;
    }
    if (y % 4 === 0) for (let x = 0; x < width; x += 2) colours.add(row.readUIntBE(x * bpp, 3));
    row.copy(previous);
  }
  return { width, height, colours: colours.size };
}

describe("the graphs' span and their place in results.json", () => {
  test('the range reaches from the minute of the warm-up to the minute after the end, in whole minutes', () => {
    const from = Date.parse('2026-12-01T10:00:42Z') / 1000;
    const to = Date.parse('2026-12-01T10:05:58Z') / 1000;
    assert.deepEqual(graphRange(from, to), {
      end: to + 2,
      start: from - 42,
      endInput: '2026-12-01 10:06',
      rangeInput: '6m',
    });
    assert.equal(graphRange(to, to).rangeInput, '1m', 'never less than a minute');
    assert.equal(graphRange(from, from + 1).endInput, '2026-12-01 10:01');
  });

  test('each question with a graph draws its own PromQL (the p99) or its rate (requests, stacked), and host by host', () => {
    const p99 = QUESTIONS.find((q) => q.name === 'p99');
    assert.equal(p99.graph.promql, p99.promql);
    assert.equal(p99.graph.byHost.promql, p99.promqlByHost);
    assert.deepEqual(
      [p99.graph.file, p99.graph.byHost.file, p99.graph.stacked],
      ['p99-graph', 'p99-by-instance-graph', false],
    );
    const requests = QUESTIONS.find((q) => q.name === 'requests_by_status');
    assert.deepEqual(
      [requests.graph.file, requests.graph.byHost.file, requests.graph.stacked],
      ['status-codes-graph', 'requests-by-instance-graph', true],
    );
    assert.match(requests.graph.promql, /^sum by \(status\) \(rate\(av_nginx_http_requests_total\[1m\]\)\)/);
  });

  test('pictures of the run: graphs and the dashboard pass the schema with what they showed; a graph without its PromQL does not', () => {
    const results = JSON.parse(readFileSync(join(ROOT, 'docs/report-example/results.json'), 'utf8'));
    const span = { shard: 'prom1', from: '2026-12-01T10:00:00Z', to: '2026-12-01T10:06:00Z' };
    results.window.warm_up_start = '2026-12-01T10:00:42Z';
    results.pictures = [
      {
        file: 'p99-graph.png',
        caption: 'p99 over the run',
        question: 'p99',
        kind: 'graph',
        promql: 'x',
        stacked: false,
        url: 'https://10.77.0.10:9090/classic/graph?g0.expr=x',
        ...span,
      },
      {
        file: 'dashboard.png',
        caption: 'the live dashboard',
        kind: 'dashboard',
        url: 'https://10.77.0.10:9090/consoles/av-stand.html',
        ...span,
      },
    ];
    checkResultsSchema(results);
    delete results.pictures[0].promql;
    assert.throws(() => checkResultsSchema(results), /\/pictures\/0 must have required property 'promql'/);
  });
});

describe(
  'graphs of the run and the live dashboard, on real Prometheus builds',
  { skip: builds.length === 0 && `no Prometheus: ${missing.join('; ')}` },
  () => {
    let client;
    let load;
    let consoles;
    let html;
    let writer;
    let began;
    const secretsDir = join(work, 'secrets');
    before(async () => {
      if (missing.length > 0) process.stderr.write(`graph-screenshots: not tested: ${missing.join('; ')}\n`);
      client = makeSecrets(secretsDir);
      consoles = join(work, 'consoles');
      html = await renderDashboard(consoles);
      load = await startAvExporters(work, 2);
      began = Date.now() / 1000;
      load.write(200);
      writer = setInterval(() => load.write(40), 250);
    });
    after(async () => {
      clearInterval(writer);
      await load?.stop();
      rmSync(work, { recursive: true, force: true });
    });

    test("the template holds the panels' every expression, and the alert thresholds as lines", () => {
      const panels = parseYaml(readFileSync(join(ROLE, 'templates/consoles/av-stand.panels.yml'), 'utf8'));
      const exprs = dashboardExpressions(html);
      for (const section of panels.sections)
        for (const graph of section.graphs)
          for (const { expr } of graph.exprs)
            assert.ok(
              exprs.some((e) => e.expr === expr),
              `the page lacks ${expr}`,
            );
      assert.ok(
        exprs.some((e) => e.expr === 'vector(0.5)' && e.threshold),
        'the p99 threshold line (alert_rules_p99_seconds)',
      );
      assert.ok(
        exprs.some((e) => e.expr === 'vector(0.1)' && e.threshold),
        'the 5xx threshold line',
      );
      assert.doesNotMatch(html, /https?:\/\/(?!127)/, 'nothing loaded from elsewhere');
    });

    for (const build of builds) {
      describe(build.name, () => {
        let prometheus;
        before(async () => {
          prometheus = await startPrometheus({
            build,
            work,
            secretsDir,
            client,
            exporters: load.exporters,
            consolesDir: consoles,
          });
          await waitForData(client, prometheus.url, 'sum(rate(av_nginx_http_requests_total[10s])) > 0');
          // the p99 graph draws a line only from its second point on: a first point alone is a path of no length,
          // which never shows (a loaded machine scraped once by the time the rate above had data)
          const p99 = QUESTIONS.find((q) => q.name === 'p99').graph.promql;
          await waitForData(client, prometheus.url, `count_over_time((${p99})[15s:1s]) >= 3`);
          await waitForData(client, prometheus.url, 'prometheus_rule_evaluations_total or up{job="prometheus"}');
        });
        after(() => prometheus?.stop());

        test('the Graph tab: the expression, its range and stacking, drawn; a PNG that is not blank', async () => {
          const graphPage = await findGraphPage(client, prometheus.url);
          assert.equal(graphPage.ui, 'classic');
          const p99 = QUESTIONS.find((q) => q.name === 'p99');
          const statuses = QUESTIONS.find((q) => q.name === 'requests_by_status');
          const to = Date.now() / 1000;
          await withBrowser(client, async (browser) => {
            for (const [name, graph, stacked] of [
              ['p99', p99.graph, false],
              ['status', statuses.graph, true],
            ]) {
              const file = join(work, `${name}.png`);
              const shot = await screenshotGraph(
                client,
                browser,
                graphPage,
                { query: graph.promql, from: began - 120, to, stacked, waitForEnd: false },
                file,
              );
              assert.equal(shot.queryVisible, true, `${name}: the expression in the page`);
              assert.equal(shot.rangeShown, true, `${name}: the range in the page`);
              assert.equal(shot.stackedShown, true, `${name}: stacked ${stacked}`);
              assert.ok(
                shot.shownSeries.length >= (stacked ? 3 : 1),
                `${name}: the legend shows ${JSON.stringify(shot.shownSeries)}`,
              );
              if (stacked)
                assert.ok(
                  shot.shownSeries.some((s) => s.includes('503')),
                  `${name}: ${JSON.stringify(shot.shownSeries)}`,
                );
              keep(file, build);
              const { width, height, colours } = pngStats(file);
              assert.ok(
                width >= 1000 && height >= 500 && colours >= 20,
                `${name}.png: ${width}x${height}, ${colours} colours`,
              );
            }
          });
          assert.deepEqual(graphRange(began - 120, to).endInput.length, 16);
        });

        test('the live dashboard: served with the password only, every expression valid, its graphs drawn', async () => {
          const page = `${prometheus.url}consoles/av-stand.html`;
          assert.equal((await client.get(page, { credentials: false })).status, 401, 'without the password');
          const served = await client.get(page);
          assert.equal(served.status, 200, served.text.slice(0, 500));
          const checked = await checkDashboardExpressions(client, prometheus.url, { requireData: false });
          assert.ok(checked.expressions >= 20, `${checked.expressions} expressions`);
          // the av-exporter, nginx and Prometheus graphs have data here (no node exporter, no rules)
          for (const expected of [
            'sum by (status) (rate(av_nginx_http_requests_total[1m])) > 0',
            'max by (instance) (av_nginx_log_unread_bytes)',
            'count(up)',
          ]) {
            assert.ok(
              checked.withData.includes(expected),
              `no data for ${expected}: ${JSON.stringify(checked.withoutData)}`,
            );
          }
          const file = join(work, 'dashboard.png');
          const to = Date.now() / 1000;
          const shot = await withBrowser(client, (browser) =>
            screenshotDashboard(client, browser, prometheus.url, { from: began - 60, to }, file),
          );
          assert.deepEqual(shot.failed, [], 'graphs that failed');
          assert.ok(
            shot.graphs >= 15 && shot.drawn >= 9,
            `${shot.drawn} of ${shot.graphs} graphs drawn; empty: ${shot.empty.join(', ')}`,
          );
          const { width, height, colours } = pngStats(file);
          assert.ok(
            width >= 1000 && height >= 1500 && colours >= 20,
            `dashboard.png: ${width}x${height}, ${colours} colours`,
          );
          keep(file, build);
        });
      });
    }
  },
);
