// Real Prometheus builds on loopback, as the stand runs them (HTTPS with a CA of their own, basic auth through
// an exporter-toolkit web config), for tests of what is drawn from them without the lab: Debian 12's 2.42
// (/usr/bin/prometheus, this machine's package) and Debian 13's 2.53 (its .deb, from the lab's apt cache,
// unpacked into a temporary directory; its UI assets' links to /usr/share/javascript resolve to this
// machine's libjs packages, the same rickshaw 1.5.1 and d3 3.5.17 as Debian 13's). Each scrapes itself and a
// real av-exporter following a log the test writes. Every process is stopped by its pid.
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  appendFileSync,
} from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { freePort } from '../../scripts/lib/ports.mjs';
import { pollUntil } from '../../scripts/lib/wait.mjs';
import { standClient } from '../../scripts/lib/stand-client.mjs';
import { ROOT } from './ansible.mjs';
import { makeCa, makeServerCertificate } from './certificates.mjs';

const CACHE = process.env.AV_LAB_CACHE || '/var/cache/av-lab';
const DEB_POOL = join(CACHE, 'apt-cacher-ng/debrep/pool/main/p/prometheus');
export const AV_EXPORTER = join(ROOT, 'exporter/dist/av-exporter.js');

const VM_POOL = join(CACHE, 'apt-cacher-ng/debrep/pool/main/v/victoriametrics');

/** A VictoriaMetrics binary: this machine's (Debian 12's 1.79), else Debian 13's from the lab's apt cache unpacked into `work`; or null. */
export function victoriaMetricsBinary(work) {
  if (existsSync('/usr/bin/victoria-metrics')) return '/usr/bin/victoria-metrics';
  const deb =
    existsSync(VM_POOL) &&
    readdirSync(VM_POOL)
      .filter((name) => /^victoria-metrics_.*_amd64\.deb$/.test(name))
      .sort()
      .at(-1);
  if (!deb) return null;
  execFileSync('dpkg-deb', ['-x', join(VM_POOL, deb), join(work, 'victoria-metrics')]);
  return join(work, 'victoria-metrics/usr/bin/victoria-metrics');
}

/** Debian 13's Prometheus .deb in the lab's apt cache (the newest 2.5x), or null. */
export function trixieDeb() {
  if (!existsSync(DEB_POOL)) return null;
  const debs = readdirSync(DEB_POOL)
    .filter((name) => /^prometheus_2\.(5\d|[6-9]\d)\.[\d.]+\+[\w.+~-]*_amd64\.deb$/.test(name))
    .sort();
  return debs.length === 0 ? null : join(DEB_POOL, debs.at(-1));
}

/**
 * The builds to test: { name, version, binary, assets } for Debian 12's (this machine's) and, when its .deb
 * is in the lab's cache, Debian 13's unpacked into `work`; `missing` says why a build is not there.
 */
export function prometheusBuilds(work) {
  /** @type {{ name: string, binary: string, assets: string, version?: string }[]} */
  const builds = [];
  const missing = [];
  const debian12 = debian12Build();
  if (debian12) builds.push(debian12);
  else missing.push(DEBIAN12_MISSING);
  const deb = trixieDeb();
  if (deb) {
    const root = join(work, 'prometheus-trixie');
    mkdirSync(root, { recursive: true });
    execFileSync('dpkg-deb', ['-x', deb, root]);
    // its assets link to ../../../javascript/<package>: this machine's libjs packages
    symlinkSync('/usr/share/javascript', join(root, 'usr/share/javascript'));
    builds.push({
      name: 'Debian 13 (2.53)',
      binary: join(root, 'usr/bin/prometheus'),
      assets: join(root, 'usr/share/prometheus/web/'),
    });
  } else {
    missing.push(
      `Debian 13's prometheus_2.5x .deb in ${DEB_POOL} (the lab's apt cache has it once a Debian 13 lab was provisioned)`,
    );
  }
  for (const build of builds) build.version ??= versionOf(build.binary);
  return { builds, missing };
}

