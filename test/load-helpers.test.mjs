// The load script's pure helpers: the exact answers the PromQL ones are judged by.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { counterDelta, exactQuantile, requestTimesInWindow, withinP99Bound } from '../scripts/lib/exact-answers.mjs';
import { readInventory } from '../scripts/lib/inventory.mjs';
import * as exact from '../scripts/lib/exact-answers.mjs';

describe('exact answers', () => {
  test('the nearest-rank p99 of 1..100 is 99, of 1..1000 is 990', () => {
    assert.equal(exactQuantile(Array.from({ length: 100 }, (_, i) => i + 1), 0.99), 99);
    assert.equal(exactQuantile(Array.from({ length: 1000 }, (_, i) => 1000 - i), 0.99), 990);
    assert.equal(exactQuantile([], 0.99), null);
  });

  test('counter deltas count series that appeared during the run from zero and leave out unchanged ones', () => {
    assert.deepEqual(counterDelta({ 200: 10, 404: 3 }, { 200: 25, 404: 3, 500: 2 }), { 200: 15, 500: 2 });
  });

  test('only log lines inside the window (from, to] count, malformed ones never', () => {
    const log = [
      '{"msec":100.000,"request_time":0.5}',
      '{"msec":100.001,"request_time":0.25}',
      'not json',
      '{"msec":160.000,"request_time":0.125}',
      '{"msec":160.001,"request_time":9}',
    ].join('\n');
    assert.deepEqual(requestTimesInWindow(log, 100, 160), [0.25, 0.125]);
  });

  test('the p99 bound is max(5 %, 1 ms)', () => {
    assert.equal(withinP99Bound(0.105, 0.1), true);
    assert.equal(withinP99Bound(0.106, 0.1), false);
    assert.equal(withinP99Bound(0.0059, 0.005), true);
    assert.equal(withinP99Bound(0.0061, 0.005), false);
  });
});

describe('inventory', () => {
  test('the example inventory gives addresses and the SSH arguments Ansible would use', () => {
    const inventory = readInventory(new URL('../inventory/example/hosts.yml', import.meta.url).pathname);
    assert.deepEqual(inventory.prometheus.map((h) => h.address), ['192.0.2.10']);
    assert.deepEqual(inventory.nginx[0].ssh.slice(-1), ['debian@192.0.2.11']);
  });

  test('a missing inventory says how to make one', () => {
    assert.throws(() => readInventory('/nonexistent/hosts.yml'), /cannot read the inventory .*\(is the lab up\? npx zx scripts\/lab\.mjs up\)/);
  });
});

describe('the run in the log', () => {
  test("only this run's requests count, by their exact User-Agent", () => {
    const { logLinesByStatus } = exact;
    const log = [
      '{"status":200,"http_user_agent":"av-load/1"}',
      '{"status":404,"http_user_agent":"av-load/1"}',
      '{"status":200,"http_user_agent":"av-load/10"}',
      '{"status":200,"http_user_agent":"curl"}',
      '{"status":200,"http_user_agent":"av-load/1"}',
    ].join('\n');
    assert.deepEqual(logLinesByStatus(log, 'av-load/1'), { 200: 2, 404: 1 });
  });
});
