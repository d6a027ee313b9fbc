// The stand's webhook receiver (roles/alert_receiver/files/av-alert-receiver.py) as a real process: what
// Alertmanager posts is appended to its file, one JSON line each; /metrics counts it, across a restart.
// Watchdog heartbeats are remembered, not written, and a silent source is reported as a DeadMansSwitch.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../scripts/lib/ports.mjs';
import { pollUntil } from '../scripts/lib/wait.mjs';
import { ROOT } from './support/ansible.mjs';

const SCRIPT = join(ROOT, 'roles/alert_receiver/files/av-alert-receiver.py');
const dir = mkdtempSync(join(tmpdir(), 'av-alert-receiver-'));
const file = join(dir, 'notifications.jsonl');

/**
 * The receiver listening on `port`, writing to `into`, once it answers; `output` gathers what it prints.
 * @param {number} port
 * @param {string} [into]
 * @param {string[]} [args]
 */
async function startReceiver(port, into = file, args = []) {
  const child = Object.assign(
    spawn('/usr/bin/python3', [SCRIPT, '--listen', `127.0.0.1:${port}`, '--file', into, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
    { output: '' },
  );
  child.stdout.on('data', (chunk) => {
    child.output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    child.output += chunk;
  });
  const answers = () =>
    fetch(`http://127.0.0.1:${port}/metrics`).then(
      () => true,
      () => false,
    );
  if (await pollUntil(answers, { seconds: 5, intervalMs: 100, onTimeout: () => false })) return child;
  child.kill();
  throw new Error('the receiver did not start');
}

const stop = (child) =>
  new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });

/**
 * An alert of a webhook notification, as Alertmanager posts it.
 * @typedef {{ status: string, labels: Record<string, string>, annotations?: Record<string, string>, startsAt: string, endsAt?: string, fingerprint?: string }} Alert
 */

/**
 * As Alertmanager's webhook_configs send it (version 4), trimmed.
 * @param {string} status
 */
const notification = (status) => ({
  version: '4',
  status,
  receiver: 'stand-webhook',
  groupLabels: { alertname: 'TargetDown' },
  alerts: [
    {
      status,
      labels: { alertname: 'TargetDown', job: 'av_exporter', instance: 'web1' },
      startsAt: '2026-12-01T00:00:00Z',
    },
  ],
});

