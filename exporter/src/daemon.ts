// The long-running exporter: follows the log, answers /metrics, runs the demo service.
import { renameSync } from 'node:fs';
import type { Server } from 'node:http';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import { demoApp } from './demo-service.js';
import { renderTally } from './log-exposition.js';
import { LogFollower, type RotationKind } from './log-follower.js';
import { createLogPipeline } from './log-pipeline.js';
import { logInfo, logWarning } from './log.js';
import { metricsApp } from './metrics-server.js';
import type { Endpoint, ExporterOptions } from './options.js';
import { loadState, saveState, type SavedState } from './state-file.js';

export async function runDaemon(options: ExporterOptions): Promise<void> {
  const { tally, splitter } = createLogPipeline(options);
  const saved = options.positionsFile ? restoreState(options.positionsFile, (state) => tally.restore(state.tally)) : null;

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: `${options.prefix}_` });
  // prom-client also exports these gauges under a `_total` name, which promtool rightly rejects;
  // the same values stay exposed without the suffix.
  for (const gauge of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(`${options.prefix}_${gauge}`);
  }
  const rotations = new Counter({
    name: `${options.prefix}_nginx_log_rotations_total`,
    help: 'Rotations of the access log the exporter followed, by kind (rename, truncate).',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  for (const kind of ['rename', 'truncate'] as const) rotations.inc({ kind }, 0);

  const follower = new LogFollower({
    path: options.logFile,
    splitter,
    resumeFrom: saved?.position ?? null,
    onRotation: (kind: RotationKind) => {
      rotations.inc({ kind });
      logInfo(`${options.logFile}: followed a ${kind} rotation`);
    },
  });

  const positionsFile = options.positionsFile;
  const save = (snapshot = tally.snapshot()) => {
    if (positionsFile) saveState(positionsFile, follower.position(), snapshot);
    return snapshot;
  };
  save(); // fail now, not at the first scrape, if the state file cannot be written

  const poller = startPolling(follower, options.pollIntervalMs, options.logFile);
  const servers: Server[] = [];
  servers.push(
    await listen(
      metricsApp({
        registry,
        savedLogMetrics: () => renderTally(save(), options.prefix),
        health: () => ({ ok: poller.lastError() === null, log_file: options.logFile, last_error: poller.lastError(), position: follower.position() }),
      }),
      options.listen,
      'metrics',
    ),
  );
  if (options.demoListen) servers.push(await listen(demoApp(options.demo, registry, options.prefix), options.demoListen, 'demo service'));

  const shutDown = async (signal: string) => {
    logInfo(`${signal}: shutting down`);
    await poller.stop();
    try {
      save();
    } catch (error) {
      logWarning(`could not save state on shutdown: ${(error as Error).message}`);
    }
    await follower.close();
    for (const server of servers) server.closeAllConnections();
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutDown('SIGTERM'));
  process.once('SIGINT', () => void shutDown('SIGINT'));
}

/** Loads the saved state; an unusable file is moved aside (not lost) and the exporter starts from zero. */
function restoreState(path: string, apply: (state: SavedState) => void): SavedState | null {
  try {
    const state = loadState(path);
    if (state) {
      apply(state);
      logInfo(`resuming from ${path}: ${state.position ? `offset ${state.position.offset} of inode ${state.position.inode}` : 'no position yet'}`);
    }
    return state;
  } catch (error) {
    const aside = `${path}.unusable-${Date.now()}`;
    renameSync(path, aside);
    logWarning(`${(error as Error).message}; moved it to ${aside} and starting from zero`);
    return null;
  }
}

function startPolling(follower: LogFollower, intervalMs: number, logFile: string) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  let lastError: string | null = null;
  const tick = () => {
    running = follower.poll().then(
      () => {
        if (lastError) logInfo(`${logFile}: reading again`);
        lastError = null;
      },
      (error: Error) => {
        if (lastError !== error.message) logWarning(`${logFile}: ${error.message}`);
        lastError = error.message;
      },
    );
    void running.then(() => {
      if (!stopped) timer = setTimeout(tick, intervalMs);
    });
  };
  tick();
  return {
    lastError: () => lastError,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

function listen(app: ReturnType<typeof metricsApp>, endpoint: Endpoint, what: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(endpoint.port, endpoint.host, () => {
      logInfo(`${what} listening on ${endpoint.host}:${endpoint.port}`);
      resolve(server);
    });
    server.once('error', (error: Error) => reject(new Error(`cannot listen on ${endpoint.host}:${endpoint.port} for the ${what}: ${error.message}`)));
  });
}
