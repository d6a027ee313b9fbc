// The long-running exporter: follows the log and answers /metrics and /healthz.
import { renameSync } from 'node:fs';
import { followerMetrics } from './follower-metrics.js';
import { listen, stopOnSignals } from './http-serving.js';
import { renderTally } from './log-exposition.js';
import { LogFollower } from './log-follower.js';
import { createLogPipeline } from './log-pipeline.js';
import { logInfo, logWarning } from './log.js';
import { metricsApp } from './metrics-server.js';
import type { ExporterOptions } from './options.js';
import { registryWithProcessMetrics } from './process-metrics.js';
import { loadState, saveState, type SavedState } from './state-file.js';
import { webHandlers } from './web-access.js';
import { describeWeb, type WebConfig } from './web-config.js';

/** `web`: the loaded --web-config (HTTPS, basic auth, headers), or null for plain HTTP. */
export async function runDaemon(options: ExporterOptions, web: WebConfig | null): Promise<void> {
  const { tally, newSplitter } = createLogPipeline(options);
  const saved = options.positionsFile ? restoreState(options.positionsFile, (state) => tally.restore(state.tally)) : null;
  const resumeFrom = saved?.files ?? null;
  if (!resumeFrom) logInfo(`no position to resume: reading ${options.logFile} from its ${options.startAt === 'end' ? 'end (--start-at beginning reads its history)' : 'beginning'}`);

  const registry = registryWithProcessMetrics();
  const follower = new LogFollower({
    path: options.logFile,
    newSplitter,
    resumeFrom,
    startAt: options.startAt,
    rotateWaitMs: options.rotateWaitSeconds * 1000,
    onRotation: (kind) => {
      counters.rotated(kind);
      logInfo(`${options.logFile}: followed a ${kind} rotation`);
    },
    onGap: (message) => {
      counters.gap();
      logWarning(message);
    },
  });
  const poller = createPoller(follower, options.pollIntervalMs, options.logFile);
  const readable = () => poller.lastError() === null && !follower.logMissing();
  const counters = followerMetrics(registry, options.prefix, follower, { readable });

  const positionsFile = options.positionsFile;
  const save = (snapshot = tally.snapshot()) => {
    if (positionsFile) saveState(positionsFile, follower.positions(), snapshot);
    return snapshot;
  };
  save(); // fail now, not at the first scrape, if the state file cannot be written
  if (web) logInfo(`web config ${web.file}: ${describeWeb(web)}`);
  if (web && web.users.size > 0 && !web.tls) logWarning(`web config ${web.file}: basic auth without tls_server_config sends passwords in clear text`);

  const server = await listen(
    metricsApp({
      registry,
      // Until the first poll has read what it had to (the history, with --start-at beginning), no totals
      // are exposed: a scrape must never see a partial history arrive as one big increase.
      savedLogMetrics: () => {
        const snapshot = save();
        return poller.polledOnce() ? renderTally(snapshot, options.prefix) : '';
      },
      health: () => ({
        ok: readable(),
        log_file: options.logFile,
        log_missing: follower.logMissing(),
        last_error: poller.lastError(),
        totals_exposed: poller.polledOnce(),
        unread_bytes: follower.unreadBytes(),
        positions: follower.positions(),
      }),
    }, web ? await webHandlers(web) : []),
    options.listen,
    'metrics',
    web?.tls ? { cert: web.tls.cert, key: web.tls.key, minVersion: web.tls.minVersion } : null,
  );
  poller.start();

  stopOnSignals([server], async () => {
    await poller.stop();
    try {
      save();
    } catch (error) {
      logWarning(`could not save state on shutdown: ${(error as Error).message}`);
    }
    await follower.close();
  });
}

/** Loads the saved state; an unusable file is moved aside (not lost) and the exporter starts from zero. */
function restoreState(path: string, apply: (state: SavedState) => void): SavedState | null {
  try {
    const state = loadState(path);
    if (state) {
      apply(state);
      const files = state.files?.map((file) => `offset ${file.offset} of ${file.path} (inode ${file.inode})`).join(', ');
      logInfo(`resuming from ${path}: ${files || 'no position yet'}`);
    }
    return state;
  } catch (error) {
    const aside = `${path}.unusable-${Date.now()}`;
    renameSync(path, aside);
    logWarning(`${(error as Error).message}; moved it to ${aside} and starting from zero`);
    return null;
  }
}

function createPoller(follower: LogFollower, intervalMs: number, logFile: string) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  let polled = false;
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
      polled = true;
      if (!stopped) timer = setTimeout(tick, intervalMs);
    });
  };
  return {
    start: tick,
    polledOnce: () => polled,
    lastError: () => lastError,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
