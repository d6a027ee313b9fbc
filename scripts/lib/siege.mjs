// siege 4.0.7 (Debian's): its configuration, its command line, and what it says when done.
//
// What siege counts (src/browser.c, src/main.c of 4.0.7), which the report's checks rely on:
// - `transactions` counts the answers except 408 and 500-509; those, and every request that got no
//   answer at all (socket errors), count as `failed_transactions` instead;
// - `successful_transactions` counts the answers below 400 (and 401, 407);
// - when its time is up it cancels its users where they are: a request in flight then is never
//   counted, though nginx logs it (499 when nginx notices the close first). So each user may leave
//   one request that nginx saw and siege did not.
// Its JSON summary (-j) is all it says: -j turns verbose off, so there are no per-request lines and
// no count by status.
import { writeFile } from 'node:fs/promises';
import { $ } from 'zx';

/** siege's rc file: no HTML parser (only the listed URLs), no redirects followed, no log file, plain text. */
export const SIEGE_RC = `# written by scripts/load.mjs for one run
verbose = false
color = off
quiet = false
json_output = true
logging = false
show-logfile = false
protocol = HTTP/1.1
# a new connection per request: with keep-alive, siege 4.0.7 sends on a connection nginx has already
# closed (after its keepalive_requests, 1000) and counts a failed transaction that never reached nginx
connection = close
follow-location = false
parser = false
internet = true
# siege would stop the whole run after this many failed transactions, and it counts every 5xx answer
# as one; 0 never stops it (a dead target shows up in the report's checks instead)
failures = 0
# siege caps its users at this, after a 10 s warning; --concurrency allows up to 500
limit = 500
`;

/** siege's arguments for a timed run over a URL file (each flag also in the rc file, to be sure). */
export function siegeArguments({ rcFile, urlFile, concurrency, seconds, delaySeconds, userAgent }) {
  return [
    `--rc=${rcFile}`,
    `--file=${urlFile}`,
    '--internet',
    `--concurrent=${concurrency}`,
    `--time=${seconds}S`,
    `--delay=${delaySeconds}`,
    '--no-parser',
    '--no-follow',
    '--json-output',
    `--user-agent=${userAgent}`,
  ];
}

/** siege's stdout with -j → its JSON summary. */
export function parseSiegeOutput(stdout) {
  const start = stdout.lastIndexOf('{');
  let summary;
  try {
    summary = JSON.parse(stdout.slice(start));
  } catch {
    throw new Error(`siege printed no JSON summary; its output ended with:\n${stdout.slice(-1000)}`);
  }
  for (const field of ['transactions', 'failed_transactions', 'successful_transactions']) {
    if (start < 0 || typeof summary[field] !== 'number')
      throw new Error(`siege's JSON summary has no ${field}: ${stdout.slice(Math.max(0, start))}`);
  }
  return summary;
}

/** An answer siege counts as a failed transaction rather than a transaction. */
export const siegeCountsAsFailed = (status) =>
  Number(status) === 408 || (Number(status) >= 500 && Number(status) <= 509);

/**
 * Runs siege in `workDir` (its HOME too, so it writes no ~/.siege of the user's), calling `onTick`
 * every `tickMs` while it runs. Resolves with its JSON summary; rejects with siege's words.
 */
export async function runSiege({
  workDir,
  urls,
  concurrency,
  seconds,
  delaySeconds,
  userAgent,
  onTick,
  tickMs = 10_000,
}) {
  const rcFile = `${workDir}/siegerc`;
  const urlFile = `${workDir}/urls.txt`;
  await writeFile(rcFile, SIEGE_RC);
  await writeFile(urlFile, `${urls.map((u) => u.siegeLine).join('\n')}\n`);
  const args = siegeArguments({ rcFile, urlFile, concurrency, seconds, delaySeconds, userAgent });
  const started = Date.now();
  // siege stops itself after `seconds`; a hung siege is killed well after that
  const siege = $({
    cwd: workDir,
    env: { ...process.env, HOME: workDir },
    quiet: true,
    timeout: `${seconds + 120}s`,
  })`siege ${args}`.nothrow();
  const ticker = setInterval(() => onTick?.((Date.now() - started) / 1000), tickMs);
  let result;
  try {
    result = await siege;
  } finally {
    clearInterval(ticker);
  }
  if (result.exitCode !== 0) {
    const why = result.signal ? `killed by ${result.signal}` : `exit ${result.exitCode}`;
    throw new Error(`siege failed (${why}): ${result.stderr.trim().slice(-1500) || result.stdout.slice(-1500)}`);
  }
  return parseSiegeOutput(result.stdout);
}
