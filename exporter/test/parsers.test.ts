// Line parsers: tables of input → record or malformed, and a differential check of the JSON scanner
// against JSON.parse on thousands of mutated lines.
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, test } from 'node:test';
import { upstreamTimeText } from '../src/field-values.js';
import { parseJsonLine } from '../src/json-line-parser.js';
import { emptyRecord, MAX_BODY_BYTES, MAX_SECONDS, METHOD_LABELS, type LineParser } from '../src/log-record.js';
import { parseTimedCombinedLine } from '../src/timed-combined-parser.js';

interface Expected {
  status: number;
  requestTime: number;
  method: string;
  upstreamTime?: number;
  bodyBytes?: number;
}

function parse(parser: LineParser, line: string | Buffer): Expected | 'malformed' {
  const buf = typeof line === 'string' ? Buffer.from(line) : line;
  const record = emptyRecord();
  if (!parser(buf, 0, buf.length, record)) return 'malformed';
  const result: Expected = { status: record.status, requestTime: record.requestTime, method: METHOD_LABELS[record.methodIndex]! };
  if (!Number.isNaN(record.upstreamTime)) result.upstreamTime = record.upstreamTime;
  if (!Number.isNaN(record.bodyBytes)) result.bodyBytes = record.bodyBytes;
  return result;
}

