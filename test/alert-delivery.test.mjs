// Alerts reaching a team, without the lab: role alertmanager renders an inventory's receivers (mail, two
// webhooks, Slack, Telegram) and route; amtool checks the config and its routes (Debian 12's 0.25 and, when the
// lab's apt cache has it, Debian 13's 0.28); then a real Alertmanager of each on loopback delivers a critical
// and a warning alert, firing and then resolved, to real servers the test starts (test/support/delivery-servers.mjs:
// an SMTP relay asking for STARTTLS and a password, an HTTPS endpoint behind basic auth and a bearer token,
// Slack- and Telegram-shaped APIs checking what those services accept), and a copy to the stand's own
// receiver (the real av-alert-receiver). Bad settings are refused by the role's preflight, which touches no host.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import bcrypt from 'bcryptjs';
import { standClient } from '../scripts/lib/stand-client.mjs';
import {
  deliveryInventoryVars,
  serverCertificate,
  slackPayloadProblems,
  startDeliveryServers,
  telegramSendMessageProblems,
  waitFor,
} from './support/delivery-servers.mjs';
import { freePort } from '../scripts/lib/ports.mjs';
import { startProcess } from './support/local-prometheus.mjs';
import { ROOT, renderConfigs, tool } from './support/ansible.mjs';

const TEMPLATES = join(ROOT, 'roles/alertmanager/files/alertmanager-notifications.tmpl');
const RECEIVER_SCRIPT = join(ROOT, 'roles/alert_receiver/files/av-alert-receiver.py');
const AM_POOL = join(
  process.env.AV_LAB_CACHE || '/var/cache/av-lab',
  'apt-cacher-ng/debrep/pool/main/p/prometheus-alertmanager',
);
const CHAT_ID = -1001234567890;

/** Debian 12's Alertmanager (this machine's package) and, from the lab's apt cache, Debian 13's, unpacked into `work`. */
function alertmanagerBuilds(work) {
  const builds = [{ name: 'Debian 12', alertmanager: '/usr/bin/prometheus-alertmanager', amtool: '/usr/bin/amtool' }];
  const deb =
    existsSync(AM_POOL) &&
    readdirSync(AM_POOL)
      .filter((name) => /^prometheus-alertmanager_0\.(2[6-9]|[3-9]\d)[\d.]*\+?[\w.~+-]*_amd64\.deb$/.test(name))
      .sort()
      .at(-1);
  if (deb) {
    execFileSync('dpkg-deb', ['-x', join(AM_POOL, deb), join(work, 'trixie')]);
    builds.push({
      name: 'Debian 13',
      alertmanager: join(work, 'trixie/usr/bin/prometheus-alertmanager'),
      amtool: join(work, 'trixie/usr/bin/amtool'),
    });
  } else {
    // a fresh machine whose lab has not fetched it yet: the lab's Debian 13 stand delivers to the same servers (test/stand.test.mjs)
    console.log(
      `# Debian 13's Alertmanager is not in the lab's apt cache (${AM_POOL}) yet: only Debian 12's here; Debian 13's delivers on the lab`,
    );
  }
  for (const build of builds)
    build.version = execFileSync(build.amtool, ['--version'], { encoding: 'utf8' }).split(' ')[2];
  return builds;
}

/** The receivers amtool routes an alert with these labels to, comma-separated, in the tree's order. */
async function routes(amtool, configFile, labels) {
  const output = await tool(amtool, [
    'config',
    'routes',
    'test',
    `--config.file=${configFile}`,
    ...Object.entries(labels).map(([k, v]) => `${k}=${v}`),
  ]);
  return output.split('\n')[0].trim();
}

/** The matchers in a link that opens a silence (…/#/silences/new?filter=…), decoded. */
const silenceFilter = (link) => decodeURIComponent(new URL(link.replace('/#/', '/')).searchParams.get('filter'));

const CRITICAL = {
  labels: { alertname: 'TargetDown', severity: 'critical', instance: 'web1', job: 'av_exporter' },
  annotations: {
    summary: 'av_exporter on web1 is down',
    description: 'up == 0 for 1m: <no answer> & "connection refused"',
    runbook_url: 'https://git.example.org/stand/-/blob/main/docs/runbooks.md#targetdown',
  },
  generatorURL: 'https://192.0.2.10:9090/graph?g0.expr=up%7Bjob%21%3D%22prometheus%22%7D+%3D%3D+0&g0.tab=1',
};
const WARNING = {
  // another instance: web1's would be held back while web1 is TargetDown (the stand's inhibition)
  labels: { alertname: 'HostMemoryLow', severity: 'warning', instance: 'web2', job: 'node' },
  annotations: { summary: 'web2 has 8% of its memory available', runbook_url: 'docs/runbooks.md#hostmemorylow' },
  generatorURL: 'https://192.0.2.10:9090/graph?g0.expr=node_memory_MemAvailable_bytes&g0.tab=1',
};
const CRITICAL_FILTER = '{alertname="TargetDown",instance="web1",job="av_exporter",severity="critical"}';

