// A registry with Node's and the process' standard metrics (process_*, nodejs_*), under the names stock
// dashboards and alerts expect.
import { collectDefaultMetrics, Registry } from 'prom-client';

export function registryWithProcessMetrics(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client also exports these gauges under a `_total` name, which promtool rightly rejects;
  // the same values stay exposed as nodejs_active_handles and friends, by type.
  for (const gauge of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(gauge);
  }
  return registry;
}
