// npm run bench:state: how much the exporter writes to its state file while nginx writes lines at a
// steady 200 and 2,000 lines/s: saves a second (each one a write, an fsync and a rename) and bytes a
// second. The exporter runs as in production (default poll interval, a state file); each save is seen
// as the rename of the temporary file onto the state file (inotify, through fs.watch).
// `--exporter FILE` measures another build (an older one, for a before/after).
import { spawn } from 'node:child_process';
import { appendFileSync, statSync, watch, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { accessLogLine, seededRandom } from './access-log.mjs';
import { freePort } from './free-port.mjs';

const exporterArg = process.argv.indexOf('--exporter');
const EXPORTER = exporterArg > 0 ? process.argv[exporterArg + 1] : fileURLToPath(new URL('../dist/av-exporter.js', import.meta.url));
const SECONDS = Number(process.env.BENCH_STATE_SECONDS ?? 10);
const RATES = [200, 2000];
/** Lines are appended in batches this often, as nginx's buffered writes would. */
const BATCH_MS = 50;

async function measure(linesPerSecond) {
  const work = mkdtempSync(join(tmpdir(), 'av-bench-state-'));
  const log = join(work, 'access.json.log');
  const state = join(work, 'state.json');
  writeFileSync(log, '');
  const port = await freePort();
  const exporter = spawn(process.execPath, [EXPORTER, '--log-file', log, '--positions-file', state, '--listen', `127.0.0.1:${port}`], { stdio: 'ignore' });
  try {
    for (let tries = 0; ; tries++) {
      const ready = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.ok, () => false);
      if (ready) break;
      if (tries > 100) throw new Error('the exporter did not answer');
      await sleep(100);
    }
    await sleep(1500); // past the save at the start
    let saves = 0;
    let bytes = 0;
    const watcher = watch(work, (_event, name) => {
      if (name !== basename(state)) return;
      saves++;
      try {
        bytes += statSync(state).size;
      } catch {
        // renamed over again already: the next event counts it
      }
    });
    const random = seededRandom(7);
    const perBatch = (linesPerSecond * BATCH_MS) / 1000;
    const started = Date.now();
    let written = 0;
    while (Date.now() - started < SECONDS * 1000) {
      const due = Math.floor(((Date.now() - started) / 1000) * linesPerSecond + perBatch) - written;
      let text = '';
      for (let i = 0; i < due; i++) text += accessLogLine(random, Date.now() / 1000);
      appendFileSync(log, text);
      written += Math.max(due, 0);
      await sleep(BATCH_MS);
    }
    const elapsed = (Date.now() - started) / 1000;
    await sleep(300);
    watcher.close();
    return { linesPerSecond: written / elapsed, savesPerSecond: saves / elapsed, bytesPerSecond: bytes / elapsed, stateBytes: statSync(state).size };
  } finally {
    exporter.kill('SIGTERM');
    await new Promise((resolve) => exporter.once('exit', resolve));
    rmSync(work, { recursive: true, force: true });
  }
}

console.log(`state file writes of ${EXPORTER}, ${SECONDS} s per rate, default poll interval:`);
for (const rate of RATES) {
  const { linesPerSecond, savesPerSecond, bytesPerSecond, stateBytes } = await measure(rate);
  console.log(`  ${rate} lines/s (written ${linesPerSecond.toFixed(0)}/s): ${savesPerSecond.toFixed(2)} saves/s, ` +
    `${(bytesPerSecond / 1024).toFixed(1)} KiB/s (state file ${(stateBytes / 1024).toFixed(1)} KiB)`);
}