describe('Alert delivery: your receivers rendered, checked by amtool, and delivered by a real Alertmanager to real servers', () => {
  const work = mkdtempSync(join(tmpdir(), 'av-alert-delivery-'));
  const builds = alertmanagerBuilds(work);
  let servers;
  let receiver;
  let receiverFile;
  let rendered;
  let configFile;
  let externalUrl;

  before(async () => {
    const secretsDir = join(work, 'secrets');
    mkdirSync(secretsDir);
    servers = await startDeliveryServers({ dir: join(work, 'tls') });
    const receiverPort = await freePort();
    receiverFile = join(work, 'notifications.jsonl');
    receiver = await startProcess(
      'av-alert-receiver',
      '/usr/bin/python3',
      [RECEIVER_SCRIPT, '--listen', `127.0.0.1:${receiverPort}`, '--file', receiverFile],
      async () => (await fetch(`http://127.0.0.1:${receiverPort}/metrics`)).ok,
    );
    // a Prometheus host alone: only its roles are rendered
    const inventory = join(work, 'hosts.yml');
    writeFileSync(
      inventory,
      JSON.stringify({
        all: {
          children: {
            prometheus: {
              hosts: { prom1: { ansible_host: '192.0.2.10' } },
              vars: {
                ...deliveryInventoryVars(servers, { secretsDir, chatId: CHAT_ID }),
                stand_alert_receiver_listen: `127.0.0.1:${receiverPort}`,
                alertmanager_group_interval: '1s',
              },
            },
          },
        },
      }),
    );
    rendered = await renderConfigs(inventory);
    externalUrl = /--web\.external-url=(\S+)/.exec(
      readFileSync(join(rendered, 'prom1/prometheus-alertmanager.default'), 'utf8'),
    )[1];
    // the stand's templates as the host has them (at _alertmanager_templates_file): the role's file
    const config = parseYaml(readFileSync(join(rendered, 'prom1/alertmanager.yml'), 'utf8'));
    assert.deepEqual(config.templates, ['/etc/prometheus/alertmanager-notifications.tmpl']);
    configFile = join(work, 'alertmanager.yml');
    writeFileSync(configFile, JSON.stringify({ ...config, templates: [TEMPLATES] }));
  });

  after(async () => {
    await servers?.stop();
    await receiver?.stop();
    if (rendered) rmSync(rendered, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  test("the rendered config: the stand's routes first, yours after; your configs with the stand's messages and send_resolved; *_file secrets stay in their files", () => {
    const text = readFileSync(join(rendered, 'prom1/alertmanager.yml'), 'utf8');
    const config = parseYaml(text);
    assert.equal(externalUrl, 'https://192.0.2.10:9093', "by default the host's inventory address at the stand's port");
    assert.deepEqual(
      config.route.routes.map((route) => route.receiver),
      ['heartbeat-prom1', 'ticket', 'oncall'],
    );
    assert.deepEqual(config.route.routes[1], {
      receiver: 'ticket',
      continue: true,
      routes: [
        { receiver: 'page', matchers: ['severity="critical"'] },
        { receiver: 'ticket', matchers: ['severity="warning"'] },
      ],
    });
    assert.deepEqual(
      config.receivers.map((r) => r.name),
      ['page', 'ticket', 'heartbeat-prom1', 'oncall', 'chat'],
    );
    const [mail] = config.receivers[3].email_configs;
    assert.equal(mail.headers.Subject, '{{ template "av_stand.email.subject" . }}');
    assert.equal(mail.send_resolved, true);
    assert.equal(config.receivers[4].slack_configs[0].send_resolved, true);
    assert.equal(config.receivers[4].telegram_configs[0].parse_mode, 'HTML');
    assert.equal(config.global.smtp_auth_password, servers.secrets.smtpPassword);
    assert.equal(
      config.receivers[3].webhook_configs[0].http_config.basic_auth.password_file,
      join(work, 'secrets/webhook.password'),
    );
    for (const secret of [servers.secrets.webhookPassword, servers.secrets.webhookToken])
      assert.ok(!text.includes(secret), 'a *_file secret is not copied into the config');
  });

  for (const build of builds) {
    test(`${build.name}'s amtool ${build.version}: check-config passes, with the stand's templates`, async () => {
      const output = await tool(build.amtool, ['check-config', configFile]);
      assert.match(output, /SUCCESS/);
      assert.match(output, /- 1 templates/);
      assert.match(output, /- 5 receivers/);
    });

    test(`${build.name}'s amtool ${build.version}: config routes test, the heartbeat first and alone, the record of every alert, then your tree`, async () => {
      const cases = [
        [{ alertname: 'Watchdog', severity: 'none', prometheus: 'prom1' }, 'heartbeat-prom1'],
        [{ alertname: 'Watchdog', severity: 'critical', prometheus: 'vm1' }, 'heartbeat-prom1'],
        [{ alertname: 'TargetDown', severity: 'critical', instance: 'web1' }, 'page,chat,oncall'],
        [{ alertname: 'HostMemoryLow', severity: 'warning', instance: 'web1' }, 'ticket,oncall'],
        [{ alertname: 'Mystery' }, 'ticket,oncall'],
      ];
      for (const [labels, expected] of cases)
        assert.equal(await routes(build.amtool, configFile, labels), expected, JSON.stringify(labels));
    });

    test(`${build.name}'s Alertmanager ${build.version} delivers firing and resolved alerts by mail (STARTTLS, AUTH), to both webhooks, Slack and Telegram, and keeps the stand's copy`, async () => {
      const port = await freePort();
      const storage = mkdtempSync(join(work, 'storage-'));
      const am = await startProcess(
        `Alertmanager ${build.version}`,
        build.alertmanager,
        [
          `--config.file=${configFile}`,
          `--storage.path=${storage}`,
          `--web.listen-address=127.0.0.1:${port}`,
          `--web.external-url=${externalUrl}`,
          '--web.route-prefix=/',
          '--cluster.listen-address=',
          '--log.level=debug',
        ],
        async () => (await fetch(`http://127.0.0.1:${port}/-/ready`)).ok,
      );
      const { smtp, https, secrets } = servers;
      // what came before this run (the other build's) is left out
      const copied = () =>
        existsSync(receiverFile) ? readFileSync(receiverFile, 'utf8').split('\n').filter(Boolean) : [];
      const since = { mail: smtp.messages().length, http: https.requests().length, copy: copied().length };
      const mails = () => smtp.messages().slice(since.mail);
      const requests = (prefix) => () =>
        https
          .requests()
          .slice(since.http)
          .filter((r) => r.path.startsWith(prefix));
      const copies = () =>
        copied()
          .slice(since.copy)
          .map((line) => JSON.parse(line).notification);
      const post = (alerts) =>
        fetch(`http://127.0.0.1:${port}/api/v2/alerts`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(alerts),
        }).then((response) => assert.equal(response.status, 200, 'Alertmanager takes the alerts'));
      const started = Date.now();
      try {
        const startsAt = new Date(Date.now() - 60_000).toISOString();
        await post([CRITICAL, WARNING].map((alert) => ({ ...alert, startsAt })));
        const firing = (status, name) => (n) => n.status === status && n.commonLabels?.alertname === name;

        // mail: over STARTTLS, after AUTH, one per group; what a person needs in the subject and the body
        const mail = await waitFor(mails, (m) => m.subject.startsWith('[FIRING] TargetDown'), { what: 'firing mail' });
        assert.equal(mail.subject, '[FIRING] TargetDown (critical) on web1: av_exporter on web1 is down');
        assert.equal(mail.starttls, true);
        assert.deepEqual(mail.to, ['oncall@team.example']);
        assert.equal(mail.from, 'alertmanager@stand.example');
        assert.equal(mail.auth[1], 'alertmanager');
        for (const line of [
          'Summary:     av_exporter on web1 is down',
          'Description: up == 0 for 1m: <no answer> & "connection refused"',
          `Runbook:     ${CRITICAL.annotations.runbook_url}`,
          `Graph:       ${CRITICAL.generatorURL}`,
        ])
          assert.ok(mail.text.includes(line), `${line}\nin:\n${mail.text}`);
        const silence = /^Silence: +(\S+)$/m.exec(mail.text)[1];
        assert.ok(silence.startsWith(`${externalUrl}/#/silences/new?filter=`), silence);
        assert.equal(silenceFilter(silence), CRITICAL_FILTER);
        assert.match(
          mail.html,
          /<h2[^>]*>\[FIRING\] TargetDown \(critical\) on web1: av_exporter on web1 is down<\/h2>/,
        );
        // html/template writes + as &#43; in an href, the same URL once the HTML is read
        assert.ok(
          mail.html
            .replace(/&#43;/g, '+')
            .includes(`<a href="${CRITICAL.generatorURL.replace(/&/g, '&amp;')}">Graph</a>`),
          mail.html,
        );
        assert.ok(mail.html.includes(`<a href="${CRITICAL.annotations.runbook_url}">Runbook</a>`), mail.html);
        assert.ok(mail.html.includes('&lt;no answer&gt; &amp; &#34;connection refused&#34;'), 'HTML escaped');
        const htmlSilence = /<a href="([^"]+)">Silence<\/a>/.exec(mail.html)[1].replace(/&amp;/g, '&');
        assert.equal(silenceFilter(htmlSilence), CRITICAL_FILTER);
        const warningMail = await waitFor(mails, (m) => m.subject.startsWith('[FIRING] HostMemoryLow'), {
          what: "the warning's mail",
        });
        assert.ok(
          warningMail.text.includes('Runbook:     docs/runbooks.md#hostmemorylow'),
          'a relative runbook is shown as a path',
        );

        // both webhooks, each with its credentials (the endpoint refuses others with 401)
        for (const [path, header] of [
          ['/webhook/basic', `Basic ${Buffer.from(`alertmanager:${secrets.webhookPassword}`).toString('base64')}`],
          ['/webhook/bearer', `Bearer ${secrets.webhookToken}`],
        ]) {
          const hook = await waitFor(requests(path), (r) => firing('firing', 'TargetDown')(r.json), {
            what: `firing ${path}`,
          });
          assert.equal(hook.headers.authorization, header);
          assert.equal(hook.status, 200);
          assert.equal(hook.json.receiver, 'oncall');
          assert.equal(hook.json.externalURL, externalUrl);
          assert.equal(hook.json.alerts[0].generatorURL, CRITICAL.generatorURL);
          await waitFor(requests(path), (r) => firing('firing', 'HostMemoryLow')(r.json), {
            what: `the warning at ${path}`,
          });
        }

        // Slack: an incoming webhook payload it accepts (the endpoint answered 200, not 400)
        const slack = await waitFor(
          requests('/slack/'),
          (r) => r.json?.attachments?.[0]?.title?.startsWith('[FIRING]'),
          { what: 'Slack message' },
        );
        assert.deepEqual(slackPayloadProblems(slack.json), []);
        assert.equal(slack.status, 200);
        assert.equal(slack.json.channel, '#oncall');
        const [attachment] = slack.json.attachments;
        assert.equal(attachment.title, '[FIRING] TargetDown (critical) on web1: av_exporter on web1 is down');
        assert.equal(attachment.color, 'danger');
        assert.ok(
          attachment.text.includes(`<${CRITICAL.generatorURL}|Graph>`) &&
            attachment.text.includes(`<${CRITICAL.annotations.runbook_url}|Runbook>`),
          attachment.text,
        );
        assert.ok(attachment.text.includes('&lt;no answer&gt; &amp; "connection refused"'), attachment.text);
        assert.equal(silenceFilter(/<([^|>]+)\|Silence>/.exec(attachment.text)[1]), CRITICAL_FILTER);

        // Telegram: a sendMessage call it accepts, to the chat, in HTML
        const telegram = await waitFor(
          requests('/telegram/'),
          (r) => r.path.endsWith('/sendMessage') && r.json?.text?.includes('[FIRING]'),
          { what: 'Telegram message' },
        );
        assert.equal(telegram.path, `/telegram/bot${secrets.telegramToken}/sendMessage`);
        assert.deepEqual(telegramSendMessageProblems(telegram.json), []);
        assert.equal(telegram.status, 200);
        assert.equal(String(telegram.json.chat_id), String(CHAT_ID));
        assert.equal(telegram.json.parse_mode, 'HTML');
        assert.ok(telegram.json.text.startsWith('<b>[FIRING] TargetDown (critical) on web1</b>'), telegram.json.text);
        assert.ok(
          telegram.json.text.includes(`<a href="${CRITICAL.generatorURL.replace(/&/g, '&amp;')}">Graph</a>`),
          telegram.json.text,
        );
        assert.equal(
          silenceFilter(/<a href="([^"]+)">Silence<\/a>/.exec(telegram.json.text)[1].replace(/&amp;/g, '&')),
          CRITICAL_FILTER,
        );

        // the stand's record: page and ticket, as before
        await waitFor(copies, (n) => n.receiver === 'page' && firing('firing', 'TargetDown')(n), {
          what: 'the copy to page',
        });
        await waitFor(copies, (n) => n.receiver === 'ticket' && firing('firing', 'HostMemoryLow')(n), {
          what: 'the copy to ticket',
        });
        const firedIn = (Date.now() - started) / 1000;

        // resolved: every one says so
        await post([CRITICAL, WARNING].map((alert) => ({ ...alert, startsAt, endsAt: new Date().toISOString() })));
        const resolvedMail = await waitFor(mails, (m) => m.subject.startsWith('[RESOLVED] TargetDown'), {
          what: 'resolved mail',
        });
        assert.match(resolvedMail.text, /^RESOLVED: TargetDown \(critical\) on web1$/m);
        assert.match(resolvedMail.text, /^When: +since .*, resolved /m);
        for (const path of ['/webhook/basic', '/webhook/bearer'])
          await waitFor(requests(path), (r) => firing('resolved', 'TargetDown')(r.json), { what: `resolved ${path}` });
        const slackResolved = await waitFor(
          requests('/slack/'),
          (r) => r.json?.attachments?.[0]?.title?.startsWith('[RESOLVED]'),
          { what: 'resolved Slack message' },
        );
        assert.equal(slackResolved.json.attachments[0].color, 'good');
        assert.deepEqual(slackPayloadProblems(slackResolved.json), []);
        const telegramResolved = await waitFor(
          requests('/telegram/'),
          (r) => r.json?.text?.startsWith('<b>[RESOLVED]'),
          { what: 'resolved Telegram message' },
        );
        assert.deepEqual(telegramSendMessageProblems(telegramResolved.json), []);
        await waitFor(copies, (n) => n.receiver === 'page' && firing('resolved', 'TargetDown')(n), {
          what: 'the resolved copy to page',
        });
        // a crowded group: Telegram takes 4096 characters at most, and Alertmanager cuts a longer text wherever
        // it ends, a tag too, which Telegram then refuses (the lab's AlertmanagerNotificationsFailing, 7 alerts)
        const crowd = Array.from({ length: 12 }, (_, i) => ({
          ...CRITICAL,
          startsAt,
          labels: { ...CRITICAL.labels, alertname: 'AlertmanagerNotificationsFailing', integration: `webhook-${i}` },
          annotations: { ...CRITICAL.annotations, description: `${'a failed delivery & its <reason> '.repeat(40)}` },
        }));
        await post(crowd);
        const crowded = await waitFor(
          requests('/telegram/'),
          (r) => r.json?.text?.includes('[FIRING:12] AlertmanagerNotificationsFailing'),
          { what: 'the Telegram message of 12 alerts' },
        );
        assert.deepEqual(telegramSendMessageProblems(crowded.json), [], crowded.json.text);
        assert.match(crowded.json.text, /and 12 in all: <a href="[^"]+">in Alertmanager<\/a>$/);
        // the warning went to no chat; nothing was refused
        assert.ok(
          !requests('/slack/')().some((r) => r.body.includes('HostMemoryLow')) &&
            !requests('/telegram/')().some((r) => r.body.includes('HostMemoryLow')),
        );
        assert.deepEqual(
          https
            .requests()
            .slice(since.http)
            .filter((r) => r.status !== 200)
            .map((r) => `${r.path} ${r.status}`),
          [],
        );
        console.log(
          `# ${build.name} (${build.version}): every firing notification in ${firedIn.toFixed(1)} s, resolved ones ${((Date.now() - started) / 1000 - firedIn).toFixed(1)} s after`,
        );
      } catch (error) {
        error.message += `\nAlertmanager's log:\n${am
          .output()
          .split('\n')
          .filter((line) => !/msg=flushing/.test(line))
          .join('\n')
          .slice(-4000)}`;
        throw error;
      } finally {
        await am.stop();
      }
    });
  }
});

