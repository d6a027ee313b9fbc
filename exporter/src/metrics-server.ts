// The HTTP face of the exporter: /metrics and /healthz.
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import express, { type RequestHandler } from 'express';
import type { Registry } from 'prom-client';
import { answerErrors, answerNotFound } from './http-errors.js';
import { toOpenMetrics } from './openmetrics.js';
import { acceptsGzip, CONTENT_TYPES, negotiateFormat } from './scrape-negotiation.js';

const gzipped = promisify(gzip);

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
  // whatever NODE_ENV says: Express's own error pages never show a stack (answerErrors answers first anyway)
  app.set('env', 'production');
  app.disable('x-powered-by');
  if (front.length > 0) app.use(...front);
  app.get('/metrics', async (req, res) => {
    const format = negotiateFormat(req.headers.accept);
    const text = logMetrics() + (await registry.metrics());
    const body = format === 'openmetrics' ? toOpenMetrics(text) : text;
    res.type(CONTENT_TYPES[format]).vary('Accept').vary('Accept-Encoding');
    if (acceptsGzip(req.headers['accept-encoding'])) res.set('Content-Encoding', 'gzip').send(await gzipped(body));
    else res.send(body);
  });
  app.get('/healthz', (_req, res) => {
    const status = health();
    res.status(status.ok ? 200 : 503).json(status);
  });
  app.get('/', (_req, res) => {
    res.type('text/html').send('<h1>av-exporter</h1><p><a href="/metrics">/metrics</a> <a href="/healthz">/healthz</a></p>\n');
  });
  app.use(answerNotFound);
  app.use(answerErrors('metrics'));
  return app;
}
