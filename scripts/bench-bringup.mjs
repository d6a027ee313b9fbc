#!/usr/bin/env zx
// npm run bench:bringup: where the first command's time goes on a fresh machine (#28). A bare Debian is made on
// this machine (scripts/lab/bare-machine.mjs: the lab's cached minimal root with git and sudo, as the e2e's bare
// control machine). Its sudo user clones this repository and runs the README's first command phase by phase:
// apt (prereqs.sh), npm (setup.sh's npm ci), the build, the lab's root (mmdebstrap through the lab's apt proxy),
// the rest of `lab up`, the first site.yml, and load.mjs up to its first request. Each phase prints its time and
// the bytes it downloaded: what the cache it fills grew by (apt's archives, npm's cache, the lab's proxy). Then
// the downloads alone: every file the lab's proxy fetched, fetched again from the same mirror, 8 at a time. Then
// the whole command again with warm caches, after `lab down`. Goal: cold, at most 60 s more than the downloads
// alone (apt's and npm's phases counted as downloads); warm, at most 60 s.
// Needs root, and this machine's lab down: the bare machine's lab takes this machine's bridge.
//
//   sudo npx zx scripts/bench-bringup.mjs [--release trixie|bookworm]
import { fileURLToPath } from 'node:url';
import { $, argv, fs, path } from 'zx';
import { BareMachine } from './lab/bare-machine.mjs';
import { readLabFile } from './lab/layout.mjs';
import { thisMachinesDebianSources } from './lab/apt-sources.mjs';
import { byLine, runCommand } from './lib/run-command.mjs';
import { sayAs } from './lib/say.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const say = sayAs('bench:bringup');
const GOAL_OVER_DOWNLOADS = 60;
const GOAL_WARM = 60;
const PARALLEL_FETCHES = 8;

$.quiet = true;

function options() {
  const known = ['release', '_'];
  const unknown = Object.keys(argv).filter((key) => !known.includes(key));
  if (unknown.length > 0 || argv._.length > 0)
    throw new Error(`unknown arguments: ${[...unknown.map((k) => `--${k}`), ...argv._].join(' ')}`);
  const release = String(argv.release ?? 'trixie');
  if (!['trixie', 'bookworm'].includes(release)) throw new Error(`--release takes trixie or bookworm, got ${release}`);
  return { release };
}

/**
 * Runs [command, args]; resolves with its output, rejects with its tail. `onLine` sees each line as it comes.
 * @param {[string, string[]]} commandAndArgs
 * @param {(line: string) => void} [onLine]
 */
const run = ([command, args], onLine) =>
  runCommand(command, args, { tailChars: 3000, onChunk: onLine && byLine(onLine) });

/** Bytes below `dir` (0 when it does not exist). */
async function bytesIn(dir) {
  if (!fs.existsSync(dir)) return 0;
  return Number((await $`du -sb ${dir}`).stdout.split('\t')[0]);
}

const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const sec = (seconds) => `${seconds.toFixed(1)} s`;

/**
 * The first command's phases as the machine's user, each timed with what its caches grew by.
 * @param {BareMachine} machine
 * @param {string} label cold or warm
 */
async function firstCommand(machine, label) {
  const inside = (dir) => `${machine.dir}${dir}`;
  const caches = {
    apt: inside('/var/cache/apt/archives'),
    npm: inside(`${machine.home}/.npm/_cacache`),
    proxy: inside('/var/cache/av-lab/apt-cacher-ng'),
  };
  const inStand = (command) => machine.asUser(`cd stand && ${command}`);
  const phases = [];
  /**
   * @param {string} name
   * @param {keyof typeof caches | null} cache
   * @param {() => Promise<unknown>} work resolves with its own seconds when only part of it counts
   */
  const phase = async (name, cache, work) => {
    const before = cache ? await bytesIn(caches[cache]) : 0;
    say(`${label}: ${name}...`);
    const started = Date.now();
    const counted = await work();
    const seconds = typeof counted === 'number' ? counted : (Date.now() - started) / 1000;
    const bytes = cache ? (await bytesIn(caches[cache])) - before : 0;
    phases.push({ name, seconds, bytes });
    say(`${label}: ${name}: ${sec(seconds)}${cache ? `, ${mb(bytes)} downloaded` : ''}`);
    return seconds;
  };

  await phase('apt (prereqs.sh)', 'apt', () => run(inStand('bash scripts/prereqs.sh')));
  // setup.sh's npm step: npm ci, skipped when node_modules/ already matches the lockfile (the warm run)
  await phase('npm (setup.sh)', 'npm', () => run(inStand('node scripts/npm-deps.mjs')));
  await phase('the build', null, () => run(inStand('npm run build')));
  let rootSeconds = 0;
  const labUp = await phase('lab up', 'proxy', () =>
    run(inStand('sudo npx zx scripts/lab.mjs up'), (line) => {
      const made = /^lab: mmdebstrap: \w+ done in ([\d.]+) s/.exec(line);
      if (made) rootSeconds = Number(made[1]);
    }),
  );
  if (rootSeconds > 0) {
    say(
      `${label}:   of which the lab's root (mmdebstrap): ${sec(rootSeconds)}, the hosts: ${sec(labUp - rootSeconds)}`,
    );
  }
  await phase('the first site.yml', 'proxy', () => run(inStand('sudo ansible-playbook site.yml')));
  // the first request is the warm-up's; the rest of the run (siege, the report) shows only that the stand answers
  await phase('load.mjs to its first request', null, async () => {
    const started = Date.now();
    let firstRequestAt = 0;
    await run(inStand('sudo npx zx scripts/load.mjs --duration 10s'), (line) => {
      if (!firstRequestAt && /^load: warming up/.test(line)) firstRequestAt = Date.now();
    });
    if (!firstRequestAt) throw new Error('load.mjs never began its warm-up');
    return (firstRequestAt - started) / 1000;
  });
  return phases;
}

