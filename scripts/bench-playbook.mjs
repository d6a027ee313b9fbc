#!/usr/bin/env zx
// npm run bench:playbook: what a converged `ansible-playbook site.yml` costs. Runs it once to converge
// (not measured), then --runs times with the av_timing callback (ansible/callback_plugins), and prints each
// run's wall time, the median, the time per role and the shares spent gathering facts, in apt, and in SSH.
// SSH's share is an estimate: the task runs that went to a host times one SSH round trip measured here,
// over the same kind of connection Ansible keeps open (ControlPersist). Goal (issue #14): at most 15 s for
// prom1 + web1, at most 25 s for 3 nginx hosts + 2 shards + VictoriaMetrics, on this 2-core machine.
// The stand's strategies run over Mitogen when it is installed (ansible/strategy_plugins); each measured run
// is then paired with one over plain SSH (AV_STAND_MITOGEN=0), the two alternating, and the ratio printed.
//
//   npx zx scripts/bench-playbook.mjs [--inventory inventory/lab/hosts.yml] [--runs 3] [--no-converge]
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { $, argv, path } from 'zx';
import { readInventory } from './lib/inventory.mjs';
import { sayAs } from './lib/say.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const say = sayAs('bench:playbook');
const LOCAL_ACTIONS = new Set([
  'group_by',
  'ansible.builtin.group_by',
  'assert',
  'ansible.builtin.assert',
  'meta',
  'ansible.builtin.meta',
  'set_fact',
  'ansible.builtin.set_fact',
  'debug',
  'ansible.builtin.debug',
  'import_tasks',
  'include_role',
  'ansible.builtin.include_role',
]);
const APT_ACTIONS = new Set(['apt', 'ansible.builtin.apt']);
const FACT_ACTIONS = new Set(['gather_facts', 'ansible.builtin.gather_facts', 'setup', 'ansible.builtin.setup']);

$.quiet = true;
$.cwd = ROOT;

