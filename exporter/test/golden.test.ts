// Golden file: a fixture log in, the exact exposition out (fixtures/mixed.log → fixtures/mixed.prom).
// Buckets are given explicitly so the expected text stays short enough to check by hand.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { renderTally } from '../src/log-exposition.js';
import { createLogPipeline } from '../src/log-pipeline.js';

test('fixtures/mixed.log renders exactly as fixtures/mixed.prom', async () => {
  const { tally, newSplitter } = createLogPipeline({
    buckets: [0.005, 0.05, 1, 10], upstreamBuckets: [0.1, 1], logFormat: 'json', maxLineBytes: 4096, presetStatuses: [], presetMethods: [],
  });
  newSplitter().push(await readFile(new URL('./fixtures/mixed.log', import.meta.url)));
  const expected = await readFile(new URL('./fixtures/mixed.prom', import.meta.url), 'utf8');
  assert.equal(renderTally(tally.snapshot(), 'av'), expected);
});

test('preset series are exposed at 0 before any request, beside the counted ones', () => {
  const { tally, newSplitter } = createLogPipeline({
    buckets: [0.1], upstreamBuckets: [0.1], logFormat: 'json', maxLineBytes: 4096, presetStatuses: [200, 503], presetMethods: ['GET', 'POST'],
  });
  newSplitter().push(Buffer.from('{"status":404,"request_time":0.01,"request_method":"GET"}\n{"status":503,"request_time":0.01,"request_method":"GET"}\n'));
  const requests = renderTally(tally.snapshot(), 'av').split('\n').filter((line) => line.startsWith('av_nginx_http_requests_total{'));
  assert.deepEqual(requests, [
    'av_nginx_http_requests_total{status="200",method="GET"} 0',
    'av_nginx_http_requests_total{status="200",method="POST"} 0',
    'av_nginx_http_requests_total{status="404",method="GET"} 1',
    'av_nginx_http_requests_total{status="503",method="GET"} 1',
    'av_nginx_http_requests_total{status="503",method="POST"} 0',
  ]);
});
