// Checks a state file's contents part by part: the positions, each request count, each histogram and
// each total stand or fall on their own, so one damaged or impossible value never costs the parts that
// are sound. The same checks run before a save, so a state file never holds what it could not read back.
import { FINGERPRINT_BYTES } from './file-identity.js';
import type { FilePosition, Fingerprint } from './file-position.js';
import { MAX_BODY_BYTES, MAX_SECONDS, METHOD_LABELS } from './log-record.js';
import type { HistogramSnapshot, RequestCount, TallySnapshot } from './log-tally.js';

/** Counts are whole numbers a double holds exactly; past 2^53 a count could no longer move by one. */
const MAX_COUNT = Number.MAX_SAFE_INTEGER;
/**
 * A sum is of at most MAX_COUNT lines, each within the limit a line is held to (log-record.ts), so no
 * sum of lines that were accepted can pass these, and no such line can block a save. Twice the
 * product: room for the rounding of a sum of doubles.
 */
const MAX_SECONDS_SUM = 2 * MAX_SECONDS * MAX_COUNT;
const MAX_BODY_BYTES_SUM = 2 * MAX_BODY_BYTES * MAX_COUNT;

/** The sound parts of a saved tally; a part that failed its check is left out. */
export type TallyParts = Partial<TallySnapshot>;

export interface CheckedState {
  /** null: no position was saved, or it failed its check. */
  files: FilePosition[] | null;
  tally: TallyParts;
  /** What was refused, and why: one sentence each, for the log. */
  refused: string[];
}

/** Splits a parsed state (version 2 layout) into its sound parts and what was refused. */
export function checkStateParts(files: unknown, tally: unknown): CheckedState {
  const refused: string[] = [];
  const checkedFiles = checkFiles(files, refused);
  const parts: TallyParts = {};
  const saved = (typeof tally === 'object' && tally !== null ? tally : {}) as Record<string, unknown>;
  if (typeof tally !== 'object' || tally === null) refused.push(`the totals: expected an object, got ${describe(tally)}`);
  else {
    const requests = checkRequests(saved.requests, refused);
    if (requests) parts.requests = requests;
    for (const name of ['duration', 'upstream'] as const) {
      const problem = histogramProblem(saved[name]);
      if (problem) refused.push(`the ${name} histogram: ${problem}`);
      else parts[name] = saved[name] as HistogramSnapshot;
    }
    for (const name of ['bodyBytes', 'parsedLines', 'malformedLines'] as const) {
      const problem = name === 'bodyBytes' ? sumProblem(saved[name], MAX_BODY_BYTES_SUM) : countProblem(saved[name]);
      if (problem) refused.push(`total ${name}: ${problem}`);
      else parts[name] = saved[name] as number;
    }
  }
  return { files: checkedFiles, tally: parts, refused };
}

/** Every problem a snapshot about to be saved has; empty when it can be saved and read back. */
export function snapshotProblems(files: FilePosition[] | null, tally: TallySnapshot): string[] {
  return checkStateParts(files, tally).refused;
}

function checkFiles(files: unknown, refused: string[]): FilePosition[] | null {
  if (files === null || files === undefined) return null;
  if (!Array.isArray(files)) {
    refused.push(`the read positions: expected a list, got ${describe(files)}`);
    return null;
  }
  const sound: FilePosition[] = [];
  for (const file of files) {
    const problem = positionProblem(file);
    if (problem) {
      refused.push(`the read positions: ${problem}`);
      return null;
    }
    const { fingerprint, mtimeMs, ...position } = file as FilePosition;
    const fingerprintIssue = fingerprintProblem(fingerprint);
    if (fingerprintIssue) refused.push(`the fingerprint of ${position.path}: ${fingerprintIssue} (the file is known by its inode alone)`);
    const mtimeSound = mtimeMs === undefined || (typeof mtimeMs === 'number' && Number.isFinite(mtimeMs) && mtimeMs >= 0);
    if (!mtimeSound) refused.push(`the modification time of ${position.path}: expected a finite number >= 0, got ${describe(mtimeMs)}`);
    sound.push({
      ...position,
      ...(fingerprintIssue || fingerprint === undefined ? {} : { fingerprint }),
      ...(mtimeSound && mtimeMs !== undefined ? { mtimeMs } : {}),
    });
  }
  return sound;
}

