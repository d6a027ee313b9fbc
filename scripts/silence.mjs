#!/usr/bin/env zx
// A maintenance window for one host: silences every alert of it in the stand's Alertmanager, which ends by
// itself after --duration. One Alertmanager is enough: the cluster gossips its silences to the others.
// Two silences, since the stand's alerts name a host in one of two labels: `instance` (its targets, with or
// without a port) and `host` (the blackbox probes of its site and certificates).
//
//   npx zx scripts/silence.mjs --alertmanager https://192.0.2.10:9093 --host web1 [--duration 2h] [--comment "kernel update"]
//                              [--secrets inventory/lab/secrets]
//   npx zx scripts/silence.mjs --alertmanager https://192.0.2.10:9093 --expire ID[,ID]
//
// HTTPS with the stand's CA and password (--secrets: the directory site.yml made beside the inventory), through
// the stand's client (scripts/lib/stand-client.mjs); a plain http:// Alertmanager is asked without them. Prints each silence's id and when it ends.
import { argv, echo } from 'zx';
import { standClient } from './lib/stand-client.mjs';

const USAGE =
  'usage: npx zx scripts/silence.mjs --alertmanager URL (--host NAME [--duration 2h] [--comment TEXT] | --expire ID[,ID]) [--secrets DIR]';
const UNITS = { m: 60, h: 3600, d: 86400 };

/** Seconds of a duration such as 90m, 2h or 1d. */
function durationSeconds(text) {
  const match = /^(\d+)([mhd])$/.exec(String(text));
  if (!match || Number(match[1]) === 0) throw new Error(`--duration must be such as 90m, 2h or 1d (got ${text})`);
  return Number(match[1]) * UNITS[match[2]];
}

/** The silences of one host's alerts: its targets (instance, with or without a port) and its probes (host). */
function hostSilences(host, { seconds, comment, now = new Date() }) {
  if (!/^[\w.-]+$/.test(host ?? '')) throw new Error(`--host must be an inventory host name (got ${host})`);
  const window = {
    startsAt: now.toISOString(),
    endsAt: new Date(now.getTime() + seconds * 1000).toISOString(),
    createdBy: 'scripts/silence.mjs',
    comment,
  };
  return [
    {
      matchers: [{ name: 'instance', value: `${host.replace(/\./g, '\\.')}(:[0-9]+)?`, isRegex: true, isEqual: true }],
      ...window,
    },
    { matchers: [{ name: 'host', value: host, isRegex: false, isEqual: true }], ...window },
  ];
}

/**
 * Calls Alertmanager's API v2 at `base`; resolves with the JSON answer, rejects with its status and text. HTTPS
 * through the stand's client (its CA, its user and password, from `secretsDir`); plain HTTP without them.
 */
async function call(base, method, path, body, secretsDir) {
  const url = new URL(path, base.endsWith('/') ? base : `${base}/`);
  if (url.protocol === 'http:') {
    const response = await fetch(url, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body && JSON.stringify(body),
    });
    return answer({ status: response.status, text: await response.text() });
  }
  return answer(await standClient({ secretsDir }).request(method, url, { json: body ?? undefined }));
}

function answer({ status, text }) {
  if (status >= 300) throw new Error(`Alertmanager answered ${status}: ${text.trim()}`);
  return text ? JSON.parse(text) : null;
}

/** Silences `host` for `seconds` at the Alertmanager `base`; resolves with the silences' ids. */
async function silenceHost({ base, host, seconds, comment, secretsDir }) {
  const ids = [];
  for (const silence of hostSilences(host, { seconds, comment }))
    ids.push((await call(base, 'POST', 'api/v2/silences', silence, secretsDir)).silenceID);
  return ids;
}

/** Ends the silences `ids` now. */
async function expireSilences({ base, ids, secretsDir }) {
  for (const id of ids) await call(base, 'DELETE', `api/v2/silence/${encodeURIComponent(id)}`, null, secretsDir);
}

const base = argv.alertmanager;
const secretsDir = argv.secrets ?? 'inventory/lab/secrets';
try {
  if (!base || !/^https?:\/\//.test(base)) throw new Error(`--alertmanager must be the Alertmanager's URL\n${USAGE}`);
  if (argv.expire) {
    const ids = String(argv.expire).split(',');
    await expireSilences({ base, ids, secretsDir });
    echo(`expired ${ids.join(', ')}`);
  } else {
    const seconds = durationSeconds(argv.duration ?? '2h');
    const comment = argv.comment ?? `maintenance of ${argv.host}`;
    const ids = await silenceHost({ base, host: argv.host, seconds, comment, secretsDir });
    echo(
      `silenced every alert of ${argv.host} until ${new Date(Date.now() + seconds * 1000).toISOString()}: ${ids.join(', ')}`,
    );
    echo(`to end it sooner: npx zx scripts/silence.mjs --alertmanager ${base} --expire ${ids.join(',')}`);
  }
} catch (error) {
  echo(error.message);
  process.exitCode = 1;
}
