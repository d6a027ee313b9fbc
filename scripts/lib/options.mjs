// The load script's command line: flags to one options object, every bad input named in its error.
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const USAGE = `usage: npx zx scripts/load.mjs [--duration 5m] [--concurrency 10] [--urls FILE]
                         [--inventory FILE] [--target URL] [--prometheus URL] [--victoriametrics URL]
                         [--secrets DIR] [--out DIR]
  --duration     how long siege runs: 60s, 5m, 1h (default 5m, as the assignment asks)
  --concurrency  siege's simulated users, 1 to 500 (default 10)
  --urls         URL paths, one per line, relative to the target (default scripts/urls.txt)
  --inventory    Ansible inventory with groups prometheus and nginx (default inventory/lab/hosts.yml)
  --target       nginx base URL; give it once per host to spread the load (default: every nginx host)
  --prometheus   Prometheus base URL; give it once per shard (default: every prometheus host)
  --victoriametrics  VictoriaMetrics base URL, the global view (default: the victoriametrics host, if any)
  --secrets      the stand's CA and password, as site.yml made them (default: secrets/ beside the inventory)
  --out          where reports go (default report/)
  --render DIR   no run: render DIR/summary.md and DIR/index.html again from DIR/results.json
  --help         this text
--target and --prometheus without --inventory: no inventory is read, so the access log and the exporter's
metrics cannot be read over SSH; the report says which checks it could not make.`;

// Not in the usage: for a stand on this machine (no SSH), as the tests and development use it.
//   --access-log FILE    read nginx's JSON access log here instead of over SSH
//   --exporter-url URL   av-exporter's /metrics here instead of over SSH on the nginx host
const FLAGS = [
  'duration',
  'concurrency',
  'urls',
  'inventory',
  'target',
  'prometheus',
  'victoriametrics',
  'secrets',
  'out',
  'render',
  'help',
  'access-log',
  'exporter-url',
];
const REPEATABLE = ['target', 'prometheus'];

export class UsageError extends Error {}

/**
 * The options of one run from zx's `argv` (minimist). `root` is the repository. Reads no file
 * except to check that the URL list exists; the inventory is read by the caller.
 */
export function parseOptions(argv, root) {
  const unknown = Object.keys(argv).filter((key) => key !== '_' && key !== '--' && !FLAGS.includes(key) && key !== 'h');
  const stray = argv._ ?? [];
  if (unknown.length > 0 || stray.length > 0) {
    throw new UsageError(
      `unknown argument: ${[...unknown.map((k) => (k.length === 1 ? `-${k}` : `--${k}`)), ...stray].join(' ')}`,
    );
  }
  for (const flag of FLAGS.filter((f) => f !== 'help')) {
    if (argv[flag] === true || argv[flag] === '') throw new UsageError(`--${flag} needs a value`);
    if (Array.isArray(argv[flag]) && !REPEATABLE.includes(flag)) throw new UsageError(`--${flag} given more than once`);
    if (Array.isArray(argv[flag]) && argv[flag].some((value) => value === true || value === ''))
      throw new UsageError(`--${flag} needs a value`);
  }
  const local = (flag) => (argv[flag] === undefined ? null : path.resolve(String(argv[flag])));
  return {
    help: Boolean(argv.help || argv.h),
    duration: parseDuration(String(argv.duration ?? '5m')),
    concurrency: parseConcurrency(argv.concurrency ?? 10),
    urlsFile: path.resolve(String(argv.urls ?? `${root}/scripts/urls.txt`)),
    inventoryFile: path.resolve(String(argv.inventory ?? `${root}/inventory/lab/hosts.yml`)),
    inventoryGiven: argv.inventory !== undefined,
    targets:
      argv.target === undefined ? null : [...new Set([argv.target].flat().map((t) => baseUrl(String(t), '--target')))],
    // each shard named by its URL's host, as the inventory would name it by its host name
    prometheus:
      argv.prometheus === undefined
        ? null
        : [...new Set([argv.prometheus].flat().map((p) => baseUrl(String(p), '--prometheus')))].map((url) => ({
            name: new URL(url).host,
            url,
          })),
    victoriametrics:
      argv.victoriametrics === undefined ? null : baseUrl(String(argv.victoriametrics), '--victoriametrics'),
    secrets: local('secrets'),
    out: path.resolve(String(argv.out ?? `${root}/report`)),
    accessLog: local('access-log'),
    render: local('render'),
    exporterUrl:
      argv['exporter-url'] === undefined
        ? null
        : new URL('metrics', baseUrl(String(argv['exporter-url']), '--exporter-url')).href,
  };
}

/** "60s", "5m", "1h" → { text, seconds }. */
export function parseDuration(text) {
  const match = /^(\d+)([smh])$/.exec(text);
  if (!match || Number(match[1]) === 0)
    throw new UsageError(`--duration takes a whole number and s, m or h (60s, 5m, 1h), got "${text}"`);
  return { text, seconds: Number(match[1]) * { s: 1, m: 60, h: 3600 }[match[2]] };
}

function parseConcurrency(value) {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > 500)
    throw new UsageError(`--concurrency takes a whole number from 1 to 500, got "${value}"`);
  return number;
}

/** An http(s) URL as a base that relative paths resolve under: always ending in "/". */
export function baseUrl(text, flag) {
  let url;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${flag} takes an http(s) URL, got "${text}"`);
  }
  if (!/^https?:$/.test(url.protocol)) throw new UsageError(`${flag} takes an http(s) URL, got "${text}"`);
  url.search = '';
  url.hash = '';
  return url.href.endsWith('/') ? url.href : `${url.href}/`;
}

/**
 * The URL list: one path per line ("/about.html", or "/api/work POST" with an optional body),
 * "#" comments. Every path is made absolute under `target`, and only there: a full URL or a path
 * that would leave the target's host is an error, so siege is never sent anywhere else.
 */
export function parseUrlList(text, target, file) {
  const entries = [];
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [urlPath, method = 'GET', ...body] = line.split(/\s+/);
    const where = `${file}:${index + 1}`;
    if (!urlPath.startsWith('/') || urlPath.startsWith('//'))
      throw new UsageError(`${where}: "${urlPath}" is not a path on the target (start it with one /)`);
    if (!['GET', 'POST', 'PUT', 'DELETE', 'HEAD'].includes(method))
      throw new UsageError(`${where}: unknown method "${method}"`);
    const url = new URL(urlPath.slice(1), target);
    if (url.origin !== new URL(target).origin)
      throw new UsageError(`${where}: "${urlPath}" leaves the target ${target}`);
    // siege's URL file: URL [METHOD [body]]
    entries.push({
      url: url.href,
      method,
      siegeLine: [url.href, ...(method === 'GET' ? [] : [method, ...body])].join(' '),
    });
  }
  if (entries.length === 0) throw new UsageError(`the URL list ${file} has no URLs`);
  return entries;
}

export function readUrlList(file, target) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(
      `cannot read the URL list ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`,
    );
  }
  return parseUrlList(text, target, file);
}
