// The exact answers the PromQL ones are checked against, and how siege's own tally accounts for them.
import { siegeCountsAsFailed } from './siege.mjs';

/**
 * Nearest-rank quantile: the smallest logged value with at least q of all values at or below it
 * (for q = 0.99 and n values, the ceil(0.99 n)-th smallest). This is what "99 % of the requests took
 * at most this long" means; histogram_quantile estimates the same number from bucket counts.
 */
export function exactQuantile(values, q) {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

/** end - start per key, for counters read at two instants (keys missing at the start count from 0). */
export function counterDelta(start, end) {
  return Object.fromEntries(
    Object.entries(end)
      .map(([key, value]) => [key, value - (start[key] ?? 0)])
      .filter(([, delta]) => delta !== 0),
  );
}

/** request_time of the JSON access-log lines whose msec lies in (fromSeconds, toSeconds]. */
export function requestTimesInWindow(logText, fromSeconds, toSeconds) {
  const times = [];
  for (const line of logText.split('\n')) {
    if (!line) continue;
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      continue; // av-exporter counts it as malformed; it has no request time either
    }
    const msec = Number(entry.msec);
    const requestTime = Number(entry.request_time);
    if (msec > fromSeconds && msec <= toSeconds && requestTime >= 0) times.push(requestTime);
  }
  return times;
}

/** { status: count } of the JSON access-log lines sent with this exact User-Agent. */
export function logLinesByStatus(logText, userAgent) {
  const counts = {};
  for (const line of logText.split('\n')) {
    if (!line.includes(userAgent)) continue;
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (entry.http_user_agent !== userAgent) continue;
    counts[entry.status] = (counts[entry.status] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
}

/** Whether two { status: count } agree on every status (a missing status counts 0). */
export function sameCounts(a = {}, b = {}) {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].every((key) => (a[key] ?? 0) === (b[key] ?? 0));
}

export function relativeError(estimate, exact) {
  return exact ? (estimate - exact) / exact : null;
}

/** The assignment's bound: within max(5 %, 1 ms) of the exact p99 (inclusive, whatever the float rounding). */
export function withinP99Bound(estimate, exact) {
  return Math.abs(estimate - exact) <= Math.max(0.05 * exact, 0.001) + 1e-12;
}

/**
 * How the run's requests (the counter delta, by status) and siege's JSON summary account for each
 * other, by what siege 4.0.7 counts (see siege.mjs). Each class of answer in the counters is at least
 * what siege counted of it: transactions (every status but 408, 5xx and 499), failed transactions
 * (408, 5xx: more would be requests that got no answer, socket failures), successful ones (below 400,
 * 401, 407); what siege did not count are the requests it cut off when its time was up, at most one
 * per user, among them every 499. `problems` lists every way this does not hold: empty when every
 * request is accounted for.
 */
export function reconcileWithSiege({ exact, siege, concurrency }) {
  const sum = (keep) =>
    Object.entries(exact)
      .filter(([status]) => keep(Number(status)))
      .reduce((total, [, n]) => total + n, 0);
  const answered = sum((s) => s !== 499 && !siegeCountsAsFailed(s));
  const failed = sum(siegeCountsAsFailed);
  const successful = sum((s) => s < 400 || s === 401 || s === 407);
  const closedByClient = exact['499'] ?? 0;
  const cutOff = {
    transactions: answered - siege.transactions,
    failed_transactions: failed - siege.failed_transactions,
    successful_transactions: successful - siege.successful_transactions,
    closed_by_client_499: closedByClient,
  };
  const cutOffTotal = cutOff.transactions + cutOff.failed_transactions + closedByClient;
  const problems = [];
  if (cutOff.transactions < 0)
    problems.push(
      `siege counted ${siege.transactions} transactions, but the counters grew by only ${answered} answers other than 408, 5xx and 499`,
    );
  if (cutOff.failed_transactions < 0)
    problems.push(
      `siege counted ${siege.failed_transactions} failed transactions, but the counters grew by only ${failed} 408/5xx answers: ${-cutOff.failed_transactions} requests failed without an answer`,
    );
  if (cutOff.successful_transactions < 0 || cutOff.successful_transactions > cutOff.transactions)
    problems.push(
      `siege counted ${siege.successful_transactions} successful transactions, the counters grew by ${successful} answers below 400`,
    );
  if (cutOffTotal > concurrency)
    problems.push(
      `${cutOffTotal} requests reached nginx that siege did not count: more than one per user (${concurrency})`,
    );
  return { cut_off: cutOff, cut_off_total: cutOffTotal, problems };
}