describe('A maintenance window for one host (scripts/silence.mjs): every alert of it silenced, until it ends by itself', () => {
  test("silences web1's targets and probes for the duration, not web2's; --expire ends them", async () => {
    const work = mkdtempSync(join(tmpdir(), 'av-silence-'));
    const port = await freePort();
    writeFileSync(
      join(work, 'alertmanager.yml'),
      JSON.stringify({ route: { receiver: 'none' }, receivers: [{ name: 'none' }] }),
    );
    const am = await startProcess(
      'Alertmanager',
      '/usr/bin/prometheus-alertmanager',
      [
        `--config.file=${join(work, 'alertmanager.yml')}`,
        `--storage.path=${work}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
      ],
      async () => (await fetch(`http://127.0.0.1:${port}/-/ready`)).ok,
    );
    const base = `http://127.0.0.1:${port}`;
    try {
      const output = await tool('npx', [
        'zx',
        'scripts/silence.mjs',
        '--alertmanager',
        base,
        '--host',
        'web1',
        '--duration',
        '2h',
        '--comment',
        'kernel update',
      ]);
      const ids = /--expire (\S+)/.exec(output)[1].split(',');
      assert.equal(ids.length, 2, output);
      const silences = await (await fetch(`${base}/api/v2/silences`)).json();
      for (const silence of silences) {
        assert.equal(silence.status.state, 'active');
        assert.equal(silence.comment, 'kernel update');
        assert.ok(
          Math.abs(Date.parse(silence.endsAt) - Date.now() - 2 * 3600_000) < 60_000,
          `ends in 2 h: ${silence.endsAt}`,
        );
      }
      const alerts = [
        { labels: { alertname: 'TargetDown', instance: 'web1', job: 'av_exporter' } },
        { labels: { alertname: 'HostMemoryLow', instance: 'web1:9100', job: 'node' } },
        { labels: { alertname: 'SiteDown', instance: 'http://web1:80/', host: 'web1', job: 'blackbox_http' } },
        { labels: { alertname: 'TargetDown', instance: 'web10', job: 'av_exporter' } },
        { labels: { alertname: 'TargetDown', instance: 'web2', job: 'av_exporter' } },
      ];
      await fetch(`${base}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(alerts),
      });
      const state = async () =>
        Object.fromEntries(
          (await (await fetch(`${base}/api/v2/alerts`)).json()).map((a) => [
            `${a.labels.alertname} ${a.labels.instance}`,
            a.status.state,
          ]),
        );
      assert.deepEqual(await state(), {
        'TargetDown web1': 'suppressed',
        'HostMemoryLow web1:9100': 'suppressed',
        'SiteDown http://web1:80/': 'suppressed',
        'TargetDown web10': 'active',
        'TargetDown web2': 'active',
      });
      await tool('npx', ['zx', 'scripts/silence.mjs', '--alertmanager', base, '--expire', ids.join(',')]);
      assert.deepEqual(
        (await (await fetch(`${base}/api/v2/silences`)).json()).map((s) => s.status.state),
        ['expired', 'expired'],
      );
      await assert.rejects(
        tool('npx', ['zx', 'scripts/silence.mjs', '--alertmanager', base, '--host', 'web1', '--duration', '2 hours']),
        /--duration must be such as 90m, 2h or 1d \(got 2 hours\)/,
      );
    } finally {
      await am.stop();
      rmSync(work, { recursive: true, force: true });
    }
  });

  test("an Alertmanager behind HTTPS and a password, as the stand's are: asked with the secrets directory's CA and password", async () => {
    const work = mkdtempSync(join(tmpdir(), 'av-silence-tls-'));
    const secrets = join(work, 'secrets');
    const password = 'silence-test-password';
    const { caFile, certFile, keyFile } = serverCertificate(join(work, 'tls'));
    mkdirSync(secrets);
    writeFileSync(join(secrets, 'ca.crt'), readFileSync(caFile));
    writeFileSync(join(secrets, 'admin.password'), `${password}\n`);
    writeFileSync(
      join(work, 'web.yml'),
      JSON.stringify({
        tls_server_config: { cert_file: certFile, key_file: keyFile },
        basic_auth_users: { admin: bcrypt.hashSync(password, 4) },
      }),
    );
    writeFileSync(
      join(work, 'alertmanager.yml'),
      JSON.stringify({ route: { receiver: 'none' }, receivers: [{ name: 'none' }] }),
    );
    const port = await freePort();
    const base = `https://127.0.0.1:${port}`;
    const client = standClient({ secretsDir: secrets });
    const am = await startProcess(
      'Alertmanager (HTTPS)',
      '/usr/bin/prometheus-alertmanager',
      [
        `--config.file=${join(work, 'alertmanager.yml')}`,
        `--storage.path=${work}`,
        `--web.listen-address=127.0.0.1:${port}`,
        `--web.config.file=${join(work, 'web.yml')}`,
        '--cluster.listen-address=',
      ],
      async () => (await client.get(`${base}/-/ready`).catch(() => ({ status: 0 }))).status === 200,
    );
    try {
      assert.equal(
        (await client.get(`${base}/api/v2/silences`, { credentials: false })).status,
        401,
        'the Alertmanager answers without the password',
      );
      const output = await tool('npx', [
        'zx',
        'scripts/silence.mjs',
        '--alertmanager',
        base,
        '--secrets',
        secrets,
        '--host',
        'web1',
        '--duration',
        '1h',
      ]);
      const ids = /--expire (\S+)/.exec(output)[1].split(',');
      const active = () =>
        client.getJson(`${base}/api/v2/silences`).then(({ body }) =>
          body
            .filter((silence) => silence.status.state === 'active')
            .map((silence) => silence.id)
            .sort(),
        );
      assert.deepEqual(await active(), [...ids].sort());
      await tool('npx', [
        'zx',
        'scripts/silence.mjs',
        '--alertmanager',
        base,
        '--secrets',
        secrets,
        '--expire',
        ids.join(','),
      ]);
      assert.deepEqual(await active(), []);
    } finally {
      await am.stop();
      rmSync(work, { recursive: true, force: true });
    }
  });
});

/**
 * Runs role alertmanager's preflight (tasks_from: preflight.yml) for every host of `hosts` (host → its
 * alertmanager_* values), as a play that connects to nothing would, before any host changes. Resolves with
 * host → the assert's message ('' when it passed).
 */
async function preflight(hosts) {
  const dir = mkdtempSync(join(tmpdir(), 'av-alertmanager-preflight-'));
  try {
    // every host is an Alertmanager of one cluster: a short peer timeout keeps the last one's wait (one per
    // case) within the group interval, but where a case sets its own
    writeFileSync(
      join(dir, 'hosts.yml'),
      JSON.stringify({
        all: { vars: { alertmanager_cluster_peer_timeout: '500ms' }, children: { prometheus: { hosts } } },
      }),
    );
    writeFileSync(
      join(dir, 'preflight.yml'),
      JSON.stringify([
        {
          name: 'Preflight of role alertmanager',
          hosts: 'all',
          gather_facts: false,
          connection: 'local',
          roles: ['av.stand.stand'],
          tasks: [
            {
              name: 'Check the Alertmanager settings',
              'ansible.builtin.include_role': { name: 'av.stand.alertmanager', tasks_from: 'preflight.yml' },
            },
          ],
        },
      ]),
    );
    const output = await tool('ansible-playbook', ['-i', join(dir, 'hosts.yml'), join(dir, 'preflight.yml')]).catch(
      (error) => error.output,
    );
    const results = {};
    for (const host of Object.keys(hosts)) {
      const failed = new RegExp(`^fatal: \\[${host}\\]: FAILED! => (\\{.*\\})$`, 'm').exec(output);
      const passed = new RegExp(`^ok: \\[${host}\\]`, 'm').test(output);
      assert.ok(failed || passed, `${host}: neither ok nor failed in:\n${output}`);
      results[host] = failed ? JSON.parse(failed[1]).msg : '';
    }
    return { results, output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("Bad settings are refused by role alertmanager's preflight, each with a clear message, before any host changes", () => {
  const mail = { name: 'mail', email_configs: [{ to: 'oncall@team.example' }] };
  const secretUrl = 'hooks.example.org/T0/sekrit-token-in-the-url';
  const cases = {
    good: [
      {
        alertmanager_receivers: [mail],
        alertmanager_route: { receiver: 'mail' },
        alertmanager_smtp: { from: 'am@x.example', smarthost: 'smtp.x.example:587' },
      },
      '',
    ],
    own_relay: [
      {
        alertmanager_receivers: [
          {
            name: 'mail',
            email_configs: [{ to: 'a@x.example', from: 'am@x.example', smarthost: 'smtp.x.example:25' }],
          },
        ],
        alertmanager_route: { receiver: 'mail' },
      },
      '',
    ],
    reserved_page: [
      {
        alertmanager_receivers: [{ name: 'page', webhook_configs: [{ url: 'https://hooks.example.org/x' }] }],
        alertmanager_route: { receiver: 'page' },
      },
      /receiver page: the names page, ticket and heartbeat-\* are the stand's own receivers \(av-alert-receiver on each host\), give yours another name/,
    ],
    reserved_heartbeat: [
      {
        alertmanager_receivers: [{ name: 'heartbeat-team', webhook_configs: [{ url: 'https://hooks.example.org/x' }] }],
        alertmanager_route: { receiver: 'heartbeat-team' },
      },
      /receiver heartbeat-team: the names page, ticket and heartbeat-\* are the stand's own/,
    ],
    unknown_receiver: [
      {
        alertmanager_receivers: [{ name: 'hook', webhook_configs: [{ url: 'https://hooks.example.org/x' }] }],
        alertmanager_route: {
          receiver: 'hook',
          routes: [{ receiver: 'hook' }, { receiver: 'nobody', matchers: ['severity="critical"'] }],
        },
      },
      /alertmanager_route names the receiver nobody, which is not one of alertmanager_receivers \(hook\)/,
    ],
    mail_without_smtp: [
      { alertmanager_receivers: [mail], alertmanager_route: { receiver: 'mail' } },
      /receiver mail, email_configs\[0\] has no smarthost, and alertmanager_smtp gives none \(set alertmanager_smtp.smarthost, or the config's own\); receiver mail, email_configs\[0\] has no from/,
    ],
    webhook_not_url: [
      {
        alertmanager_receivers: [{ name: 'hook', webhook_configs: [{ url: secretUrl }] }],
        alertmanager_route: { receiver: 'hook' },
      },
      /receiver hook, webhook_configs\[0\]: url is not an http:\/\/ or https:\/\/ URL \(nor is url_file given\)/,
    ],
    no_root_receiver: [
      { alertmanager_receivers: [{ name: 'hook', webhook_configs: [{ url: 'https://hooks.example.org/x' }] }] },
      /alertmanager_route has no receiver: with alertmanager_receivers, it names the one that gets what none of its routes takes/,
    ],
    root_matchers: [
      {
        alertmanager_receivers: [mail],
        alertmanager_smtp: { from: 'a@x.example', smarthost: 'smtp.x.example:25' },
        alertmanager_route: { receiver: 'mail', matchers: ['team="web"'] },
      },
      /alertmanager_route is a root route and has no matchers/,
    ],
    slack_without_url: [
      {
        alertmanager_receivers: [{ name: 'chat', slack_configs: [{ channel: '#a' }] }],
        alertmanager_route: { receiver: 'chat' },
      },
      /receiver chat, slack_configs\[0\] has no api_url \(nor api_url_file\), and alertmanager_slack_api_url is empty/,
    ],
    telegram_chat_name: [
      {
        alertmanager_receivers: [{ name: 'chat', telegram_configs: [{ bot_token: 'x', chat_id: 'oncall' }] }],
        alertmanager_route: { receiver: 'chat' },
      },
      /receiver chat, telegram_configs\[0\]: chat_id must be the chat's number/,
    ],
    route_faster_than_the_cluster: [
      {
        alertmanager_receivers: [mail],
        alertmanager_smtp: { from: 'a@x.example', smarthost: 'smtp.x.example:25' },
        alertmanager_route: {
          receiver: 'mail',
          routes: [{ receiver: 'mail', matchers: ['severity="critical"'], group_interval: '5s' }],
        },
      },
      /^alertmanager_route\.routes\[0\]\.group_interval is 5s, but the last of the cluster's \d+ Alertmanagers waits [\d.]+ s \(\d+ - 1 times alertmanager_cluster_peer_timeout, 500ms\) before it sends: make the interval longer, or the peer timeout shorter/,
    ],
    peer_timeout_no_duration: [
      { alertmanager_cluster_peer_timeout: 'soon' },
      /^alertmanager_cluster_peer_timeout must be a duration such as 3s or 500ms \(got 'soon'\)$/,
    ],
    smtp_typo: [
      { alertmanager_smtp: { smarthost: 'smtp.x.example', pasword: 'x' } },
      /alertmanager_smtp has keys Alertmanager does not know: pasword .*; alertmanager_smtp.smarthost must be HOST:PORT/,
    ],
  };

  test('each case: the message, or none for the good ones; no secret printed', async () => {
    const { results, output } = await preflight(
      Object.fromEntries(Object.entries(cases).map(([host, [vars]]) => [host, vars])),
    );
    for (const [host, [, expected]] of Object.entries(cases)) {
      if (expected === '') assert.equal(results[host], '', host);
      else assert.match(results[host], /** @type {RegExp} */ (expected), host);
    }
    assert.ok(!output.includes('sekrit-token'), 'the bad URL is not printed: it may hold a token');
  });
});
