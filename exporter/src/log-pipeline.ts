// Wires the line splitter to the parser of the configured format and to the tally.
import { LineSplitter } from './line-splitter.js';
import { parseJsonLine } from './json-line-parser.js';
import { emptyRecord } from './log-record.js';
import { LogTally } from './log-tally.js';
import type { ExporterOptions } from './options.js';
import { parseTimedCombinedLine } from './timed-combined-parser.js';

export interface LogPipeline {
  tally: LogTally;
  splitter: LineSplitter;
}

export function createLogPipeline(options: Pick<ExporterOptions, 'buckets' | 'upstreamBuckets' | 'logFormat' | 'maxLineBytes'>): LogPipeline {
  const tally = new LogTally(options.buckets, options.upstreamBuckets);
  const parse = options.logFormat === 'json' ? parseJsonLine : parseTimedCombinedLine;
  const record = emptyRecord();
  const splitter = new LineSplitter(options.maxLineBytes, {
    line(buf, start, end) {
      if (parse(buf, start, end, record)) tally.add(record);
      else tally.addMalformed();
    },
    overlong() {
      tally.addMalformed();
    },
  });
  return { tally, splitter };
}