/**
 * Fetches every file the lab's proxy holds from the mirror it came from, PARALLEL_FETCHES at a time: how long
 * the cold run's lab downloads take by themselves. apt-cacher-ng keeps Debian's archive under debrep/ and its
 * security archive under secdeb/.
 * @param {BareMachine} machine
 */
async function downloadsAlone(machine) {
  const cache = `${machine.dir}/var/cache/av-lab/apt-cacher-ng`;
  const { archive, security } = thisMachinesDebianSources();
  const backends = { debrep: archive.backend, secdeb: security?.backend };
  // apt-cacher-ng keeps each file's HTTP header beside it, in a .head file of its own
  const files = fs
    .readdirSync(cache, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && !entry.name.endsWith('.head'))
    .map((entry) => path.relative(cache, path.join(entry.parentPath ?? entry.path, entry.name)));
  const urls = files.flatMap((file) => {
    const [top, ...rest] = file.split('/');
    return backends[top] ? [`${backends[top]}${rest.join('/')}`] : [];
  });
  const started = Date.now();
  // a file gone from the mirror since (an index replaced by a newer one) is counted, not fatal
  const answers = (
    await $({
      input: urls.join('\n'),
      nothrow: true,
    })`xargs -P ${PARALLEL_FETCHES} -n 1 curl -sS -o /dev/null -w '%{http_code} %{size_download}\\n'`
  ).stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ').map(Number));
  const fetched = answers.filter(([code]) => code === 200);
  return {
    seconds: (Date.now() - started) / 1000,
    bytes: fetched.reduce((sum, [, size]) => sum + size, 0),
    files: fetched.length,
    missing: urls.length - fetched.length,
  };
}

async function main() {
  const opts = options();
  if (process.getuid() !== 0) throw new Error('needs root (a machine of its own, its lab): run it with sudo');
  if (readLabFile())
    throw new Error("this machine's lab is up: npx zx scripts/lab.mjs down first (the bench's lab takes its bridge)");
  const machine = new BareMachine(opts.release, { dir: `/var/tmp/av-bringup-${opts.release}` });
  try {
    say(
      `a bare Debian (${opts.release}) with git and sudo, its user cloning this repository; the first command cold, then warm (about 15 min)`,
    );
    await run(['bash', ['-c', machine.createScript()]]);
    await run(machine.asRoot(machine.cloudImageScript()));
    await run(['git', ['clone', '--quiet', '--bare', ROOT, `${machine.dir}/srv/av-stand.git`]]);
    await run(machine.asRoot(`chown -R ${machine.user}: /srv/av-stand.git`));
    await run(machine.asUser('git clone --quiet /srv/av-stand.git stand'));

    const cold = await firstCommand(machine, 'cold');
    const alone = await downloadsAlone(machine);
    say(
      `downloads alone: the ${alone.files} files the lab's proxy fetched, ${mb(alone.bytes)}, again from the mirror ${PARALLEL_FETCHES} at a time: ${sec(alone.seconds)}${alone.missing ? ` (${alone.missing} no longer there)` : ''}`,
    );
    await run(machine.asUser('cd stand && sudo npx zx scripts/lab.mjs down'));
    const warm = await firstCommand(machine, 'warm');

    const total = (phases) => phases.reduce((sum, p) => sum + p.seconds, 0);
    const downloadPhases = cold.filter((p) => p.name.startsWith('apt') || p.name.startsWith('npm'));
    const bound = total(downloadPhases) + alone.seconds + GOAL_OVER_DOWNLOADS;
    const met = (ok) => (ok ? 'met' : 'NOT met');
    say(
      `cold: ${sec(total(cold))} to the first request, ${mb(cold.reduce((sum, p) => sum + p.bytes, 0))} downloaded; the downloads alone (apt's and npm's phases, then the lab's files) ${sec(bound - GOAL_OVER_DOWNLOADS)}: goal (at most ${GOAL_OVER_DOWNLOADS} s more, ${sec(bound)}) ${met(total(cold) <= bound)}`,
    );
    say(
      `warm: ${sec(total(warm))} to the first request: goal (at most ${GOAL_WARM} s) ${met(total(warm) <= GOAL_WARM)}`,
    );
  } finally {
    await run(['bash', ['-c', machine.removeScript()]]); // its lab first, then the machine
  }
}

await main();