function options() {
  const known = ['inventory', 'runs', 'converge', '_'];
  const unknown = Object.keys(argv).filter((key) => !known.includes(key));
  if (unknown.length > 0 || argv._.length > 0)
    throw new Error(`unknown arguments: ${[...unknown.map((k) => `--${k}`), ...argv._].join(' ')}`);
  const runs = argv.runs === undefined ? 3 : Number(argv.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 20)
    throw new Error(`--runs: expected a whole number from 1 to 20, got ${argv.runs}`);
  return {
    inventoryFile: path.resolve(ROOT, String(argv.inventory ?? 'inventory/lab/hosts.yml')),
    runs,
    converge: argv.converge !== false,
  };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
const seconds = (value) => `${value.toFixed(1)} s`;
const share = (part, whole) => `${((100 * part) / whole).toFixed(0)} %`;

/** One site.yml run with the timing callback: { wall, tasks: [{ host, role, task, action, status, seconds }], changed }. */
async function timedRun(inventoryFile, dir, index, extraEnv = {}) {
  const timingFile = path.join(dir, `run-${index}.jsonl`);
  const started = process.hrtime.bigint();
  const env = {
    ...process.env,
    ANSIBLE_CALLBACKS_ENABLED: 'av_timing',
    AV_TIMING_FILE: timingFile,
    ANSIBLE_NOCOLOR: '1',
    ...extraEnv,
  };
  const output = (await $({ env })`ansible-playbook -i ${inventoryFile} site.yml`).stdout;
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const tasks = (await readFile(timingFile, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  const changed = [...output.matchAll(/changed=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
  return { wall, tasks, changed };
}

/**
 * Wall time per task: the linear strategy waits for every host, so a task costs the slowest host's time.
 * Returns [{ role, task, action, seconds, remoteRuns }].
 */
function taskWalls(tasks) {
  const byTask = new Map();
  for (const t of tasks) {
    const key = `${t.role ?? ''}\u0000${t.task}\u0000${t.action}`;
    const entry = byTask.get(key) ?? {
      role: t.role ?? '(play)',
      task: t.task,
      action: t.action,
      seconds: 0,
      remoteRuns: 0,
    };
    entry.seconds = Math.max(entry.seconds, t.seconds);
    if (t.status !== 'skipped' && !LOCAL_ACTIONS.has(t.action)) entry.remoteRuns += 1;
    byTask.set(key, entry);
  }
  return [...byTask.values()];
}

/** One SSH round trip to a host over a kept-open connection, in seconds (median of 10). */
async function sshRoundTrip(host) {
  const control = [
    '-o',
    'ControlMaster=auto',
    '-o',
    `ControlPath=${path.join(tmpdir(), 'av-bench-ssh-%C')}`,
    '-o',
    'ControlPersist=30s',
  ];
  await $`ssh ${control} ${host.ssh} true`;
  const times = [];
  for (let i = 0; i < 10; i++) {
    const started = process.hrtime.bigint();
    await $`ssh ${control} ${host.ssh} true`;
    times.push(Number(process.hrtime.bigint() - started) / 1e9);
  }
  await $`ssh ${control} -O exit ${host.ssh}`.nothrow();
  return median(times);
}

/**
 * Whether site.yml runs over Mitogen here (ansible/strategy_plugins/_av_mitogen.py and site.yml's plays): an
 * ansible-core older than 2.19, and a Mitogen made for it in ansible-playbook's Python.
 */
async function mitogenUsable() {
  const python = (await readFile((await $`command -v ansible-playbook`).stdout.trim(), 'utf8'))
    .split('\n')[0]
    .replace(/^#!\s*/, '')
    .split(/\s+/);
  const check =
    'import ansible_mitogen.loaders; from ansible.release import __version__ as v; assert tuple(map(int, v.split(".")[:2])) < (2, 19)';
  return (await $`${python} -c ${check}`.nothrow()).exitCode === 0;
}

const opts = options();
const inventory = readInventory(opts.inventoryFile);
const shape = `${inventory.prometheus.length} Prometheus, ${inventory.nginx.length} nginx, ${inventory.victoriametrics.length} VictoriaMetrics host(s)`;
const dir = await mkdtemp(path.join(tmpdir(), 'av-bench-playbook-'));
try {
  if (opts.converge) {
    say(`converging first (not measured): ${shape}`);
    await timedRun(opts.inventoryFile, dir, 0);
  }
  const mitogen = await mitogenUsable();
  say(
    mitogen
      ? 'Mitogen: installed, so each run over it is paired with one over plain SSH'
      : 'Mitogen: not installed (or not for this ansible-core): plain SSH only',
  );
  const report = (label, run) => {
    const changedTasks = [
      ...new Set(run.tasks.filter((t) => t.status === 'changed').map((t) => `${t.role ?? '(play)'}: ${t.task}`)),
    ];
    say(
      `${label}: ${seconds(run.wall)}, changed=${run.changed}${run.changed > 0 ? ` (not converged, so not the figure asked for: ${changedTasks.join('; ')})` : ''}`,
    );
  };
  const runs = [];
  const plainRuns = [];
  for (let i = 1; i <= opts.runs; i++) {
    runs.push(await timedRun(opts.inventoryFile, dir, i));
    report(`run ${i}${mitogen ? ' over Mitogen' : ''}`, runs.at(-1));
    if (!mitogen) continue;
    plainRuns.push(await timedRun(opts.inventoryFile, dir, `${i}-plain`, { AV_STAND_MITOGEN: '0' }));
    report(`run ${i} over plain SSH`, plainRuns.at(-1));
  }
  const typical = runs.find((run) => run.wall === median(runs.map((r) => r.wall)));
  const walls = taskWalls(typical.tasks);
  const total = typical.wall;
  const byRole = new Map();
  for (const t of walls) byRole.set(t.role, (byRole.get(t.role) ?? 0) + t.seconds);
  const facts = walls.filter((t) => FACT_ACTIONS.has(t.action)).reduce((sum, t) => sum + t.seconds, 0);
  const apt = walls.filter((t) => APT_ACTIONS.has(t.action)).reduce((sum, t) => sum + t.seconds, 0);
  const roundTrip = mitogen ? 0 : await sshRoundTrip(inventory.nginx[0]);
  const remoteTasks = walls.reduce((sum, t) => sum + (t.remoteRuns > 0 ? 1 : 0), 0);
  const ssh = remoteTasks * roundTrip;
  say(
    `${shape}; median of ${runs.length}: ${seconds(total)} (goal: 15 s for prom1 + web1, 25 s for 3 nginx + 2 shards + VictoriaMetrics)`,
  );
  if (mitogen) {
    const plain = median(plainRuns.map((r) => r.wall));
    say(
      `over plain SSH, median of ${plainRuns.length}: ${seconds(plain)}; Mitogen takes ${share(total, plain)} of that time (${(plain / total).toFixed(2)}× faster)`,
    );
  }
  say(
    'per role (each task at its slowest host, summed; the roles of different kinds of host run side by side, so these add up to more than the wall time):',
  );
  for (const [role, time] of [...byRole].sort((a, b) => b[1] - a[1]))
    say(`  ${role.padEnd(20)} ${seconds(time).padStart(7)}  ${share(time, total).padStart(4)}`);
  say('the slowest tasks:');
  for (const t of [...walls].sort((a, b) => b.seconds - a.seconds).slice(0, 8))
    say(`  ${seconds(t.seconds).padStart(7)}  ${t.role}: ${t.task}`);
  if (mitogen) {
    // over Mitogen a task is a message on a connection that stays open, not an SSH round trip of its own
    say(
      `gathering facts ${seconds(facts)} (${share(facts, total)}), apt ${seconds(apt)} (${share(apt, total)}); ${remoteTasks} tasks reach the hosts`,
    );
    say(
      `the rest: Ansible itself on this machine (templating, Mitogen's messages, the tasks on the hosts, handlers) ${seconds(Math.max(0, total - facts - apt))}`,
    );
  } else {
    say(
      `gathering facts ${seconds(facts)} (${share(facts, total)}), apt ${seconds(apt)} (${share(apt, total)}), ` +
        `SSH ≈ ${seconds(ssh)} (${share(ssh, total)}: ${remoteTasks} tasks that reach the hosts × ${(roundTrip * 1000).toFixed(0)} ms a round trip)`,
    );
    say(
      `the rest: Ansible itself on this machine (templating, the tasks' Python on the hosts, handlers) ${seconds(Math.max(0, total - facts - apt - ssh))}`,
    );
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
