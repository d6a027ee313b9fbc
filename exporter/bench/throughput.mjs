// npm run bench: av-exporter --one-shot against Debian's mtail (an equivalent program: the same
// counter and histogram) and a naive Node loop, over the same generated 1,000,000-line nginx JSON log,
// in one run. Prints lines/s, ratios (the target is >= 10x mtail) and the exporter's peak RSS
// (target < 100 MB). Also prints how far histogram_quantile's p99 lands from the exact p99 with the
// exporter's default buckets and with prom-client's defaults, on a log-normal workload.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeAccessLog } from './access-log.mjs';
import { quantileErrors } from './quantile-error.mjs';

const LINES = Number(process.env.BENCH_LINES ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const exporter = fileURLToPath(new URL('../dist/av-exporter.js', import.meta.url));
const naivePeer = fileURLToPath(new URL('./naive-peer.mjs', import.meta.url));

const work = mkdtempSync(join(tmpdir(), 'av-bench-'));
try {
  const log = join(work, 'access.json.log');
  process.stdout.write(`generating ${LINES} log lines... `);
  await writeAccessLog(log, LINES);
  console.log('done');

  const exporterRun = best(RUNS, () => run(process.execPath, [exporter, '--log-file', log, '--one-shot']));
  const peakRss = /peak RSS ([\d.]+) MiB/.exec(exporterRun.stderr)?.[1];
  // the peers get the exporter's own default buckets, read from its output
  const buckets = [...exporterRun.stdout.matchAll(/^av_nginx_http_request_duration_seconds_bucket\{le="([\d.]+)"\}/gm)].map((m) => Number(m[1]));
  const mtailProgram = join(work, 'nginx.mtail');
  writeFileSync(mtailProgram, mtailProgramText(buckets));
  const mtailRun = best(Math.min(RUNS, 2), () => run('mtail', ['--one_shot', '--one_shot_format', 'prometheus', '--progs', mtailProgram, '--logs', log]));
  const naiveRun = best(Math.min(RUNS, 2), () => run(process.execPath, [naivePeer, log, JSON.stringify(buckets)]));

  checkSameCounts(exporterRun.stdout, mtailRun.stdout);
  const rate = (r) => LINES / r.seconds;
  console.log('');
  console.log(`lines/s over ${LINES} lines (best of ${RUNS} for av-exporter, wall clock incl. start-up):`);
  console.log(`  av-exporter --one-shot  ${fmt(rate(exporterRun))}  (${exporterRun.seconds.toFixed(2)} s)`);
  console.log(`  mtail --one_shot        ${fmt(rate(mtailRun))}  (${mtailRun.seconds.toFixed(2)} s)`);
  console.log(`  naive readline+JSON.parse+prom-client  ${fmt(rate(naiveRun))}  (${naiveRun.seconds.toFixed(2)} s)`);
  console.log(`ratio av-exporter / mtail: ${(rate(exporterRun) / rate(mtailRun)).toFixed(1)}x (target >= 10x)`);
  console.log(`ratio av-exporter / naive: ${(rate(exporterRun) / rate(naiveRun)).toFixed(1)}x`);
  console.log(`av-exporter peak RSS: ${peakRss} MiB (target < 100 MB)`);
  console.log('');
  console.log('p99 error of histogram_quantile vs the exact p99, log-normal request times (median, sigma):');
  for (const row of quantileErrors(buckets)) console.log(`  ${row}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

function run(command, args) {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  return { seconds, stdout: result.stdout, stderr: result.stderr };
}

function best(runs, once) {
  let fastest;
  for (let i = 0; i < runs; i++) {
    const result = once();
    if (!fastest || result.seconds < fastest.seconds) fastest = result;
  }
  return fastest;
}

function fmt(linesPerSecond) {
  return `${Math.round(linesPerSecond).toLocaleString('en-US').padStart(10)} lines/s`;
}

/** The same counter (by status and method) and histogram (same buckets) in mtail's language. */
function mtailProgramText(bounds) {
  return [
    'counter av_nginx_http_requests_total by status, method',
    `histogram av_nginx_http_request_duration_seconds buckets ${bounds.join(', ')}`,
    '',
    '/"request_method":"(?P<method>[A-Z]+)".*"status":(?P<status>\\d{3}),.*"request_time":(?P<request_time>\\d+\\.\\d+)/ {',
    '  av_nginx_http_requests_total[$status][$method]++',
    '  av_nginx_http_request_duration_seconds = $request_time',
    '}',
    '',
  ].join('\n');
}

/** Both peers must have read the same requests, or the comparison means nothing. */
function checkSameCounts(exporterText, mtailText) {
  const total = (text) => [...text.matchAll(/^av_nginx_http_requests_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  if (total(exporterText) !== LINES || total(mtailText) !== LINES) {
    throw new Error(`peers disagree: av-exporter counted ${total(exporterText)}, mtail ${total(mtailText)}, of ${LINES}`);
  }
}
