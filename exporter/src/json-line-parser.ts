// Parses one nginx JSON access-log line (keys are nginx variable names without `$`).
// It is a validating single-pass scanner over the raw bytes: it accepts exactly the lines that
// JSON.parse accepts as an object (and that are valid UTF-8), but it builds no strings or objects
// for the keys it does not use, which makes it several times faster than JSON.parse per line.
import { isUtf8 } from 'node:buffer';
import { BACKSLASH, CARRIAGE_RETURN, COLON, COMMA, LEFT_BRACE, LEFT_BRACKET, NEWLINE, QUOTE, RIGHT_BRACE, RIGHT_BRACKET, SPACE, TAB } from './ascii.js';
import { isComplete, OTHER_METHOD_INDEX, resetRecord, type LineParser, type LogRecord } from './log-record.js';
import {
  methodIndex, numberValue, scanJsonNumber, statusText, unsignedNumberText, upstreamTimeText, validStatus,
} from './field-values.js';

const MAX_NESTING = 64;

const enum Field { None, Status, RequestTime, RequestMethod, UpstreamResponseTime, BodyBytesSent }

const FIELD_KEYS: ReadonlyArray<readonly [Buffer, Field]> = [
  [Buffer.from('status'), Field.Status],
  [Buffer.from('request_time'), Field.RequestTime],
  [Buffer.from('request_method'), Field.RequestMethod],
  [Buffer.from('upstream_response_time'), Field.UpstreamResponseTime],
  [Buffer.from('body_bytes_sent'), Field.BodyBytesSent],
];

const KEY_BY_LENGTH: Array<readonly [Buffer, Field] | undefined> = [];
for (const entry of FIELD_KEYS) {
  if (KEY_BY_LENGTH[entry[0].length]) throw new Error(`two used keys of ${entry[0].length} bytes: fieldOf tells keys apart by length`);
  KEY_BY_LENGTH[entry[0].length] = entry;
}

// What each byte means inside a JSON string; one table look-up per byte keeps the scan loop tight.
const PLAIN = 0;
const CLOSING_QUOTE = 1;
const ESCAPE = 2;
const INVALID = 3; // a raw control character
const NON_ASCII = 4; // part of a UTF-8 sequence, checked once per line
const STRING_BYTE = new Uint8Array(256).map((_, byte) =>
  byte === QUOTE ? CLOSING_QUOTE : byte === BACKSLASH ? ESCAPE : byte < 0x20 ? INVALID : byte >= 0x80 ? NON_ASCII : PLAIN,
);

/** Scanner state for one line; module-level so the hot loop allocates nothing. */
let stringHadEscape = false;
let sawNonAscii = false;
let keyField = Field.None;
/** The keys of the last lines, by their place in the line (see scanKey), and their fields. */
const knownKeys: Uint8Array[] = [];
const knownFields: Field[] = [];

export const parseJsonLine: LineParser = (buf, start, end, out) => {
  resetRecord(out);
  sawNonAscii = false;
  let i = skipWhitespace(buf, start, end);
  if (i >= end || buf[i] !== LEFT_BRACE) return false;
  i = scanMembers(buf, i + 1, end, out);
  if (i < 0 || skipWhitespace(buf, i, end) !== end) return false;
  if (sawNonAscii && !isUtf8(buf.subarray(start, end))) return false;
  return isComplete(out);
};

/** The members of the line's object, after its `{`: end index after the closing `}`, or -1. */
function scanMembers(buf: Buffer, i: number, end: number, out: LogRecord): number {
  i = skipWhitespace(buf, i, end);
  if (i < end && buf[i] === RIGHT_BRACE) return i + 1;
  for (let member = 0; ; member++) {
    if (i >= end || buf[i] !== QUOTE) return -1;
    const keyEnd = scanKey(buf, i + 1, end, member);
    if (keyEnd < 0) return -1;
    const field = keyField;
    i = skipWhitespace(buf, keyEnd + 1, end);
    if (i >= end || buf[i] !== COLON) return -1;
    i = skipWhitespace(buf, i + 1, end);
    i = field === Field.None ? skipValue(buf, i, end) : scanAndStore(field, buf, i, end, out);
    if (i < 0) return -1;
    i = skipWhitespace(buf, i, end);
    if (i >= end) return -1;
    const c = buf[i];
    if (c === RIGHT_BRACE) return i + 1;
    if (c !== COMMA) return -1;
    i = skipWhitespace(buf, i + 1, end);
  }
}

