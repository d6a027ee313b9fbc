// The straightforward way, as a yardstick: readline + JSON.parse + prom-client, per line.
// Usage: node naive-peer.mjs LOG_FILE BUCKETS_JSON
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Counter, Histogram, Registry } from 'prom-client';

const [logFile, bucketsJson] = process.argv.slice(2);
const registers = [new Registry()];
const requests = new Counter({ name: 'naive_requests_total', help: 'requests', labelNames: ['status', 'method'], registers });
const duration = new Histogram({ name: 'naive_request_duration_seconds', help: 'duration', buckets: JSON.parse(bucketsJson), registers });

let lines = 0;
for await (const line of createInterface({ input: createReadStream(logFile), crlfDelay: Infinity })) {
  lines++;
  try {
    const entry = JSON.parse(line);
    requests.inc({ status: String(entry.status), method: entry.request_method });
    duration.observe(Number(entry.request_time));
  } catch {
    // malformed: skipped
  }
}
await registers[0].metrics();
process.stderr.write(`naive: ${lines} lines\n`);
