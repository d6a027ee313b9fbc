// The HTTP face of the exporter: /metrics and /healthz.
import express, { type RequestHandler } from 'express';
import type { Registry } from 'prom-client';

export interface Health {
  ok: boolean;
  [detail: string]: unknown;
}

export interface MetricsSources {
  registry: Registry;
  /** The log metrics as Prometheus text (with a state file: as last saved, never newer). */
  logMetrics: () => string;
  health: () => Health;
}

/** `front` runs before every path (the web config's headers and basic auth). */
export function metricsApp({ registry, logMetrics, health }: MetricsSources, front: RequestHandler[] = []) {
  const app = express();
  app.disable('x-powered-by');
  if (front.length > 0) app.use(...front);
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(logMetrics() + (await registry.metrics()));
  });
  app.get('/healthz', (_req, res) => {
    const status = health();
    res.status(status.ok ? 200 : 503).json(status);
  });
  app.get('/', (_req, res) => {
    res.type('text/html').send('<h1>av-exporter</h1><p><a href="/metrics">/metrics</a> <a href="/healthz">/healthz</a></p>\n');
  });
  return app;
}
