// Wires the line splitters to the parser of the configured format and to the tally.
import { LineSplitter, type LineSink } from './line-splitter.js';
import { parseJsonLine } from './json-line-parser.js';
import { emptyRecord } from './log-record.js';
import { LogTally } from './log-tally.js';
import type { ExporterOptions } from './options.js';
import { parseTimedCombinedLine } from './timed-combined-parser.js';

export interface LogPipeline {
  tally: LogTally;
  /** A splitter for one file; every one feeds the same tally. */
  newSplitter: () => LineSplitter;
}

export function createLogPipeline(
  options: Pick<ExporterOptions, 'buckets' | 'upstreamBuckets' | 'logFormat' | 'maxLineBytes' | 'presetStatuses' | 'presetMethods'>,
): LogPipeline {
  const tally = new LogTally(options.buckets, options.upstreamBuckets, { statuses: options.presetStatuses, methods: options.presetMethods });
  const parse = options.logFormat === 'json' ? parseJsonLine : parseTimedCombinedLine;
  const record = emptyRecord();
  const sink: LineSink = {
    line(buf, start, end) {
      if (parse(buf, start, end, record)) tally.add(record);
      else tally.addMalformed();
    },
    overlong() {
      tally.addMalformed();
    },
    unfinished() {
      tally.addMalformed();
    },
  };
  return { tally, newSplitter: () => new LineSplitter(options.maxLineBytes, sink) };
}