/**
 * Index of the closing quote of the key whose contents start at `i`, the member-th of the line, or -1;
 * sets `keyField`. nginx writes the same keys in the same order on every line, so the key is first
 * compared with the one in its place on the previous line: a match both checks and recognises it.
 */
function scanKey(buf: Buffer, i: number, end: number, member: number): number {
  if (member < knownKeys.length) {
    const known = knownKeys[member]!;
    const close = i + known.length;
    if (close < end && buf[close] === QUOTE && sameBytes(buf, i, known)) {
      keyField = knownFields[member]!;
      return close;
    }
  }
  const close = scanString(buf, i, end);
  if (close < 0) return -1;
  keyField = stringHadEscape ? fieldOfEscapedKey(buf, i - 1, close + 1) : fieldOf(buf, i, close);
  if (!stringHadEscape && member <= knownKeys.length && isAscii(buf, i, close)) {
    knownKeys[member] = new Uint8Array(buf.subarray(i, close));
    knownFields[member] = keyField;
  }
  return close;
}

/** A known key must hold no byte that scanString would flag (sawNonAscii) were it scanned. */
function isAscii(buf: Buffer, start: number, end: number): boolean {
  for (let k = start; k < end; k++) {
    if (buf[k]! >= 0x80) return false;
  }
  return true;
}

/** scanValue with the common case, a string, where it can be inlined. */
function skipValue(buf: Buffer, i: number, end: number): number {
  if (i < end && buf[i] === QUOTE) {
    const close = scanString(buf, i + 1, end);
    return close < 0 ? -1 : close + 1;
  }
  return scanValue(buf, i, end, 0);
}

/**
 * Scans the value at `i` of a field the exporter uses and stores what it means; a later duplicate key
 * wins, as with JSON.parse. End index of the value, or -1.
 */
function scanAndStore(field: Field, buf: Buffer, i: number, end: number, out: LogRecord): number {
  if (i < end && buf[i] === QUOTE) {
    const close = scanString(buf, i + 1, end);
    if (close < 0) return -1;
    if (stringHadEscape) storeEscapedText(field, buf, i, close + 1, out);
    else storeText(field, buf, i + 1, close, out);
    return close + 1;
  }
  const numberEnd = scanJsonNumber(buf, i, end);
  if (numberEnd >= 0) {
    storeNumber(field, numberValue(buf, i, numberEnd), out);
    return numberEnd;
  }
  storeNumber(field, NaN, out); // true, false, null, an object or an array
  return scanValue(buf, i, end, 0);
}

function storeEscapedText(field: Field, buf: Buffer, quotedStart: number, quotedEnd: number, out: LogRecord): void {
  const text = Buffer.from(JSON.parse(buf.toString('utf8', quotedStart, quotedEnd)) as string, 'utf8');
  storeText(field, text, 0, text.length, out);
}

function storeText(field: Field, buf: Uint8Array, start: number, end: number, out: LogRecord): void {
  switch (field) {
    case Field.Status: out.status = statusText(buf, start, end); break;
    case Field.RequestTime: out.requestTime = unsignedNumberText(buf, start, end); break;
    case Field.RequestMethod: out.methodIndex = methodIndex(buf, start, end); break;
    case Field.UpstreamResponseTime: out.upstreamTime = upstreamTimeText(buf, start, end); break;
    case Field.BodyBytesSent: out.bodyBytes = unsignedNumberText(buf, start, end); break;
    case Field.None: break;
  }
}

function storeNumber(field: Field, value: number, out: LogRecord): void {
  const unsigned = value >= 0 ? value : NaN;
  switch (field) {
    case Field.Status: out.status = validStatus(value); break;
    case Field.RequestTime: out.requestTime = unsigned; break;
    case Field.RequestMethod: out.methodIndex = OTHER_METHOD_INDEX; break;
    case Field.UpstreamResponseTime: out.upstreamTime = unsigned; break;
    case Field.BodyBytesSent: out.bodyBytes = unsigned; break;
    case Field.None: break;
  }
}

/** The used keys differ in length, so the length picks the one candidate to compare. */
function fieldOf(buf: Uint8Array, start: number, end: number): Field {
  const length = end - start;
  if (length >= KEY_BY_LENGTH.length) return Field.None;
  const candidate = KEY_BY_LENGTH[length];
  return candidate !== undefined && sameBytes(buf, start, candidate[0]) ? candidate[1] : Field.None;
}

function sameBytes(buf: Uint8Array, start: number, expected: Uint8Array): boolean {
  for (let k = 0; k < expected.length; k++) {
    if (buf[start + k] !== expected[k]) return false;
  }
  return true;
}

