/** HTTP methods that get a label of their own; anything else is counted as `OTHER`. */
export const STANDARD_METHODS = [
  'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH',
] as const;
export const OTHER_METHOD = 'OTHER';
export const METHOD_LABELS = [...STANDARD_METHODS, OTHER_METHOD] as const;
export type MethodLabel = (typeof METHOD_LABELS)[number];
export const OTHER_METHOD_INDEX = STANDARD_METHODS.length;

/**
 * One parsed access-log line. Parsers fill a caller-owned record instead of allocating one per line:
 * the exporter reads hundreds of thousands of lines a second.
 */
export interface LogRecord {
  /** HTTP status, 100..599. */
  status: number;
  /** `$request_time` in seconds, >= 0. */
  requestTime: number;
  /** Index into METHOD_LABELS. */
  methodIndex: number;
  /** Sum of the `$upstream_response_time` entries in seconds; NaN when absent or unusable. */
  upstreamTime: number;
  /** `$body_bytes_sent`; NaN when absent or unusable. */
  bodyBytes: number;
}

export function emptyRecord(): LogRecord {
  return { status: 0, requestTime: NaN, methodIndex: OTHER_METHOD_INDEX, upstreamTime: NaN, bodyBytes: NaN };
}

export function resetRecord(record: LogRecord): void {
  record.status = 0;
  record.requestTime = NaN;
  record.methodIndex = OTHER_METHOD_INDEX;
  record.upstreamTime = NaN;
  record.bodyBytes = NaN;
}

/**
 * The largest time, in seconds, a line may carry: nginx writes times in milliseconds since a request
 * started, and no request outlives a server by a century. A larger value (1e999 reads as Infinity) is
 * not something nginx wrote, and summing it would wreck `_sum` for good.
 */
export const MAX_SECONDS = 3.2e9;
/** The largest `$body_bytes_sent` nginx can write: its off_t is a signed 64-bit integer. */
export const MAX_BODY_BYTES = 2 ** 63;

/**
 * A line counts only when it carries a valid status and a request time nginx could have written; an
 * optional field that is there must be one nginx could have written too (NaN means absent or unusable).
 */
export function isComplete(record: LogRecord): boolean {
  return record.status >= 100 && record.status <= 599 &&
    record.requestTime >= 0 && record.requestTime <= MAX_SECONDS &&
    !(record.upstreamTime > MAX_SECONDS) && !(record.bodyBytes > MAX_BODY_BYTES);
}

/** A parser turns the bytes [start, end) of a buffer (one line, no newline) into `out`; false means malformed. */
export type LineParser = (buf: Buffer, start: number, end: number, out: LogRecord) => boolean;
