// Checks of the live dashboard (/consoles/av-stand.html, role prometheus), for the end-to-end test (not a
// test file itself), on a provisioned stand after a load run:
//   await checkDashboardExpressions(client, ['https://10.77.0.10:9090/'])   // every Prometheus host
// `client`: the stand's (scripts/lib/stand-client.mjs). Each page must be served (HTTP 200 with the password,
// 401 without); its expressions are those of the page as served (the JSON the role renders into it from
// av-stand.panels.yml, the one list the page draws), and each must be valid PromQL on every Prometheus and,
// unless `requireData` is false, return at least one number over the last `lookbackSeconds` on one of them
// (a shard holds only its own hosts' series, so together they must cover every graph). Resolves with
// { expressions, withData: [expr], withoutData: [expr], pages: [url] }.
import assert from 'node:assert/strict';
import { DASHBOARD_PATH } from '../../scripts/lib/screenshot.mjs';

export { DASHBOARD_PATH };
const PANELS = /<script type="application\/json" id="av-stand-panels">([^<]*)<\/script>/;

/** Every expression of a dashboard page: [{ section, graph, expr, name, threshold }], in the page's order. */
export function dashboardExpressions(html) {
  const found = PANELS.exec(html);
  assert.ok(found, 'the dashboard page has no av-stand-panels JSON');
  const panels = JSON.parse(found[1]);
  return panels.sections.flatMap((section) =>
    section.graphs.flatMap((graph) =>
      graph.exprs.map((e) => ({
        section: section.title,
        graph: graph.title,
        expr: e.expr,
        name: e.name,
        threshold: Boolean(e.threshold),
      })),
    ),
  );
}

export async function checkDashboardExpressions(
  client,
  prometheusUrls,
  { requireData = true, lookbackSeconds = 900 } = {},
) {
  const urls = [prometheusUrls].flat();
  const expressions = new Map();
  for (const base of urls) {
    const page = new URL(DASHBOARD_PATH, base).href;
    const denied = await client.get(page, { credentials: false });
    assert.equal(denied.status, 401, `${page} without the password: HTTP ${denied.status}`);
    const served = await client.get(page);
    assert.equal(served.status, 200, `${page}: HTTP ${served.status}: ${served.text.slice(0, 300)}`);
    for (const e of dashboardExpressions(served.text)) if (!expressions.has(e.expr)) expressions.set(e.expr, e);
  }
  assert.ok(expressions.size > 0, 'the dashboard has no expressions');

  const end = Math.floor(Date.now() / 1000);
  const start = end - lookbackSeconds;
  const step = Math.max(5, Math.ceil(lookbackSeconds / 200));
  const withData = [];
  const withoutData = [];
  for (const [expr, e] of expressions) {
    let numbers = 0;
    for (const base of urls) {
      const url = new URL('api/v1/query_range', base);
      for (const [key, value] of Object.entries({ query: expr, start, end, step }))
        url.searchParams.set(key, String(value));
      const { status, body } = await client.getJson(url.href);
      assert.equal(status, 200, `${base}: "${e.graph}" (${e.section}): ${expr}: HTTP ${status}: ${body?.error ?? ''}`);
      assert.equal(body.status, 'success', `${base}: ${expr}: ${body.error}`);
      numbers += body.data.result
        .flatMap((series) => series.values)
        .filter(([, v]) => Number.isFinite(Number(v))).length;
    }
    (numbers > 0 ? withData : withoutData).push(expr);
  }
  if (requireData) {
    assert.deepEqual(
      withoutData.map((expr) => `"${expressions.get(expr).graph}": ${expr}`),
      [],
      `dashboard expressions with no number over the last ${lookbackSeconds} s on ${urls.join(', ')}`,
    );
  }
  return {
    expressions: expressions.size,
    withData,
    withoutData,
    pages: urls.map((base) => new URL(DASHBOARD_PATH, base).href),
  };
}
