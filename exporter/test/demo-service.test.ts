// The demo service's own metrics stay true on every path: errors, 404s and clients that go away.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { demoApp } from '../src/demo-service.js';

describe('demo service', () => {
  const registry = new Registry();
  let server: Server;
  let base = '';

  before(async () => {
    let draws = 0;
    // a fixed sequence: fast answers, half of them 500 or 503
    const random = () => [0.5, 0.5, 0.1, 0.5, 0.5, 0.9, 0.5, 0.5, 0.3][draws++ % 9]!;
    const app = demoApp({ latencyMedianSeconds: 0.005, latencySigma: 0, errorRate: 0.2, unavailableRate: 0.2 }, registry, 'av', random);
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  async function metric(name: string): Promise<Map<string, number>> {
    const values = new Map<string, number>();
    for (const line of (await registry.metrics()).split('\n')) {
      if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) values.set(line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1)));
    }
    return values;
  }

  test('counts every finished request by route and status, and the gauge is back to 0', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 9; i++) statuses.push((await fetch(`${base}/api/work`)).status);
    statuses.push((await fetch(`${base}/api/nope`)).status);
    const counted = await metric('av_demo_requests_total');
    const sum = (status: number) => statuses.filter((s) => s === status).length;
    assert.ok(sum(500) > 0 && sum(503) > 0 && sum(200) > 0, `statuses ${statuses}`);
    assert.equal(counted.get('av_demo_requests_total{route="/api/work",method="GET",status="200"}'), sum(200));
    assert.equal(counted.get('av_demo_requests_total{route="/api/work",method="GET",status="500"}'), sum(500));
    assert.equal(counted.get('av_demo_requests_total{route="/api/work",method="GET",status="503"}'), sum(503));
    assert.equal(counted.get('av_demo_requests_total{route="unmatched",method="GET",status="404"}'), 1);
    assert.equal((await metric('av_demo_requests_in_progress')).get('av_demo_requests_in_progress'), 0);
    const last = (await metric('av_demo_last_request_timestamp_seconds')).get('av_demo_last_request_timestamp_seconds')!;
    assert.ok(Math.abs(last - Date.now() / 1000) < 5, `last request at ${last}`);
  });

  test('answers a forced status and delay, and ignores out-of-range ones', async () => {
    const forced = await fetch(`${base}/api/work?force_status=503&delay_ms=0`, { method: 'POST' });
    assert.equal(forced.status, 503);
    assert.deepEqual(await forced.json(), { status: 503, delay_ms: 0 });
    const ignored = await fetch(`${base}/api/work?force_status=700&delay_ms=0`);
    assert.notEqual(ignored.status, 700);
    await ignored.arrayBuffer();
    // only the statuses the demo answers on its own can be forced: any other is an ordinary request
    for (const status of [418, 404, 599, 204]) {
      const ordinary = await fetch(`${base}/api/work?force_status=${status}&delay_ms=0`);
      assert.ok([200, 500, 503].includes(ordinary.status), `force_status=${status} answered ${ordinary.status}`);
      await ordinary.arrayBuffer();
    }
    const forced200 = await fetch(`${base}/api/work?force_status=200&delay_ms=0`);
    assert.equal(forced200.status, 200);
    await forced200.arrayBuffer();
    const counted = await metric('av_demo_requests_total');
    assert.equal(counted.get('av_demo_requests_total{route="/api/work",method="POST",status="503"}'), 1);
  });

  test('a client that goes away is counted with status 0 and leaves the gauge at 0', async () => {
    const slow = demoApp({ latencyMedianSeconds: 2, latencySigma: 0, errorRate: 0, unavailableRate: 0 }, registry, 'av_slow');
    const slowServer = await new Promise<Server>((resolve) => {
      const s = slow.listen(0, '127.0.0.1', () => resolve(s));
    });
    const url = `http://127.0.0.1:${(slowServer.address() as AddressInfo).port}/api/work`;
    const controller = new AbortController();
    const request = fetch(url, { signal: controller.signal }).catch(() => 'aborted');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await metric('av_slow_demo_requests_in_progress')).get('av_slow_demo_requests_in_progress'), 1);
    controller.abort();
    assert.equal(await request, 'aborted');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await metric('av_slow_demo_requests_in_progress')).get('av_slow_demo_requests_in_progress'), 0);
    assert.equal((await metric('av_slow_demo_requests_total')).get('av_slow_demo_requests_total{route="/api/work",method="GET",status="0"}'), 1);
    slowServer.closeAllConnections();
    await new Promise((resolve) => slowServer.close(resolve));
  });
});
