// npm run bench: av-exporter --one-shot against Debian's mtail (an equivalent program: the same
// counter and histogram) and a naive Node loop, over the same generated 1,000,000-line nginx JSON log,
// in one run. The target is av-exporter >= 10x mtail by wall-clock time AND by CPU time (user+sys),
// with a peak RSS < 100 MB. The machine may be shared and noisy, so av-exporter and mtail run
// alternately (BENCH_RUNS pairs, default 3) and each pair gives one ratio; the median and the range of
// those ratios are printed. Also prints how far histogram_quantile's p99 lands from the exact p99 with
// the exporter's default buckets and with prom-client's defaults, on a log-normal workload.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeAccessLog } from './access-log.mjs';
import { quantileErrors } from './quantile-error.mjs';

const LINES = Number(process.env.BENCH_LINES ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const TARGET_RATIO = 10;
const exporter = fileURLToPath(new URL('../dist/av-exporter.js', import.meta.url));
const naivePeer = fileURLToPath(new URL('./naive-peer.mjs', import.meta.url));

// Node cannot see a child's rusage, so each peer is started by this python3 wrapper, which waits for
// it with wait4() and writes wall seconds, user+sys CPU seconds and peak RSS (KiB) to a JSON file.
const MEASURE_PY = `
import json, os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(out, "w") as f:
    json.dump({"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "maxrss_kib": usage.ru_maxrss}, f)
sys.exit(os.waitstatus_to_exitcode(status))
`;

const work = mkdtempSync(join(tmpdir(), 'av-bench-'));
try {
  const log = join(work, 'access.json.log');
  process.stdout.write(`generating ${LINES} log lines... `);
  await writeAccessLog(log, LINES);
  console.log('done');

  const avExporter = { name: 'av-exporter --one-shot', command: process.execPath, args: [exporter, '--log-file', log, '--one-shot'] };
  // a first, uncounted run warms the page cache and tells the peers the exporter's default buckets
  const warmUp = measure(avExporter);
  const buckets = [...warmUp.stdout.matchAll(/^av_nginx_http_request_duration_seconds_bucket\{le="([\d.]+)"\}/gm)].map((m) => Number(m[1]));
  const mtailProgram = join(work, 'nginx.mtail');
  writeFileSync(mtailProgram, mtailProgramText(buckets));
  const mtail = { name: 'mtail --one_shot', command: 'mtail', args: ['--one_shot', '--one_shot_format', 'prometheus', '--progs', mtailProgram, '--logs', log] };
  const naive = { name: 'naive readline+JSON.parse+prom-client', command: process.execPath, args: [naivePeer, log, JSON.stringify(buckets)] };

  const pairs = [];
  for (let i = 0; i < RUNS; i++) {
    const av = measure(avExporter);
    const mt = measure(mtail);
    checkSameCounts(av.stdout, mt.stdout);
    pairs.push({ av, mt });
    console.log(`  pair ${i + 1}/${RUNS}: av-exporter ${av.wall.toFixed(2)} s wall ${av.cpu.toFixed(2)} s CPU; mtail ${mt.wall.toFixed(2)} s wall ${mt.cpu.toFixed(2)} s CPU`);
  }
  const naiveRuns = Array.from({ length: Math.min(RUNS, 2) }, () => measure(naive));

  console.log('');
  console.log(`over ${LINES} lines, median of ${RUNS} interleaved runs (wall clock incl. start-up; CPU = user+sys):`);
  console.log(`  ${'peer'.padEnd(40)}${'lines/s (wall)'.padStart(16)}${'CPU s / 1M lines'.padStart(18)}${'peak RSS'.padStart(12)}`);
  printPeer(avExporter.name, pairs.map((p) => p.av));
  printPeer(mtail.name, pairs.map((p) => p.mt));
  printPeer(naive.name, naiveRuns);
  console.log('');
  printRatio('wall', pairs.map((p) => p.mt.wall / p.av.wall));
  printRatio('CPU ', pairs.map((p) => p.mt.cpu / p.av.cpu));
  console.log(`ratio av-exporter / naive, wall: ${(median(naiveRuns.map((r) => r.wall)) / median(pairs.map((p) => p.av.wall))).toFixed(1)}x`);
  const peakRssMiB = Math.max(...pairs.map((p) => p.av.maxRssMiB));
  console.log(`av-exporter peak RSS: ${peakRssMiB.toFixed(1)} MiB, highest of ${RUNS} runs (target < 100 MB) ${peakRssMiB * 1.048576 < 100 ? 'OK' : 'ABOVE TARGET'}`);
  console.log('');
  console.log('p99 error of histogram_quantile vs the exact p99, log-normal request times (median, sigma):');
  for (const row of quantileErrors(buckets)) console.log(`  ${row}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** Runs a peer to its end under the wait4 wrapper: its output and its wall, CPU and peak RSS. */
function measure({ command, args }) {
  const usageFile = join(work, 'usage.json');
  const result = spawnSync('python3', ['-c', MEASURE_PY, usageFile, command, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  const usage = JSON.parse(readFileSync(usageFile, 'utf8'));
  return { wall: usage.wall, cpu: usage.cpu, maxRssMiB: usage.maxrss_kib / 1024, stdout: result.stdout, stderr: result.stderr };
}

function printPeer(name, runs) {
  const wall = median(runs.map((r) => r.wall));
  const cpu = median(runs.map((r) => r.cpu));
  const rss = Math.max(...runs.map((r) => r.maxRssMiB));
  const rate = Math.round(LINES / wall).toLocaleString('en-US');
  console.log(`  ${name.padEnd(40)}${rate.padStart(16)}${(cpu / (LINES / 1e6)).toFixed(2).padStart(18)}${`${rss.toFixed(1)} MiB`.padStart(12)}`);
}

function printRatio(what, ratios) {
  const m = median(ratios);
  const range = `${Math.min(...ratios).toFixed(1)}..${Math.max(...ratios).toFixed(1)}x`;
  const verdict = Math.min(...ratios) >= TARGET_RATIO ? 'OK' : m >= TARGET_RATIO ? 'OK by the median, not in every pair' : 'BELOW TARGET';
  console.log(`ratio av-exporter / mtail, ${what}: ${m.toFixed(1)}x median, ${range} over ${ratios.length} pairs (target >= ${TARGET_RATIO}x) ${verdict}`);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
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
