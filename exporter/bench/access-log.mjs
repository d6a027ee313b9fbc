// Writes a synthetic nginx JSON access log in the stand's format: a seeded mix of pages, statuses and
// log-normal request times, so benchmarks and tests are repeatable.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

/** A small seeded PRNG (mulberry32): the same seed gives the same log. */
export function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function logNormal(random, median, sigma) {
  const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return median * Math.exp(sigma * normal);
}

const PAGES = [
  ['GET', '/', 200], ['GET', '/about.html', 200], ['GET', '/old', 301], ['GET', '/missing', 404],
  ['GET', '/api/work', 200], ['POST', '/api/work', 200], ['GET', '/api/work', 500], ['HEAD', '/', 200],
];

/** One log line; request_time has nginx's millisecond resolution. */
export function accessLogLine(random, msec) {
  const [method, uri, status] = PAGES[Math.floor(random() * PAGES.length)];
  const requestTime = Math.min(logNormal(random, 0.03, 0.9), 60).toFixed(3);
  const upstream = uri.startsWith('/api/') ? `"${requestTime}"` : '""';
  return `{"msec":${msec.toFixed(3)},"time_iso8601":"2026-11-25T10:00:00+00:00","remote_addr":"10.77.0.1",` +
    `"request_method":"${method}","request_uri":"${uri}","status":${status},"body_bytes_sent":${Math.floor(random() * 20000)},` +
    `"request_time":${requestTime},"upstream_response_time":${upstream},"upstream_addr":"127.0.0.1:8001",` +
    `"http_user_agent":"Mozilla/5.0 (siege 4.0.7)"}\n`;
}

export async function writeAccessLog(path, lineCount, seed = 42) {
  const random = seededRandom(seed);
  const out = createWriteStream(path);
  let batch = '';
  for (let i = 0; i < lineCount; i++) {
    batch += accessLogLine(random, 1764064800 + i / 1000);
    if (batch.length > 1 << 20) {
      if (!out.write(batch)) await once(out, 'drain');
      batch = '';
    }
  }
  out.end(batch);
  await once(out, 'finish');
}
