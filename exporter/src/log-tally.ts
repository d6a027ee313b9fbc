// The exporter's running totals of the access log, kept in flat typed arrays because they are
// updated once per log line. Prometheus objects are built from snapshots of it at scrape time.
import { METHOD_LABELS, type LogRecord, type MethodLabel } from './log-record.js';
import type { TallyParts } from './state-check.js';

const METHOD_SLOTS = 16; // >= METHOD_LABELS.length, a power of two keeps the index arithmetic cheap
const STATUS_SLOTS = 600;

export class BucketCounts {
  /** Per-bucket (not cumulative) counts; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    // binary search for the first bound >= value (Prometheus buckets are upper-inclusive)
    let low = 0;
    let high = this.bounds.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.bounds[mid]! < value) low = mid + 1;
      else high = mid;
    }
    this.counts[low]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

export interface RequestCount {
  status: string;
  method: string;
  count: number;
}

/** A plain, JSON-serialisable copy of the tally: what is exposed, and what the state file keeps. */
export interface TallySnapshot {
  requests: RequestCount[];
  duration: HistogramSnapshot;
  upstream: HistogramSnapshot;
  bodyBytes: number;
  parsedLines: number;
  malformedLines: number;
}

export interface HistogramSnapshot {
  bounds: number[];
  counts: number[];
  sum: number;
  count: number;
}

/** Request series that exist from the start at 0: every status with every method. */
export interface PresetSeries {
  statuses: readonly number[];
  methods: readonly MethodLabel[];
}

export class LogTally {
  private readonly requests = new Float64Array(STATUS_SLOTS * METHOD_SLOTS);
  /** 1 for a slot exposed even at 0: increase() cannot see the first increment of a series born inside its window. */
  private readonly preset = new Uint8Array(STATUS_SLOTS * METHOD_SLOTS);
  readonly duration: BucketCounts;
  readonly upstream: BucketCounts;
  bodyBytes = 0;
  parsedLines = 0;
  malformedLines = 0;

  constructor(durationBuckets: readonly number[], upstreamBuckets: readonly number[], preset: PresetSeries = { statuses: [], methods: [] }) {
    this.duration = new BucketCounts(durationBuckets);
    this.upstream = new BucketCounts(upstreamBuckets);
    for (const status of preset.statuses) {
      for (const method of preset.methods) this.preset[status * METHOD_SLOTS + METHOD_LABELS.indexOf(method)] = 1;
    }
  }

  add(record: LogRecord): void {
    this.parsedLines++;
    this.requests[record.status * METHOD_SLOTS + record.methodIndex]! += 1;
    this.duration.observe(record.requestTime);
    if (record.upstreamTime >= 0) this.upstream.observe(record.upstreamTime);
    if (record.bodyBytes >= 0) this.bodyBytes += record.bodyBytes;
  }

  addMalformed(): void {
    this.malformedLines++;
  }

  snapshot(): TallySnapshot {
    const requests: RequestCount[] = [];
    for (let slot = 0; slot < this.requests.length; slot++) {
      const count = this.requests[slot]!;
      if (count === 0 && this.preset[slot] === 0) continue;
      requests.push({ status: String(Math.floor(slot / METHOD_SLOTS)), method: METHOD_LABELS[slot % METHOD_SLOTS]!, count });
    }
    return {
      requests,
      duration: histogramSnapshot(this.duration),
      upstream: histogramSnapshot(this.upstream),
      bodyBytes: this.bodyBytes,
      parsedLines: this.parsedLines,
      malformedLines: this.malformedLines,
    };
  }

  /**
   * Continues from the sound parts of a saved snapshot (state-check.ts has checked each). A histogram
   * saved with other bucket bounds than the configured ones starts from zero rather than mixing two
   * incompatible series; the other parts are kept. Returns what was not restored, and why.
   */
  restore(saved: TallyParts): string[] {
    const notRestored: string[] = [];
    for (const { status, method, count } of saved.requests ?? []) {
      this.requests[Number(status) * METHOD_SLOTS + METHOD_LABELS.indexOf(method as MethodLabel)] = count;
    }
    for (const [target, histogram, name] of [[this.duration, saved.duration, 'duration'], [this.upstream, saved.upstream, 'upstream']] as const) {
      if (!histogram) continue;
      if (fits(target, histogram)) restoreHistogram(target, histogram);
      else notRestored.push(`the ${name} histogram: saved with other bucket bounds than the configured ones`);
    }
    this.bodyBytes = saved.bodyBytes ?? 0;
    this.parsedLines = saved.parsedLines ?? 0;
    this.malformedLines = saved.malformedLines ?? 0;
    return notRestored;
  }
}

function histogramSnapshot(histogram: BucketCounts): HistogramSnapshot {
  return { bounds: [...histogram.bounds], counts: [...histogram.counts], sum: histogram.sum, count: histogram.count };
}

function fits(target: BucketCounts, saved: HistogramSnapshot): boolean {
  return saved.bounds.length === target.bounds.length && saved.bounds.every((b, i) => b === target.bounds[i]) &&
    saved.counts.length === target.counts.length;
}

function restoreHistogram(target: BucketCounts, saved: HistogramSnapshot): void {
  target.counts.set(saved.counts);
  target.sum = saved.sum;
  target.count = saved.count;
}
