// Histogram bucket bounds.
//
// histogram_quantile() interpolates linearly inside the bucket the quantile falls in, so its answer
// and the exact quantile lie in the same bucket and differ by at most that bucket's width. The
// default latency buckets keep every width within max(5 % of its lower bound, 1 ms) from 1 ms to
// 10 s: steps of 1 ms up to 20 ms, then steps of 5 %. That bounds the p99 error by
// max(5 %, 1 ms) whatever the distribution; prom-client's defaults are 20 % or more off on a
// log-normal workload (see `npm run bench`).

const ABSOLUTE_STEP_SECONDS = 0.001;
const RELATIVE_STEP = 0.05;
const PRECISE_UP_TO_SECONDS = 10;
/** Beyond the precise range, a few coarse bounds so slow requests are not all lumped into +Inf. */
const COARSE_TAIL_SECONDS = [15, 20, 30, 60];

export function defaultLatencyBuckets(): number[] {
  const bounds: number[] = [];
  let bound = ABSOLUTE_STEP_SECONDS;
  while (bound < PRECISE_UP_TO_SECONDS) {
    bounds.push(bound);
    const step = Math.max(bound * RELATIVE_STEP, ABSOLUTE_STEP_SECONDS);
    // round down to 3 significant digits so the bounds read well and no step grows past its limit
    bound = roundDownSignificant(bound + step, 3);
  }
  bounds.push(PRECISE_UP_TO_SECONDS, ...COARSE_TAIL_SECONDS);
  return bounds;
}

/** Upstream time is a secondary signal: coarse buckets are enough to see where time goes. */
export const DEFAULT_UPSTREAM_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** Checks a bucket list from the user: finite, positive, strictly increasing. Returns an error or null. */
export function bucketListProblem(bounds: readonly number[]): string | null {
  if (bounds.length === 0) return 'needs at least one bound';
  for (let i = 0; i < bounds.length; i++) {
    const bound = bounds[i]!;
    if (!Number.isFinite(bound) || bound <= 0) return `bound ${bound} is not a positive finite number`;
    if (i > 0 && bound <= bounds[i - 1]!) return `bounds must increase strictly (${bounds[i - 1]} then ${bound})`;
  }
  return null;
}

function roundDownSignificant(value: number, digits: number): number {
  const scale = 10 ** (digits - 1 - Math.floor(Math.log10(value)));
  return Math.floor(value * scale + 1e-9) / scale;
}
