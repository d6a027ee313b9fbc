// --mode demo: the demo service nginx proxies /api/ to, as its own process (its own systemd unit on the
// stand), so restarting the exporter never makes nginx answer 502. Its metrics are on its own /metrics.
import { demoApp } from './demo-service.js';
import { listen } from './http-serving.js';
import type { ExporterOptions } from './options.js';
import { registryWithProcessMetrics } from './process-metrics.js';
import { onSignals } from './signals.js';

export async function runDemo(options: ExporterOptions): Promise<void> {
  if (!options.demoListen) throw new Error('--mode demo needs --demo-listen');
  const registry = registryWithProcessMetrics();
  const app = demoApp(options.demo, registry, options.prefix);
  // no connection caps: nginx alone connects, as many times as the load needs
  const server = await listen(app, options.demoListen, 'demo service');
  onSignals({ servers: [server] });
}
