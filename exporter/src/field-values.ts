// Interprets the text of the few nginx variables the exporter uses. Shared by both log formats.
import { COLON, COMMA, DIGIT_0, DIGIT_9, DOT, LOWER_E, MINUS, PLUS, SPACE, UPPER_E } from './ascii.js';
import { OTHER_METHOD_INDEX, STANDARD_METHODS } from './log-record.js';


const POWERS_OF_TEN = Array.from({ length: 16 }, (_, i) => 10 ** i);

/**
 * End index of a JSON number starting at `start`, or -1 when the bytes there are not one
 * (RFC 8259 grammar: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?).
 */
export function scanJsonNumber(buf: Uint8Array, start: number, end: number): number {
  let i = start;
  if (i < end && buf[i] === MINUS) i++;
  if (i >= end) return -1;
  const first = buf[i]!;
  if (first === DIGIT_0) {
    i++;
  } else if (first > DIGIT_0 && first <= DIGIT_9) {
    while (i < end && isDigit(buf[i]!)) i++;
  } else {
    return -1;
  }
  if (i < end && buf[i] === DOT) {
    i++;
    const fractionStart = i;
    while (i < end && isDigit(buf[i]!)) i++;
    if (i === fractionStart) return -1;
  }
  if (i < end && (buf[i] === LOWER_E || buf[i] === UPPER_E)) {
    i++;
    if (i < end && (buf[i] === PLUS || buf[i] === MINUS)) i++;
    const exponentStart = i;
    while (i < end && isDigit(buf[i]!)) i++;
    if (i === exponentStart) return -1;
  }
  return i;
}

/**
 * The value of the JSON number in [start, end) (already validated by scanJsonNumber).
 * Plain decimals with up to 15 digits are converted by integer arithmetic, which gives the same
 * correctly rounded double as Number() without building a string.
 */
export function numberValue(buf: Uint8Array, start: number, end: number): number {
  let mantissa = 0;
  let i = start;
  for (; i < end; i++) {
    const digit = buf[i]! - DIGIT_0;
    if (digit < 0 || digit > 9) break;
    mantissa = mantissa * 10 + digit;
  }
  if (i === end) return end - start <= 15 ? mantissa : Number(latin1(buf, start, end));
  if (buf[i] !== DOT) return Number(latin1(buf, start, end)); // a sign or an exponent
  const fractionStart = i + 1;
  for (i = fractionStart; i < end; i++) {
    const digit = buf[i]! - DIGIT_0;
    if (digit < 0 || digit > 9) return Number(latin1(buf, start, end));
    mantissa = mantissa * 10 + digit;
  }
  if (end - start - 1 > 15) return Number(latin1(buf, start, end));
  return mantissa / POWERS_OF_TEN[end - fractionStart]!;
}

/** A non-negative number written as text (a JSON number without sign), or NaN. */
export function unsignedNumberText(buf: Uint8Array, start: number, end: number): number {
  if (start >= end || buf[start] === MINUS) return NaN;
  return scanJsonNumber(buf, start, end) === end ? numberValue(buf, start, end) : NaN;
}

/** A status written as exactly three digits, 100..599, or 0. */
export function statusText(buf: Uint8Array, start: number, end: number): number {
  if (end - start !== 3) return 0;
  const a = buf[start]!;
  const b = buf[start + 1]!;
  const c = buf[start + 2]!;
  if (!isDigit(a) || !isDigit(b) || !isDigit(c)) return 0;
  return validStatus((a - DIGIT_0) * 100 + (b - DIGIT_0) * 10 + (c - DIGIT_0));
}

export function validStatus(value: number): number {
  return Number.isInteger(value) && value >= 100 && value <= 599 ? value : 0;
}

const METHOD_BYTES = STANDARD_METHODS.map((name) => Buffer.from(name, 'latin1'));

/** Index of the standard method spelled in [start, end), or the OTHER index. */
export function methodIndex(buf: Uint8Array, start: number, end: number): number {
  const length = end - start;
  for (let m = 0; m < METHOD_BYTES.length; m++) {
    const name = METHOD_BYTES[m]!;
    if (name.length !== length) continue;
    let same = true;
    for (let k = 0; k < length; k++) {
      if (buf[start + k] !== name[k]) {
        same = false;
        break;
      }
    }
    if (same) return m;
  }
  return OTHER_METHOD_INDEX;
}


/**
 * Sum of an `$upstream_response_time` value: one number, or nginx's lists (`0.010, 0.020` for
 * several servers, `0.010 : 0.020` across internal redirects), with `-` for servers that gave no
 * response. NaN when no entry is a number or any entry is neither a number nor `-`.
 */
export function upstreamTimeText(buf: Uint8Array, start: number, end: number): number {
  let total = 0;
  let numbers = 0;
  let i = start;
  while (i <= end) {
    let itemEnd = i;
    while (itemEnd < end && buf[itemEnd] !== COMMA && buf[itemEnd] !== COLON) itemEnd++;
    let a = i;
    let b = itemEnd;
    while (a < b && buf[a] === SPACE) a++;
    while (b > a && buf[b - 1] === SPACE) b--;
    if (b - a === 1 && buf[a] === MINUS) {
      // a server that was tried but sent nothing
    } else if (b > a) {
      const value = unsignedNumberText(buf, a, b);
      if (Number.isNaN(value)) return NaN;
      total += value;
      numbers++;
    } else if (itemEnd < end || i > start) {
      return NaN; // an empty entry between separators
    }
    i = itemEnd + 1;
  }
  return numbers > 0 ? total : NaN;
}

function isDigit(c: number): boolean {
  return c >= DIGIT_0 && c <= DIGIT_9;
}

function latin1(buf: Uint8Array, start: number, end: number): string {
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1');
}
