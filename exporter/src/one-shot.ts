// --one-shot: the log metrics of a whole file, printed once. For tests, benchmarks and people
// checking that their log format is understood (see av_nginx_log_lines_total{result="malformed"}).
import { stat } from 'node:fs/promises';
import { createLogPipeline } from './log-pipeline.js';
import { LogFollower } from './log-follower.js';
import { renderTally } from './log-exposition.js';
import type { ExporterOptions } from './options.js';

export async function runOneShot(options: ExporterOptions): Promise<number> {
  try {
    await stat(options.logFile);
  } catch (error) {
    process.stderr.write(`av-exporter: cannot read ${options.logFile}: ${(error as Error).message}\n`);
    return 1;
  }
  const started = process.hrtime.bigint();
  // no preset series: a whole file is read at once, there is no increase() window to see them in
  const { tally, newSplitter } = createLogPipeline({ ...options, presetStatuses: [], presetMethods: [] });
  const follower = new LogFollower({ path: options.logFile, newSplitter, chunkBytes: 4 << 20 });
  await follower.poll();
  follower.finishLastLines(); // the file is all there is: a last line without its newline still counts
  await follower.close();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(renderTally(tally.snapshot(), options.prefix));

  const lines = tally.parsedLines + tally.malformedLines;
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  process.stderr.write(
    `av-exporter: ${lines} lines (${tally.parsedLines} parsed, ${tally.malformedLines} malformed) in ${seconds.toFixed(3)} s, ` +
      `${Math.round(lines / seconds)} lines/s, peak RSS ${peakRssMiB.toFixed(1)} MiB\n`,
  );
  return 0;
}
