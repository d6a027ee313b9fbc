// The stand's webhook receiver (roles/alert_receiver/files/av-alert-receiver.py) as a real process: what
// Alertmanager posts is appended to its file, one JSON line each; /metrics counts it, across a restart.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from './support/ansible.mjs';

const SCRIPT = join(ROOT, 'roles/alert_receiver/files/av-alert-receiver.py');
const dir = mkdtempSync(join(tmpdir(), 'av-alert-receiver-'));
const file = join(dir, 'notifications.jsonl');

const freePort = () => new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  });
});

async function startReceiver(port) {
  const child = spawn('/usr/bin/python3', [SCRIPT, '--listen', `127.0.0.1:${port}`, '--file', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  for (let i = 0; i < 50; i++) {
    if (await fetch(`http://127.0.0.1:${port}/metrics`).then(() => true, () => false)) return child;
    await sleep(100);
  }
  child.kill();
  throw new Error('the receiver did not start');
}

const stop = (child) => new Promise((resolve) => {
  child.once('exit', resolve);
  child.kill('SIGTERM');
});

// as Alertmanager's webhook_configs send it (version 4), trimmed
const notification = (status) => ({
  version: '4', status, receiver: 'stand-webhook', groupLabels: { alertname: 'TargetDown' },
  alerts: [{ status, labels: { alertname: 'TargetDown', job: 'av_exporter', instance: 'web1' }, startsAt: '2026-12-01T00:00:00Z' }],
});

describe("the stand's webhook receiver", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('appends each notification, refuses what is not one, and counts across a restart', async () => {
    const port = await freePort();
    const post = (body) => fetch(`http://127.0.0.1:${port}/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const metrics = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    let receiver = await startReceiver(port);
    try {
      assert.equal((await post(JSON.stringify(notification('firing')))).status, 200);
      assert.equal((await post('not json')).status, 400);
      assert.equal((await post('[1, 2]')).status, 400);
      assert.equal((await fetch(`http://127.0.0.1:${port}/other`, { method: 'POST', body: '{}' })).status, 404);
      assert.equal((await post(JSON.stringify(notification('resolved')))).status, 200);
      const lines = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
      assert.deepEqual(lines.map((l) => l.notification.status), ['firing', 'resolved']);
      assert.ok(lines.every((l) => typeof l.received_at === 'number'));
      assert.match(await metrics(), /^av_alert_receiver_notifications_total\{status="firing"\} 1$/m);
      await stop(receiver);
      receiver = await startReceiver(port);
      const after = await metrics();
      assert.match(after, /^av_alert_receiver_notifications_total\{status="firing"\} 1$/m);
      assert.match(after, /^av_alert_receiver_notifications_total\{status="resolved"\} 1$/m);
      assert.match(after, /^av_alert_receiver_alerts_total\{status="resolved"\} 1$/m);
    } finally {
      await stop(receiver);
    }
  });
});
