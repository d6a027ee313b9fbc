// npm test: every test file, in two lanes side by side. The lab lane (the systemd-nspawn lab's own tests and
// the end-to-end scenarios) spends most of its time waiting: on alerts' `for`, on load runs, on hosts
// booting. The other lane (the exporter's tests, the rendered configs, the static checks) needs no lab and
// runs beside it, instead of before it. Within a lane the files run one at a time, as before. Each line of
// output is prefixed with its lane; arguments (e.g. --test-name-pattern) go to both lanes.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const LAB_FILES = ['test/lab.test.mjs', 'test/stand.test.mjs'];

const filesIn = (dir, suffix) =>
  readdirSync(join(ROOT, dir))
    .filter((name) => name.endsWith(suffix))
    .sort()
    .map((name) => `${dir}/${name}`);

const lanes = [
  { name: 'lab', files: LAB_FILES },
  {
    name: 'unit',
    files: [
      ...filesIn('exporter/test', '.test.ts'),
      ...filesIn('test', '.test.mjs').filter((file) => !LAB_FILES.includes(file)),
    ],
  },
];

/** Runs one lane's files with node --test; resolves with its exit code and the TAP summary's counts. */
function runLane({ name, files }, extraArgs) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(
      process.execPath,
      ['--test', '--test-concurrency=1', '--test-reporter=tap', '--import', 'tsx', ...extraArgs, ...files],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const counts = {};
    const prefixLines = (stream, out) => {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop();
        for (const line of lines) {
          const count = /^# (tests|pass|fail|skipped|cancelled) (\d+)$/.exec(line);
          if (count) counts[count[1]] = Number(count[2]);
          out.write(`[${name}] ${line}\n`);
        }
      });
      stream.on('end', () => {
        if (partial) out.write(`[${name}] ${partial}\n`);
      });
    };
    prefixLines(child.stdout, process.stdout);
    prefixLines(child.stderr, process.stderr);
    child.on('close', (code, signal) =>
      resolve({ name, code: code ?? 1, signal, counts, minutes: (Date.now() - started) / 60_000 }),
    );
  });
}

const results = await Promise.all(lanes.map((lane) => runLane(lane, process.argv.slice(2))));
for (const { name, code, signal, counts, minutes } of results) {
  const tally = ['tests', 'pass', 'fail', 'skipped', 'cancelled']
    .map((key) => `${key} ${counts[key] ?? '?'}`)
    .join(', ');
  console.log(
    `${name} lane: ${tally}; ${minutes.toFixed(1)} min; ${code === 0 ? 'passed' : `failed (${signal ?? `exit code ${code}`})`}`,
  );
}
process.exit(results.some((result) => result.code !== 0) ? 1 : 0);
