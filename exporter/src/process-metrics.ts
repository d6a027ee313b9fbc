// A registry with Node's and the process' standard metrics (process_*, nodejs_*), under the names stock
// dashboards and alerts expect; with a prefix, the exporter's build info too.
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { VERSION } from './version.js';

export function registryWithProcessMetrics(buildInfoPrefix?: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client also exports these gauges under a `_total` name, which promtool rightly rejects;
  // the same values stay exposed as nodejs_active_handles and friends, by type.
  for (const gauge of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(gauge);
  }
  if (buildInfoPrefix === undefined) return registry;
  new Gauge({
    name: `${buildInfoPrefix}_exporter_build_info`,
    help: 'Always 1; its labels tell the version of av-exporter and of the Node.js that runs it.',
    labelNames: ['version', 'nodejs'],
    registers: [registry],
  }).set({ version: VERSION, nodejs: process.versions.node }, 1);
  return registry;
}