const JSON_CASES: Array<[string, string | Buffer, Expected | 'malformed']> = [
  ['numbers', '{"status":200,"request_time":0.012,"request_method":"GET"}', { status: 200, requestTime: 0.012, method: 'GET' }],
  ['strings', '{"status":"404","request_time":"0.000","request_method":"POST"}', { status: 404, requestTime: 0, method: 'POST' }],
  ['keys in any order, unknown keys ignored', '{"x":1,"request_time":1.5,"y":"z","status":503}', { status: 503, requestTime: 1.5, method: 'OTHER' }],
  ['nested values in unknown keys', '{"a":{"b":[1,{"c":null}],"d":[]},"status":200,"request_time":0.1,"e":true,"f":false}', { status: 200, requestTime: 0.1, method: 'OTHER' }],
  ['escapes in other values', '{"request_uri":"/a\\"b\\\\c\\u00e9\\n","status":200,"request_time":0.1}', { status: 200, requestTime: 0.1, method: 'OTHER' }],
  ['an escaped key', '{"st\\u0061tus":201,"request_time":0.1}', { status: 201, requestTime: 0.1, method: 'OTHER' }],
  ['an escaped value of a used key', '{"status":"2\\u00300","request_time":0.1}', { status: 200, requestTime: 0.1, method: 'OTHER' }],
  ['duplicate keys: the last wins, as with JSON.parse', '{"status":500,"request_time":0.1,"status":200}', { status: 200, requestTime: 0.1, method: 'OTHER' }],
  ['a later invalid duplicate makes it malformed', '{"status":200,"request_time":0.1,"status":"x"}', 'malformed'],
  ['whitespace around tokens', ' { "status" : 200 ,\t"request_time" : 0.5 } ', { status: 200, requestTime: 0.5, method: 'OTHER' }],
  ['valid UTF-8 in other fields', '{"http_user_agent":"Mozilla ☃ Яндекс","status":200,"request_time":0.1}', { status: 200, requestTime: 0.1, method: 'OTHER' }],
  ['a lowercase method is not standard', '{"status":200,"request_time":0.1,"request_method":"get"}', { status: 200, requestTime: 0.1, method: 'OTHER' }],
  ['an invented method is OTHER', '{"status":200,"request_time":0.1,"request_method":"BREW"}', { status: 200, requestTime: 0.1, method: 'OTHER' }],
  ['every standard method', '{"status":200,"request_time":0.1,"request_method":"PATCH"}', { status: 200, requestTime: 0.1, method: 'PATCH' }],
  ['exponent in request_time', '{"status":200,"request_time":1e-3}', { status: 200, requestTime: 0.001, method: 'OTHER' }],
  ['upstream list and body bytes', '{"status":200,"request_time":0.1,"upstream_response_time":"0.010, 0.020 : 0.030","body_bytes_sent":612}', { status: 200, requestTime: 0.1, method: 'OTHER', upstreamTime: 0.06, bodyBytes: 612 }],
  ['upstream "-" is no upstream time', '{"status":502,"request_time":0.1,"upstream_response_time":"-"}', { status: 502, requestTime: 0.1, method: 'OTHER' }],
  ['status 100 and 599 are the limits', '{"status":599,"request_time":0}', { status: 599, requestTime: 0, method: 'OTHER' }],
  ['not JSON', 'GET / HTTP/1.1', 'malformed'],
  ['truncated', '{"status":200,"request_time":0.1', 'malformed'],
  ['trailing garbage', '{"status":200,"request_time":0.1} x', 'malformed'],
  ['a top-level array', '[{"status":200,"request_time":0.1}]', 'malformed'],
  ['a top-level string', '"status"', 'malformed'],
  ['a top-level number', '200', 'malformed'],
  ['empty line', '', 'malformed'],
  ['missing status', '{"request_time":0.1}', 'malformed'],
  ['missing request_time', '{"status":200}', 'malformed'],
  ['status "20"', '{"status":"20","request_time":0.1}', 'malformed'],
  ['status "2000"', '{"status":"2000","request_time":0.1}', 'malformed'],
  ['status 99', '{"status":99,"request_time":0.1}', 'malformed'],
  ['status 600', '{"status":600,"request_time":0.1}', 'malformed'],
  ['status 200.5', '{"status":200.5,"request_time":0.1}', 'malformed'],
  ['status "abc"', '{"status":"abc","request_time":0.1}', 'malformed'],
  ['request_time "-"', '{"status":200,"request_time":"-"}', 'malformed'],
  ['request_time ""', '{"status":200,"request_time":""}', 'malformed'],
  ['request_time -0.1', '{"status":200,"request_time":-0.1}', 'malformed'],
  ['request_time "1e"', '{"status":200,"request_time":"1e"}', 'malformed'],
  ['request_time null', '{"status":200,"request_time":null}', 'malformed'],
  ['request_time true', '{"status":200,"request_time":true}', 'malformed'],
  ['a number with a leading zero', '{"status":200,"request_time":01}', 'malformed'],
  ['invalid UTF-8 in a string', Buffer.concat([Buffer.from('{"status":200,"request_time":0.1,"x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]), 'malformed'],
  ['a raw control character in a string', '{"status":200,"request_time":0.1,"x":"a\u0001b"}', 'malformed'],
  ['a bad escape', '{"status":200,"request_time":0.1,"x":"\\q"}', 'malformed'],
  ['a short \\u escape', '{"status":200,"request_time":0.1,"x":"\\u12"}', 'malformed'],
  ['binary garbage', Buffer.from([0x00, 0xff, 0x7b, 0x22, 0x80, 0x0d, 0x1b, 0x5b]), 'malformed'],
  // numbers JSON reads as Infinity, or past what nginx can write: summed, they would wreck _sum for good
  ['request_time 1e999 (Infinity to JSON)', '{"status":200,"request_time":1e999}', 'malformed'],
  ['request_time "1e999" as a string', '{"status":200,"request_time":"1e999"}', 'malformed'],
  ['request_time 1.7e308, which two lines overflow', '{"status":200,"request_time":1.7e308}', 'malformed'],
  ['request_time past a century', '{"status":200,"request_time":3.3e9}', 'malformed'],
  ['body_bytes_sent 1e999', '{"status":200,"request_time":0.1,"body_bytes_sent":1e999}', 'malformed'],
  ['body_bytes_sent past 2^63', '{"status":200,"request_time":0.1,"body_bytes_sent":1e19}', 'malformed'],
  ['upstream_response_time 1e999', '{"status":200,"request_time":0.1,"upstream_response_time":"0.1, 1e999"}', 'malformed'],
  ['the largest body nginx can send', '{"status":200,"request_time":3.1e9,"body_bytes_sent":9223372036854775807}', { status: 200, requestTime: 3.1e9, method: 'OTHER', bodyBytes: 2 ** 63 }],
];

describe('JSON lines', () => {
  for (const [name, line, expected] of JSON_CASES) {
    test(name, () => assert.deepEqual(parse(parseJsonLine, line), expected));
  }

  test('agrees with JSON.parse on 20,000 mutated lines', () => {
    const random = seeded(12345);
    const seeds = JSON_CASES.map(([, line]) => Buffer.from(line)).filter((b) => b.length > 0);
    const alphabet = Buffer.from('{}[]",:\\ u0123456789.-eEtrufalsn\u0001\t');
    for (let i = 0; i < 20_000; i++) {
      const line = mutate(seeds[Math.floor(random() * seeds.length)]!, random, alphabet);
      const actual = parse(parseJsonLine, line);
      const expected = oracle(line);
      assert.deepEqual(actual, expected, `line ${JSON.stringify(line.toString('latin1'))}`);
    }
  });
});

/** What the JSON parser must answer, by JSON.parse and the rules of the exporter. */
function oracle(line: Buffer): Expected | 'malformed' {
  if (!isUtf8(line)) return 'malformed';
  let value: unknown;
  try {
    value = JSON.parse(line.toString('utf8'));
  } catch {
    return 'malformed';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'malformed';
  const entry = value as Record<string, unknown>;
  const status = typeof entry.status === 'number' ? entry.status : typeof entry.status === 'string' && /^\d{3}$/.test(entry.status) ? Number(entry.status) : NaN;
  const time = typeof entry.request_time === 'number' ? entry.request_time
    : typeof entry.request_time === 'string' && /^(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(entry.request_time) ? Number(entry.request_time) : NaN;
  if (!(Number.isInteger(status) && status >= 100 && status <= 599) || !(time >= 0 && time <= MAX_SECONDS)) return 'malformed';
  const method = typeof entry.request_method === 'string' && (METHOD_LABELS as readonly string[]).includes(entry.request_method) && entry.request_method !== 'OTHER' ? entry.request_method : 'OTHER';
  const result: Expected = { status, requestTime: time, method };
  const upstream = entry.upstream_response_time;
  if (typeof upstream === 'number' && upstream >= 0) result.upstreamTime = upstream;
  if (typeof upstream === 'string') {
    const buf = Buffer.from(upstream);
    const sum = upstreamTimeText(buf, 0, buf.length);
    if (!Number.isNaN(sum)) result.upstreamTime = sum;
  }
  const bytes = entry.body_bytes_sent;
  if (typeof bytes === 'number' && bytes >= 0) result.bodyBytes = bytes;
  if (typeof bytes === 'string' && /^(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(bytes)) result.bodyBytes = Number(bytes);
  if (result.upstreamTime! > MAX_SECONDS || result.bodyBytes! > MAX_BODY_BYTES) return 'malformed';
  return result;
}

function mutate(line: Buffer, random: () => number, alphabet: Buffer): Buffer {
  const bytes = [...line];
  const edits = 1 + Math.floor(random() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (bytes.length + 1));
    const byte = random() < 0.1 ? Math.floor(random() * 256) : alphabet[Math.floor(random() * alphabet.length)]!;
    const kind = random();
    if (kind < 0.33) bytes.splice(at, 1);
    else if (kind < 0.66) bytes.splice(at, 0, byte);
    else bytes[Math.min(at, bytes.length - 1)] = byte;
  }
  return Buffer.from(bytes.filter((b) => b !== 0x0a));
}

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('timed-combined lines', () => {
  const cases: Array<[string, string, Expected | 'malformed']> = [
    ['a proxied request with an upstream list',
      '10.0.0.1 - - [25/Nov/2026:10:00:00 +0000] "GET /api/work HTTP/1.1" 200 612 "-" "siege/4.0.7" 0.120 0.050, 0.060',
      { status: 200, requestTime: 0.12, method: 'GET', upstreamTime: 0.11, bodyBytes: 612 }],
    ['a static page with no upstream',
      '10.0.0.1 - alice [25/Nov/2026:10:00:00 +0000] "HEAD / HTTP/1.1" 304 0 "http://x/" "curl/8" 0.000 -',
      { status: 304, requestTime: 0, method: 'HEAD', bodyBytes: 0 }],
    ['an escaped quote in the user agent',
      '10.0.0.1 - - [25/Nov/2026:10:00:00 +0000] "POST /a HTTP/1.1" 500 10 "-" "evil\\x22agent" 1.5 1.499',
      { status: 500, requestTime: 1.5, method: 'POST', upstreamTime: 1.499, bodyBytes: 10 }],
    ['a request line that is not a request', '10.0.0.1 - - [25/Nov/2026:10:00:00 +0000] "\\x16\\x03" 400 0 "-" "-" 0.001 -',
      { status: 400, requestTime: 0.001, method: 'OTHER', bodyBytes: 0 }],
    ['plain combined, without the times', '10.0.0.1 - - [25/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8"', 'malformed'],
    ['a JSON line', '{"status":200,"request_time":0.1}', 'malformed'],
    ['a body size past 2^63', '10.0.0.1 - - [25/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 99999999999999999999 "-" "-" 0.001 -', 'malformed'],
    ['a request time JSON reads as Infinity', '10.0.0.1 - - [25/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" 1e999 -', 'malformed'],
    ['garbage', '\u0000\u0001 nothing', 'malformed'],
  ];
  for (const [name, line, expected] of cases) {
    test(name, () => assert.deepEqual(parse(parseTimedCombinedLine, line), expected));
  }
});

describe('$upstream_response_time', () => {
  const cases: Array<[string, number]> = [
    ['0.010', 0.01], ['0.010, 0.020', 0.03], ['0.010 : 0.020', 0.03], ['0.010, - : 0.020', 0.03],
    ['-', NaN], ['', NaN], ['- , -', NaN], ['abc', NaN], ['0.1,', NaN], ['1, x', NaN],
  ];
  for (const [text, expected] of cases) {
    test(JSON.stringify(text), () => {
      const buf = Buffer.from(text);
      const value = upstreamTimeText(buf, 0, buf.length);
      if (Number.isNaN(expected)) assert.ok(Number.isNaN(value), `got ${value}`);
      else assert.ok(Math.abs(value - expected) < 1e-12, `got ${value}`);
    });
  }
});