/** Why a saved position (its fingerprint aside) is not one the follower could have written, or null. */
function positionProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return `expected a position, got ${describe(value)}`;
  const position = value as Partial<FilePosition>;
  if (typeof position.path !== 'string') return `path: expected a string, got ${describe(position.path)}`;
  if (!isCount(position.inode)) return `inode of ${position.path}: expected a whole number >= 0, got ${describe(position.inode)}`;
  if (!isCount(position.offset)) return `offset in ${position.path}: expected a whole number >= 0, got ${describe(position.offset)}`;
  return null;
}

function fingerprintProblem(fingerprint: unknown): string | null {
  if (fingerprint === undefined) return null;
  if (typeof fingerprint !== 'object' || fingerprint === null) return `expected an object, got ${describe(fingerprint)}`;
  const { bytes, sha256 } = fingerprint as Partial<Fingerprint>;
  if (!isCount(bytes) || bytes > FINGERPRINT_BYTES) return `expected 0 to ${FINGERPRINT_BYTES} bytes, got ${describe(bytes)}`;
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) return `expected a hex SHA-256, got ${describe(sha256)}`;
  return null;
}

function checkRequests(value: unknown, refused: string[]): RequestCount[] | null {
  if (!Array.isArray(value)) {
    refused.push(`the request counts: expected a list, got ${describe(value)}`);
    return null;
  }
  const seen = new Set<string>();
  const sound: RequestCount[] = [];
  for (const entry of value) {
    const problem = requestProblem(entry, seen);
    if (problem) refused.push(`request count ${describe(entry)}: ${problem}`);
    else sound.push(entry as RequestCount);
  }
  return sound;
}

function requestProblem(entry: unknown, seen: Set<string>): string | null {
  if (typeof entry !== 'object' || entry === null) return 'expected {status, method, count}';
  const { status, method, count } = entry as Partial<RequestCount>;
  const code = Number(status);
  if (typeof status !== 'string' || !/^[1-5]\d\d$/.test(status) || code < 100) return 'status: expected 100 to 599';
  if (!METHOD_LABELS.includes(method as (typeof METHOD_LABELS)[number])) return `method: expected one of ${METHOD_LABELS.join(', ')}`;
  const key = `${status} ${method}`;
  if (seen.has(key)) return 'a second count for the same status and method';
  seen.add(key);
  return countProblem(count);
}

function histogramProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return `expected an object, got ${describe(value)}`;
  const h = value as Partial<HistogramSnapshot>;
  if (!Array.isArray(h.bounds) || !h.bounds.every((b) => typeof b === 'number' && Number.isFinite(b))) return 'bounds: expected a list of finite numbers';
  if (!Array.isArray(h.counts) || h.counts.length !== h.bounds.length + 1) return `counts: expected ${h.bounds.length + 1} counts (one per bound and +Inf)`;
  for (const count of h.counts) {
    const problem = countProblem(count);
    if (problem) return `a bucket count: ${problem}`;
  }
  const countIssue = countProblem(h.count) ?? sumProblem(h.sum, MAX_SECONDS_SUM);
  if (countIssue) return countIssue;
  const bucketTotal = (h.counts as number[]).reduce((total, count) => total + count, 0);
  if (bucketTotal !== h.count) return `its buckets hold ${bucketTotal} observations but its count says ${describe(h.count)}`;
  return null;
}

function countProblem(value: unknown): string | null {
  if (isCount(value)) return null;
  return typeof value === 'number' && value > MAX_COUNT
    ? `${describe(value)} is past 2^53, more than any log holds`
    : `expected a whole number >= 0, got ${describe(value)}`;
}

function sumProblem(value: unknown, limit: number): string | null {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= limit) return null;
  return typeof value === 'number' && Number.isFinite(value) && value > limit
    ? `${describe(value)} is past ${limit}, more than any log sums to`
    : `expected a finite number >= 0, got ${describe(value)}`;
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function describe(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