function fieldOfEscapedKey(buf: Buffer, quotedStart: number, quotedEnd: number): Field {
  const key = Buffer.from(JSON.parse(buf.toString('utf8', quotedStart, quotedEnd)) as string, 'utf8');
  return fieldOf(key, 0, key.length);
}

/** End index (after the value) of the JSON value at `i`, or -1. */
function scanValue(buf: Buffer, i: number, end: number, depth: number): number {
  if (i >= end) return -1;
  const c = buf[i]!;
  if (c === QUOTE) {
    const close = scanString(buf, i + 1, end);
    return close < 0 ? -1 : close + 1;
  }
  if (c === LEFT_BRACE || c === LEFT_BRACKET) return scanContainer(buf, i, end, depth + 1);
  if (c === 0x74) return matchLiteral(buf, i, end, 'true');
  if (c === 0x66) return matchLiteral(buf, i, end, 'false');
  if (c === 0x6e) return matchLiteral(buf, i, end, 'null');
  return scanJsonNumber(buf, i, end);
}

function scanContainer(buf: Buffer, i: number, end: number, depth: number): number {
  if (depth > MAX_NESTING) return -1;
  const isObject = buf[i] === LEFT_BRACE;
  const close = isObject ? RIGHT_BRACE : RIGHT_BRACKET;
  i = skipWhitespace(buf, i + 1, end);
  if (i < end && buf[i] === close) return i + 1;
  for (;;) {
    if (isObject) {
      if (i >= end || buf[i] !== QUOTE) return -1;
      const keyEnd = scanString(buf, i + 1, end);
      if (keyEnd < 0) return -1;
      i = skipWhitespace(buf, keyEnd + 1, end);
      if (i >= end || buf[i] !== COLON) return -1;
      i = skipWhitespace(buf, i + 1, end);
    }
    i = scanValue(buf, i, end, depth);
    if (i < 0) return -1;
    i = skipWhitespace(buf, i, end);
    if (i >= end) return -1;
    if (buf[i] === close) return i + 1;
    if (buf[i] !== COMMA) return -1;
    i = skipWhitespace(buf, i + 1, end);
  }
}

/**
 * Index of the closing quote of the string whose contents start at `i`, or -1 when the string is
 * not valid JSON (unterminated, a raw control character, a bad escape). Sets `stringHadEscape`.
 */
function scanString(buf: Buffer, i: number, end: number): number {
  while (i < end && STRING_BYTE[buf[i]!] === PLAIN) i++;
  stringHadEscape = false;
  // kept small so that it is inlined: the rest, rarely needed, is a call away
  return i < end && buf[i] === QUOTE ? i : scanStringRest(buf, i, end);
}

/** scanString from the first byte at `i` that is not plain. */
function scanStringRest(buf: Buffer, i: number, end: number): number {
  for (;;) {
    if (i >= end) return -1;
    const kind = STRING_BYTE[buf[i]!];
    if (kind === CLOSING_QUOTE) return i;
    if (kind === INVALID) return -1;
    if (kind === NON_ASCII) {
      sawNonAscii = true;
      i++;
    } else {
      i = skipEscape(buf, i, end);
      if (i < 0) return -1;
      stringHadEscape = true;
    }
    while (i < end && STRING_BYTE[buf[i]!] === PLAIN) i++;
  }
}

/** End index of the escape sequence at `i`, or -1 when it is not a valid one. */
function skipEscape(buf: Buffer, i: number, end: number): number {
  const next = buf[i + 1];
  if (next === 0x75) {
    if (i + 6 > end || !isHex(buf[i + 2]!) || !isHex(buf[i + 3]!) || !isHex(buf[i + 4]!) || !isHex(buf[i + 5]!)) return -1;
    return i + 6;
  }
  return next !== undefined && i + 1 < end && isSimpleEscape(next) ? i + 2 : -1;
}

function matchLiteral(buf: Buffer, i: number, end: number, literal: string): number {
  if (i + literal.length > end) return -1;
  for (let k = 0; k < literal.length; k++) {
    if (buf[i + k] !== literal.charCodeAt(k)) return -1;
  }
  return i + literal.length;
}

function skipWhitespace(buf: Buffer, i: number, end: number): number {
  while (i < end) {
    const c = buf[i];
    if (c !== SPACE && c !== TAB && c !== NEWLINE && c !== CARRIAGE_RETURN) break;
    i++;
  }
  return i;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function isSimpleEscape(c: number): boolean {
  // " \ / b f n r t
  return c === 0x22 || c === 0x5c || c === 0x2f || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74;
}