describe("the stand's webhook receiver", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('appends each notification, refuses what is not one, and counts across a restart', async () => {
    const port = await freePort();
    const post = (body) =>
      fetch(`http://127.0.0.1:${port}/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    const metrics = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    let receiver = await startReceiver(port);
    try {
      assert.equal((await post(JSON.stringify(notification('firing')))).status, 200);
      assert.equal((await post('not json')).status, 400);
      assert.equal((await post('[1, 2]')).status, 400);
      assert.equal((await fetch(`http://127.0.0.1:${port}/other`, { method: 'POST', body: '{}' })).status, 404);
      assert.equal((await post(JSON.stringify(notification('resolved')))).status, 200);
      const lines = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      assert.deepEqual(
        lines.map((l) => l.notification.status),
        ['firing', 'resolved'],
      );
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

/**
 * A Watchdog notification as Alertmanager sends it for one source (group_by [prometheus]); no label: unlabelled.
 * @param {string | undefined} source
 * @param {string} [status]
 */
const watchdog = (source, status = 'firing') => {
  const labels = { alertname: 'Watchdog', severity: 'none', ...(source ? { prometheus: source } : {}) };
  return {
    version: '4',
    status,
    receiver: `watchdog-${source}`,
    groupLabels: source ? { prometheus: source } : {},
    commonLabels: labels,
    /** @type {Alert[]} */
    alerts: [
      {
        status,
        labels,
        annotations: { summary: 'the alerting path works' },
        startsAt: '2026-12-01T00:00:00Z',
        fingerprint: '0123456789abcdef',
      },
    ],
  };
};

describe("the webhook receiver's dead man's switch", () => {
  const BOUND = 2; // seconds: --heartbeat-late-after
  const switchDir = mkdtempSync(join(tmpdir(), 'av-alert-receiver-switch-'));
  const switchFile = join(switchDir, 'notifications.jsonl');
  let port;
  let receiver;
  const post = (body) =>
    fetch(`http://127.0.0.1:${port}/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const lines = () =>
    readFileSync(switchFile, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
  /** The DeadMansSwitch alerts in the file, as `status source`, in order. */
  const switches = () =>
    lines()
      .filter((l) => l.notification.receiver === 'av-alert-receiver')
      .flatMap((l) => l.notification.alerts)
      .filter((a) => a.labels.alertname === 'DeadMansSwitch')
      .map((a) => `${a.status} ${a.labels.prometheus}`);
  const metric = async (name, labels = '') => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const escaped = `${name}${labels}`.replace(/[{}"]/g, (c) => `\\${c}`);
    const found = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
    return found ? Number(found[1]) : undefined;
  };
  // the Prometheus hosts whose Alertmanager keeps posting their Watchdog, as it would every repeat interval
  const beating = new Set();
  let beats = true;
  const heart = (async () => {
    while (beats) {
      // while the receiver restarts, a post finds no one: Alertmanager would try again at its next repeat
      await Promise.all([...beating].map((source) => post(watchdog(source)).catch(() => null)));
      await sleep(300);
    }
  })();
  const start = () =>
    startReceiver(port, switchFile, ['--heartbeat-from', 'prom1,prom2', '--heartbeat-late-after', String(BOUND)]);

  after(async () => {
    beats = false;
    await heart;
    if (receiver?.exitCode === null) await stop(receiver);
    rmSync(switchDir, { recursive: true, force: true });
  });

  test('heartbeats are remembered, not written; a silent source is reported once and resolved when it is back', async () => {
    port = await freePort();
    receiver = await start();
    const started = Date.now() / 1000;
    // expected sources have their series from the start: never heard, last seen 0
    assert.equal(await metric('av_alert_receiver_watchdog_last_seen_timestamp_seconds', '{prometheus="prom2"}'), 0);
    assert.equal(await metric('av_alert_receiver_heartbeats_total', '{prometheus="prom2"}'), 0);
    assert.equal(await metric('av_alert_receiver_heartbeat_late', '{prometheus="prom2"}'), 0);
    assert.equal(await metric('av_alert_receiver_heartbeat_late_after_seconds'), BOUND);
    beating.add('prom1').add('prom2');
    assert.equal((await post(notification('firing'))).status, 200);
    await sleep(BOUND * 1000 + 500);

    // heartbeats: none in the file, none in the counts of notifications; the other notification as before
    assert.deepEqual(
      lines().map((l) => l.notification.groupLabels),
      [{ alertname: 'TargetDown' }],
    );
    assert.deepEqual(lines()[0].notification, notification('firing'));
    assert.equal(await metric('av_alert_receiver_notifications_total', '{status="firing"}'), 1);
    assert.equal(await metric('av_alert_receiver_alerts_total', '{status="firing"}'), 1);
    for (const source of ['prom1', 'prom2']) {
      assert.ok((await metric('av_alert_receiver_heartbeats_total', `{prometheus="${source}"}`)) >= 3, source);
      assert.ok(
        (await metric('av_alert_receiver_watchdog_last_seen_timestamp_seconds', `{prometheus="${source}"}`)) > started,
        source,
      );
      assert.equal(await metric('av_alert_receiver_heartbeat_late', `{prometheus="${source}"}`), 0, source);
    }
    assert.deepEqual(switches(), []);

    // prom2 falls silent: reported once, within the bound and a tick, and not again over three bounds
    beating.delete('prom2');
    const silentFrom = Date.now();
    await pollUntil(() => switches().length > 0, { seconds: BOUND + 3, intervalMs: 100, onTimeout: () => false });
    const reportedAfter = (Date.now() - silentFrom) / 1000;
    assert.ok(reportedAfter > BOUND - 0.5 && reportedAfter < BOUND + 2, `reported after ${reportedAfter} s`);
    await sleep(3 * BOUND * 1000);
    assert.deepEqual(switches(), ['firing prom2']);
    const [fired] = lines().filter((l) => l.notification.receiver === 'av-alert-receiver');
    assert.equal(typeof fired.received_at, 'number');
    assert.equal(fired.notification.status, 'firing');
    assert.deepEqual(fired.notification.commonLabels, {
      alertname: 'DeadMansSwitch',
      prometheus: 'prom2',
      severity: 'critical',
    });
    assert.deepEqual(fired.notification.groupLabels, { alertname: 'DeadMansSwitch', prometheus: 'prom2' });
    const [alert] = fired.notification.alerts;
    assert.match(
      alert.annotations.summary,
      /^no Watchdog from prom2 for \d+ s: its Prometheus or the alerting path from it is dead$/,
    );
    assert.equal(alert.annotations.runbook_url, 'docs/runbooks.md#deadmansswitch');
    assert.ok(Math.abs(Date.parse(alert.startsAt) / 1000 - fired.received_at) < 1, alert.startsAt);
    assert.match(receiver.output, /DeadMansSwitch firing for prom2: no Watchdog from prom2/);
    assert.equal(await metric('av_alert_receiver_heartbeat_late', '{prometheus="prom2"}'), 1);
    assert.equal(await metric('av_alert_receiver_heartbeat_late', '{prometheus="prom1"}'), 0);
    assert.equal(await metric('av_alert_receiver_dead_mans_switch_notifications_total', '{status="firing"}'), 1);
    assert.equal(await metric('av_alert_receiver_dead_mans_switch_notifications_total', '{status="resolved"}'), 0);
    // the switch's lines are notifications of the file: counted as such
    assert.equal(await metric('av_alert_receiver_notifications_total', '{status="firing"}'), 2);

    // prom2 is back: one resolved line, with the firing one's startsAt
    beating.add('prom2');
    await sleep(BOUND * 1000);
    assert.deepEqual(switches(), ['firing prom2', 'resolved prom2']);
    const resolved = lines().at(-1).notification;
    assert.equal(resolved.status, 'resolved');
    assert.equal(resolved.alerts[0].startsAt, alert.startsAt);
    assert.ok(Date.parse(resolved.alerts[0].endsAt) > Date.parse(alert.startsAt));
    assert.match(receiver.output, /DeadMansSwitch resolved for prom2/);
    assert.equal(await metric('av_alert_receiver_heartbeat_late', '{prometheus="prom2"}'), 0);
    assert.equal(await metric('av_alert_receiver_dead_mans_switch_notifications_total', '{status="resolved"}'), 1);
  });

  test("a resolved Watchdog is reported at once; others' sources are watched too", async () => {
    // Alertmanager resolves prom1's Watchdog: prom1 is gone, reported without waiting for the bound
    beating.delete('prom1');
    const before = switches().length;
    assert.equal((await post(watchdog('prom1', 'resolved'))).status, 200);
    assert.deepEqual(switches().slice(before), ['firing prom1']);
    assert.match(
      lines().at(-1).notification.alerts[0].annotations.summary,
      /^the Watchdog from prom1 was resolved by Alertmanager/,
    );
    assert.equal(await metric('av_alert_receiver_heartbeat_late', '{prometheus="prom1"}'), 1);
    await sleep(BOUND * 1000 + 1000); // and not again once the bound has passed
    assert.deepEqual(switches().slice(before), ['firing prom1']);
    beating.add('prom1');
    await sleep(1000);
    assert.deepEqual(switches().slice(before), ['firing prom1', 'resolved prom1']);

    // a source not in --heartbeat-from, and a Watchdog without the label ("unknown"): tracked, and reported when silent
    assert.equal((await post(watchdog('prom9'))).status, 200);
    assert.equal((await post(watchdog(undefined))).status, 200);
    assert.equal(await metric('av_alert_receiver_heartbeats_total', '{prometheus="prom9"}'), 1);
    assert.equal(await metric('av_alert_receiver_heartbeats_total', '{prometheus="unknown"}'), 1);
    await sleep(BOUND * 1000 + 1500);
    assert.deepEqual(
      switches()
        .slice(before + 2)
        .sort(),
      ['firing prom9', 'firing unknown'],
    );

    // a notification that mixes a Watchdog with another alert is written whole; its Watchdog is heard (first)
    const mixed = watchdog('prom9');
    mixed.alerts.push(notification('firing').alerts[0]);
    const written = lines().length;
    assert.equal((await post(mixed)).status, 200);
    assert.deepEqual(
      lines()
        .slice(written)
        .map((l) => l.notification.receiver),
      ['av-alert-receiver', 'watchdog-prom9'],
    );
    assert.deepEqual(lines().at(-1).notification, mixed);
    assert.deepEqual(switches().at(-1), 'resolved prom9');
    // odd bodies that are JSON objects are kept, as before; what is not one is refused
    assert.equal((await post({ alerts: 'not a list', status: ['odd'] })).status, 200);
    assert.deepEqual(lines().at(-1).notification, { alerts: 'not a list', status: ['odd'] });
    assert.equal((await post({ alerts: [1, { labels: 'x' }, null] })).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${port}/alerts`, { method: 'POST', body: '"Watchdog"' })).status, 400);
  });

  test('a restart gives every source the whole bound again, and keeps an outage it reported open', async () => {
    beating.delete('prom2');
    await sleep(BOUND * 1000 + 1500);
    assert.equal(
      switches()
        .filter((s) => s.endsWith(' prom2'))
        .at(-1),
      'firing prom2',
    );
    beating.clear();
    await stop(receiver);
    const count = switches().length;
    receiver = await start();
    // prom2's outage is still open: late, and not reported again; prom1, silent too, gets the bound from the start
    assert.equal(await metric('av_alert_receiver_heartbeat_late', '{prometheus="prom2"}'), 1);
    assert.equal(await metric('av_alert_receiver_heartbeat_late', '{prometheus="prom1"}'), 0);
    assert.equal(await metric('av_alert_receiver_heartbeats_total', '{prometheus="prom1"}'), 0);
    assert.equal(await metric('av_alert_receiver_watchdog_last_seen_timestamp_seconds', '{prometheus="prom1"}'), 0);
    assert.equal(await metric('av_alert_receiver_heartbeats_total', '{prometheus="prom9"}'), undefined); // others' sources are forgotten
    await sleep(BOUND * 1000 - 800);
    assert.equal(switches().length, count, 'nothing reported within the bound after a start');
    await sleep(2000);
    assert.deepEqual(switches().slice(count), ['firing prom1']);
    assert.match(
      lines().at(-1).notification.alerts[0].annotations.summary,
      /^no Watchdog from prom1 for \d+ s since the receiver started: /,
    );
    // the counts of the switch's notifications are the file's
    const firing = lines().filter(
      (l) => l.notification.receiver === 'av-alert-receiver' && l.notification.status === 'firing',
    ).length;
    assert.equal(await metric('av_alert_receiver_dead_mans_switch_notifications_total', '{status="firing"}'), firing);
    beating.add('prom1').add('prom2');
    await sleep(1000);
    assert.deepEqual(switches().slice(count).sort(), ['firing prom1', 'resolved prom1', 'resolved prom2']);
    assert.equal(await metric('av_alert_receiver_heartbeat_late', '{prometheus="prom2"}'), 0);
  });
});
