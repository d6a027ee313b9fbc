#!/usr/bin/env zx
// Fresh provisioning, again and again: for each release, `lab down`, `lab up` with fresh hosts, then
// `site.yml`, --runs times. Counts the runs that failed, and for each failure keeps the playbook's output and,
// from the host that failed, the journal of the unit it names and systemd's own messages, under
// report/provisioning/<release>-<run>/. Not part of `npm test` (it takes about 2 minutes a run); it is how
// a provisioning that fails by chance is shown to be gone. A failure a retry would hide counts too: after every
// run it counts, on every host, PID 1's "Failed to spawn" messages (systemd could not start a unit's process at
// all), and prints them.
//
//   npx zx scripts/provision-repeatedly.mjs [--runs 10] [--releases trixie,bookworm] [--nginx 1] [--prometheus 1]
//                                           [--victoriametrics]
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { $, argv, path } from 'zx';
import { everyHost, readInventory } from './lib/inventory.mjs';
import { sayAs } from './lib/say.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RELEASES = ['trixie', 'bookworm'];
const say = sayAs('provision-repeatedly');

$.quiet = true;
$.cwd = ROOT;

function options() {
  const known = ['runs', 'releases', 'nginx', 'prometheus', 'victoriametrics', '_'];
  const unknown = Object.keys(argv).filter((key) => !known.includes(key));
  if (unknown.length > 0 || argv._.length > 0)
    throw new Error(`unknown arguments: ${[...unknown.map((k) => `--${k}`), ...argv._].join(' ')}`);
  const count = (name, fallback, max) => {
    const value = argv[name] === undefined ? fallback : Number(argv[name]);
    if (!Number.isInteger(value) || value < 1 || value > max)
      throw new Error(`--${name}: expected a whole number from 1 to ${max}, got ${argv[name]}`);
    return value;
  };
  const releases = String(argv.releases ?? RELEASES.join(',')).split(',');
  const unknownRelease = releases.filter((r) => !RELEASES.includes(r));
  if (unknownRelease.length > 0)
    throw new Error(`--releases: each one of ${RELEASES.join(', ')}, got ${unknownRelease.join(', ')}`);
  return {
    runs: count('runs', 10, 100),
    releases,
    nginx: count('nginx', 1, 20),
    prometheus: count('prometheus', 1, 9),
    victoriametrics: Boolean(argv.victoriametrics),
  };
}

const labHosts = () => everyHost(readInventory(path.join(ROOT, 'inventory/lab/hosts.yml')));

/** This boot's journal on the host, as short-precise lines, with journalctl's filter arguments. */
const hostJournal = (host, filters) =>
  $`ssh ${host.ssh} ${[...host.sudo, 'journalctl', '-b', '--no-pager', '-o', 'short-precise', ...filters]}`.nothrow();

/** What a failed run left to read: the playbook's output, and per failed host the unit's journal and PID 1's messages. */
async function keepEvidence(dir, output) {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'site.yml.log'), output);
  const hosts = labHosts();
  for (const [, name, message] of output.matchAll(/^fatal: \[([^\]]+)\]: FAILED! => (.*)$/gm)) {
    const host = hosts.find((h) => h.name === name);
    if (!host) continue;
    const unit = /(?:service|unit) ([\w@.-]+?)(?:\.service)?[:\s"]/.exec(message)?.[1] ?? '';
    const journal = await hostJournal(host, [...(unit ? ['-u', unit] : []), '-n', '200']);
    const manager = await hostJournal(host, ['_PID=1', '-n', '300']);
    await writeFile(path.join(dir, `${name}-${unit || 'host'}.journal`), `${journal.stdout}${journal.stderr}`);
    await writeFile(path.join(dir, `${name}-systemd.journal`), `${manager.stdout}${manager.stderr}`);
  }
}

/** PID 1's "Failed to spawn …" messages of this boot, per host: each is a unit start or reload that failed. */
async function spawnFailures() {
  const found = {};
  for (const host of labHosts()) {
    const journal = await hostJournal(host, ['_PID=1']);
    const lines = journal.stdout.split('\n').filter((line) => line.includes('Failed to spawn'));
    if (lines.length > 0) found[host.name] = lines;
  }
  return found;
}

const opts = options();
const shape = [
  '--nginx',
  opts.nginx,
  '--prometheus',
  opts.prometheus,
  ...(opts.victoriametrics ? ['--victoriametrics'] : ['--no-victoriametrics']),
].map(String);
const failures = Object.fromEntries(opts.releases.map((release) => [release, []]));
const spawnFailureCount = Object.fromEntries(opts.releases.map((release) => [release, 0]));
for (const release of opts.releases) {
  for (let run = 1; run <= opts.runs; run++) {
    const started = Date.now();
    await $`npx zx scripts/lab.mjs down`;
    await $`npx zx scripts/lab.mjs up --release ${release} ${shape}`;
    const result = await $`ansible-playbook site.yml`.nothrow();
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    for (const [name, lines] of Object.entries(await spawnFailures())) {
      spawnFailureCount[release] += lines.length;
      for (const line of lines) say(`${release} run ${run}: ${name}: systemd: ${line}`);
    }
    if (result.exitCode === 0) {
      say(`${release} run ${run}: passed (${seconds} s with the lab)`);
      continue;
    }
    const output = `${result.stdout}${result.stderr}`;
    const dir = path.join(ROOT, 'report/provisioning', `${release}-${run}`);
    await keepEvidence(dir, output);
    const fatal = output.match(/^fatal: .*$/m)?.[0] ?? `exit ${result.exitCode}`;
    failures[release].push({ run, fatal });
    say(
      `${release} run ${run}: FAILED (${seconds} s): ${fatal.slice(0, 300)}; evidence in ${path.relative(ROOT, dir)}/`,
    );
  }
}
await $`npx zx scripts/lab.mjs down`;
for (const release of opts.releases) {
  say(
    `${release}: ${opts.runs - failures[release].length} of ${opts.runs} fresh provisionings passed; systemd failed to spawn a unit's process ${spawnFailureCount[release]} times`,
  );
}
process.exitCode = Object.values(failures).some((list) => list.length > 0) ? 1 : 0;
