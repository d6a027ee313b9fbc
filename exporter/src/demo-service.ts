// The demo backend nginx proxies /api/ to: the original assignment's instrumented service, done right.
// It serves its own /metrics and /healthz too (on loopback on the stand: nginx only proxies /api/).
// /api/work answers with log-normal latency and a configurable share of 500 and 503; /api/fast answers
// at once. Every request is counted once it has ended, however it ended (finished, failed or aborted),
// and the in-progress gauge goes back down on every one of those paths.
import express, { type Request, type Response, type NextFunction } from 'express';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METHOD_LABELS, STANDARD_METHODS, OTHER_METHOD } from './log-record.js';
import type { DemoOptions } from './options.js';

const ROUTES = ['/api/work', '/api/fast'] as const;
const UNMATCHED_ROUTE = 'unmatched';
const LABEL_NAMES = ['route', 'method', 'status'] as const;
const DEMO_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const MAX_LATENCY_SECONDS = 30;
/**
 * The statuses `?force_status=` may ask for: those the demo answers on its own (200, and the 500 and 503
 * the load test once forced to create those series). Any other value is ignored, so no client can make
 * the demo, nginx's log and the exporter carry a status series the stand does not preset.
 */
export const FORCEABLE_STATUSES: readonly number[] = [200, 500, 503];

export function demoApp(options: DemoOptions, registry: Registry, prefix: string, random: () => number = Math.random) {
  const metrics = demoMetrics(registry, prefix);
  const app = express();
  app.disable('x-powered-by');
  // its own metrics and health, before the instrumentation: they are not demo traffic
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(instrument(metrics));
  app.all('/api/work', (req, res) => {
    // ?force_status=503&delay_ms=100 answer exactly that; a status not in FORCEABLE_STATUSES is ignored
    const requestedStatus = integerParameter(req.query.force_status, 100, 599);
    const forcedStatus = requestedStatus !== undefined && FORCEABLE_STATUSES.includes(requestedStatus) ? requestedStatus : undefined;
    const forcedDelayMs = integerParameter(req.query.delay_ms, 0, MAX_LATENCY_SECONDS * 1000);
    const delayMs = forcedDelayMs ?? logNormalSeconds(options.latencyMedianSeconds, options.latencySigma, random) * 1000;
    const draw = random();
    const status = forcedStatus ?? (draw < options.errorRate ? 500 : draw < options.errorRate + options.unavailableRate ? 503 : 200);
    setTimeout(() => res.status(status).json({ status, delay_ms: Math.round(delayMs * 10) / 10 }), delayMs);
  });
  app.get('/api/fast', (_req, res) => {
    res.json({ status: 200 });
  });
  app.use((_req, res) => {
    res.status(404).json({ status: 404, error: 'no such endpoint' });
  });
  return app;
}

type DemoMetrics = ReturnType<typeof demoMetrics>;

function demoMetrics(registry: Registry, prefix: string) {
  const registers = [registry];
  return {
    requests: new Counter({ name: `${prefix}_demo_requests_total`, help: 'Requests the demo service finished, by route, method and status (0 when the client went away).', labelNames: LABEL_NAMES, registers }),
    duration: new Histogram({ name: `${prefix}_demo_request_duration_seconds`, help: 'Time the demo service took per request, in seconds.', labelNames: ['route'] as const, buckets: DEMO_DURATION_BUCKETS, registers }),
    inProgress: new Gauge({ name: `${prefix}_demo_requests_in_progress`, help: 'Requests the demo service is handling now.', registers }),
    lastRequest: new Gauge({ name: `${prefix}_demo_last_request_timestamp_seconds`, help: 'When the demo service last finished a request, in seconds since the epoch.', registers }),
  };
}

function instrument(metrics: DemoMetrics) {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    const route = (ROUTES as readonly string[]).includes(req.path) ? req.path : UNMATCHED_ROUTE;
    const method = (STANDARD_METHODS as readonly string[]).includes(req.method) ? req.method : OTHER_METHOD;
    metrics.inProgress.inc();
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.inProgress.dec();
      metrics.duration.observe({ route }, seconds);
      metrics.requests.inc({ route, method: method as (typeof METHOD_LABELS)[number], status: res.writableFinished ? String(res.statusCode) : '0' });
      metrics.lastRequest.set(Date.now() / 1000);
    };
    res.once('finish', end);
    res.once('close', end);
    next();
  };
}

function integerParameter(value: unknown, min: number, max: number): number | undefined {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  const number = Number(value);
  return number >= min && number <= max ? number : undefined;
}

/** A log-normal draw with the given median (Box-Muller), capped so no request hangs. */
export function logNormalSeconds(median: number, sigma: number, random: () => number): number {
  const u1 = 1 - random(); // in (0, 1], so the log is finite
  const u2 = random();
  const normal = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  return Math.min(median * Math.exp(sigma * normal), MAX_LATENCY_SECONDS);
}