export const DEBIAN12_MISSING = '/usr/bin/prometheus (apt-get install prometheus)';

/**
 * This machine's Prometheus alone (Debian 12's), as prometheusBuilds gives it, for tests that need no other
 * build (nothing unpacked); null when it is not installed (DEBIAN12_MISSING says so).
 */
export function debian12Build() {
  if (!existsSync('/usr/bin/prometheus')) return null;
  const binary = '/usr/bin/prometheus';
  return { name: 'Debian 12 (2.42)', binary, assets: '/usr/share/prometheus/web/', version: versionOf(binary) };
}

const versionOf = (binary) => execFileSync(binary, ['--version'], { encoding: 'utf8' }).split(' ')[2];

/** Whether the Prometheus at `url` (ending in /) answers its readiness check: 503 while it replays its WAL. */
export const isReady = async (client, url) =>
  (await client.get(`${url}-/ready`, { timeoutMs: 2000 }).catch(() => null))?.status === 200;

/**
 * The stand's kind of secrets in `dir`: a throw-away CA (ca.crt) and a certificate of 127.0.0.1 it signs,
 * admin.password and a web config (HTTPS + basic auth) that asks for it. Returns the client of that "stand".
 */
export function makeSecrets(dir) {
  mkdirSync(dir, { recursive: true });
  const ca = makeCa(dir, { name: 'ca', subject: 'local prometheus test CA', days: 2 });
  makeServerCertificate(dir, { name: 'server', ca, days: 1 });
  const password = `pw-${process.pid}-${Date.now()}`;
  writeFileSync(join(dir, 'admin.password'), `${password}\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, 'web-config.yml'),
    `tls_server_config:\n  cert_file: ${join(dir, 'server.crt')}\n  key_file: ${join(dir, 'server.key')}\nbasic_auth_users:\n  admin: ${bcrypt.hashSync(password, 4)}\n`,
  );
  return standClient({ secretsDir: dir });
}

/**
 * Starts a process; resolves with { pid, output(), stop(signal) } once `ready()` resolves true (within
 * `seconds`). `stop` sends `stopSignal` (SIGTERM by default) or the signal it is given, and waits for the exit.
 * @param {string} name
 * @param {string} command
 * @param {string[]} args
 * @param {() => Promise<boolean>} ready
 * @param {{ seconds?: number, cwd?: string, stopSignal?: NodeJS.Signals }} [options]
 */
export async function startProcess(name, command, args, ready, { seconds = 30, cwd, stopSignal = 'SIGTERM' } = {}) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async (signal = stopSignal) => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, signal);
    await exited;
  };
  let isReady = false;
  const readyOrExited = async () => (isReady = Boolean(await ready().catch(() => false))) || child.exitCode !== null;
  await pollUntil(readyOrExited, { seconds, intervalMs: 200, onTimeout: () => false });
  if (isReady) return { pid: child.pid, output: () => output, stop };
  await stop();
  throw new Error(
    `${name} did not start (${child.exitCode === null ? 'not ready in time' : `exit ${child.exitCode}`}):\n${output.slice(-3000)}`,
  );
}

/**
 * A log of nginx's av_json lines that grows while the test runs, and a real av-exporter following it over
 * plain HTTP on loopback: `hosts` exporters (one log each), so there are several instances, as with several
 * nginx hosts. `write(n)` appends n lines to every log, of several statuses and response times.
 */
export async function startAvExporters(work, hosts = 2) {
  const exporters = [];
  for (let i = 0; i < hosts; i++) {
    const log = join(work, `access-${i}.json.log`);
    writeFileSync(log, '');
    const port = await freePort();
    const proc = await startProcess(
      `av-exporter ${i}`,
      process.execPath,
      [
        AV_EXPORTER,
        '--log-file',
        log,
        '--listen',
        `127.0.0.1:${port}`,
        '--start-at',
        'beginning',
        '--poll-interval-ms',
        '100',
      ],
      async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).ok,
    );
    exporters.push({ name: `web${i + 1}`, log, address: `127.0.0.1:${port}`, ...proc });
  }
  let sequence = 0;
  const write = (n) => {
    for (const [i, exporter] of exporters.entries()) {
      const lines = [];
      for (let k = 0; k < n; k++) {
        sequence++;
        const status = sequence % 41 === 0 ? 503 : sequence % 17 === 0 ? 404 : sequence % 29 === 0 ? 500 : 200;
        const time = ((sequence * 7919) % 300) / 1000 + 0.002 + i * 0.01;
        lines.push(
          JSON.stringify({
            msec: Date.now() / 1000,
            status,
            body_bytes_sent: 612,
            request_time: time,
            time_iso8601: new Date().toISOString(),
            remote_addr: '127.0.0.1',
            request_method: 'GET',
            request_uri: '/',
            upstream_response_time: '',
            upstream_addr: '',
            http_user_agent: 'local-test',
          }),
        );
      }
      appendFileSync(exporter.log, `${lines.join('\n')}\n`);
    }
  };
  return { exporters, write, stop: () => Promise.all(exporters.map((e) => e.stop())) };
}

/**
 * A Prometheus `build` on 127.0.0.1 with the web config of `secretsDir` (makeSecrets), scraping itself (over
 * HTTPS with the password) and `exporters` (plain HTTP, instance = their name) every `interval`, its console
 * templates from `consolesDir`; `scrapeConfigs`, `ruleFiles` and command-line `extraArgs` added as they are; its
 * TSDB in `dataDir` (kept when it stops) or a directory of its own. Resolves with { url, port, dataDir, pid, stop() } once it is ready.
 */
export async function startPrometheus({
  build,
  work,
  secretsDir,
  client,
  exporters = [],
  consolesDir = null,
  interval = '1s',
  scrapeConfigs = [],
  ruleFiles = [],
  extraArgs = [],
  dataDir = null,
}) {
  const port = await freePort();
  const dir = mkdtempSync(join(work, 'prometheus-'));
  const tsdb = dataDir ?? join(dir, 'data');
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: ruleFiles,
    scrape_configs: [
      {
        job_name: 'prometheus',
        scheme: 'https',
        tls_config: { ca_file: join(secretsDir, 'ca.crt') },
        basic_auth: { username: 'admin', password_file: join(secretsDir, 'admin.password') },
        static_configs: [{ targets: [`127.0.0.1:${port}`], labels: { instance: 'prom1' } }],
      },
      ...(exporters.length > 0
        ? [
            {
              job_name: 'av_exporter',
              static_configs: exporters.map((e) => ({ targets: [e.address], labels: { instance: e.name } })),
            },
          ]
        : []),
      ...scrapeConfigs,
    ],
  };
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config)); // JSON is YAML
  const url = `https://127.0.0.1:${port}/`;
  const args = [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${tsdb}`,
    `--web.listen-address=127.0.0.1:${port}`,
    `--web.config.file=${join(secretsDir, 'web-config.yml')}`,
    `--web.local-assets=${build.assets}`,
    ...(consolesDir ? [`--web.console.templates=${consolesDir}`, `--web.console.libraries=${consolesDir}`] : []),
    ...extraArgs,
  ];
  const proc = await startProcess(`Prometheus ${build.version}`, build.binary, args, () => isReady(client, url), {
    cwd: dir,
  });
  return {
    url,
    port,
    dataDir: tsdb,
    ...proc,
    stop: async () => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until `query` has a result on the Prometheus at `url` (within `seconds`). */
export async function waitForData(client, url, query, seconds = 20) {
  const result = async () => {
    const { body } = await client.getJson(`${url}api/v1/query?query=${encodeURIComponent(query)}`);
    return body?.data?.result?.length > 0 ? body.data.result : null;
  };
  return pollUntil(result, { seconds, intervalMs: 300, what: `data for ${query} at ${url}` });
}
