// Golden file: a fixture log in, the exact exposition out (fixtures/mixed.log → fixtures/mixed.prom).
// Buckets are given explicitly so the expected text stays short enough to check by hand.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { renderTally } from '../src/log-exposition.js';
import { createLogPipeline } from '../src/log-pipeline.js';

test('fixtures/mixed.log renders exactly as fixtures/mixed.prom', async () => {
  const { tally, splitter } = createLogPipeline({ buckets: [0.005, 0.05, 1, 10], upstreamBuckets: [0.1, 1], logFormat: 'json', maxLineBytes: 4096 });
  splitter.push(await readFile(new URL('./fixtures/mixed.log', import.meta.url)));
  const expected = await readFile(new URL('./fixtures/mixed.prom', import.meta.url), 'utf8');
  assert.equal(renderTally(tally.snapshot(), 'av'), expected);
});
