// How far histogram_quantile(0.99, ...) lands from the exact 99th percentile for a set of bucket
// bounds, on log-normal request times rounded to nginx's millisecond resolution.
import { logNormal, seededRandom } from './access-log.mjs';

export const PROM_CLIENT_DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const WORKLOADS = [[0.002, 0.5], [0.03, 0.9], [0.2, 0.6], [1.5, 0.7]];
const SAMPLES = 200_000;

/** Prometheus' bucketQuantile: linear interpolation inside the bucket holding the rank. */
export function histogramQuantile(q, bounds, counts) {
  const total = counts.reduce((a, b) => a + b, 0);
  const rank = q * total;
  let cumulative = 0;
  for (let b = 0; b < counts.length; b++) {
    if (cumulative + counts[b] >= rank) {
      if (b === bounds.length) return bounds[bounds.length - 1]; // the +Inf bucket
      const start = b === 0 ? 0 : bounds[b - 1];
      return start + (bounds[b] - start) * ((rank - cumulative) / counts[b]);
    }
    cumulative += counts[b];
  }
  return NaN;
}

export function exactQuantile(sortedValues, q) {
  return sortedValues[Math.max(0, Math.ceil(q * sortedValues.length) - 1)];
}

function bucketCounts(values, bounds) {
  const counts = new Array(bounds.length + 1).fill(0);
  for (const value of values) {
    const index = bounds.findIndex((bound) => value <= bound);
    counts[index < 0 ? bounds.length : index]++;
  }
  return counts;
}

export function quantileErrors(defaultBuckets) {
  const random = seededRandom(7);
  return WORKLOADS.map(([median, sigma]) => {
    const values = Array.from({ length: SAMPLES }, () => Math.round(logNormal(random, median, sigma) * 1000) / 1000).sort((a, b) => a - b);
    const exact = exactQuantile(values, 0.99);
    const error = (bounds) => {
      const estimate = histogramQuantile(0.99, bounds, bucketCounts(values, bounds));
      return `${(((estimate - exact) / exact) * 100).toFixed(1).padStart(6)} % (${(Math.abs(estimate - exact) * 1000).toFixed(1)} ms)`;
    };
    return `median ${median}s sigma ${sigma}: exact p99 ${exact.toFixed(3)} s; av-exporter buckets ${error(defaultBuckets)}; prom-client default buckets ${error(PROM_CLIENT_DEFAULT_BUCKETS)}`;
  });
}
