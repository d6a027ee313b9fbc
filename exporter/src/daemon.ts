// The long-running exporter: follows the log and answers /metrics and /healthz.
import { copyFileSync, renameSync } from 'node:fs';
import type { Server } from 'node:http';
import { Counter, type Registry } from 'prom-client';
import { followerMetrics } from './follower-metrics.js';
import { listen, METRICS_CONNECTION_LIMITS } from './http-serving.js';
import { renderTally } from './log-exposition.js';
import { LogFollower } from './log-follower.js';
import { createLogPipeline } from './log-pipeline.js';
import type { LogTally } from './log-tally.js';
import { logInfo, logWarning } from './log.js';
import { metricsApp } from './metrics-server.js';
import type { ExporterOptions } from './options.js';
import { registryWithProcessMetrics } from './process-metrics.js';
import { onSignals } from './signals.js';
import { loadState, StateUnreadableError } from './state-file.js';
import type { FilePosition } from './file-position.js';
import { StateSaver } from './state-saver.js';
import { WebAccess } from './web-access.js';
import { describeWeb, loadWebConfig, webConfigWarnings, type WebConfig } from './web-config.js';

/** How long a poll in flight may hold up a shutdown before the state is saved without it. */
const POLL_STOP_WAIT_MS = 2000;

/** `web`: the loaded --web-config (HTTPS, basic auth, headers), or null for plain HTTP. */
export async function runDaemon(options: ExporterOptions, web: WebConfig | null): Promise<void> {
  const { tally, newSplitter } = createLogPipeline(options);
  const resumeFrom = options.positionsFile ? restoreState(options.positionsFile, tally) : null;
  if (!resumeFrom) logInfo(`no position to resume: reading ${options.logFile} from its ${options.startAt === 'end' ? 'end (--start-at beginning reads its history)' : 'beginning'}`);

  const registry = registryWithProcessMetrics(options.prefix);
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
    onGap: (message, lostBytes) => {
      counters.gap(lostBytes);
      logWarning(message);
    },
    onLogGone: logWarning,
  });
  const saver = options.positionsFile
    ? new StateSaver(options.positionsFile, () => ({ files: follower.positions(), tally: tally.snapshot() }))
    : null;
  const totals = exposedTotals(tally, saver);
  const poller = createPoller(follower, options.pollIntervalMs, options.logFile, totals.afterPoll);
  const readable = () => poller.lastError() === null && !follower.logMissing();
  const counters = followerMetrics(registry, options.prefix, follower, { readable });
  if (saver) stateSaveMetric(registry, options.prefix, saver);

  const access = web ? new WebAccess(web) : null;
  // Signals are handled from here on, before the first await: none may end the process unsaved.
  const servers: Server[] = [];
  onSignals({
    servers,
    reload: web ? () => reloadWebConfig(web.file, access!, servers[0]) : undefined,
    beforeExit: async () => {
      if (!(await poller.stop(POLL_STOP_WAIT_MS))) logWarning(`a read of ${options.logFile} did not finish within ${POLL_STOP_WAIT_MS} ms: saving without it`);
      if (saver && !(await saver.save())) logWarning('could not save state on shutdown: it stays as last saved');
      await access?.close();
      await follower.close();
    },
  });

  // fail now, not at the first scrape, if the state file cannot be written
  if (saver && !(await saver.save())) throw new Error(`cannot start: ${saver.lastFailure()}`);
  for (const warning of web ? webConfigWarnings(web) : []) logWarning(warning);
  if (web) logInfo(`web config ${web.file}: ${describeWeb(web)}`);

  const server = await listen(
    metricsApp({
      registry,
      logMetrics: () => {
        const snapshot = totals.exposed();
        return snapshot ? renderTally(snapshot, options.prefix) : '';
      },
      health: () => ({
        ok: readable() && !saver?.lastFailure(),
        log_file: options.logFile,
        log_missing: follower.logMissing(),
        log_problem: follower.logProblem(),
        last_error: poller.lastError(),
        state_save_error: saver?.lastFailure() ?? null,
        totals_exposed: totals.exposed() !== null,
        unread_bytes: follower.unreadBytes(),
        positions: follower.positions(),
      }),
    }, access ? [access.handler] : []),
    options.listen,
    'metrics',
    web?.tls ? { cert: web.tls.cert, key: web.tls.key, minVersion: web.tls.minVersion } : null,
    METRICS_CONNECTION_LIMITS,
  );
  servers.push(server);
  poller.start();
}

/**
 * The totals /metrics shows. With a state file: the last saved ones, so what Prometheus has seen never
 * runs ahead of what a restart continues from. Either way none before the first poll has read what it
 * had to (the history, with --start-at beginning): a scrape must never see a partial history arrive
 * as one big increase.
 */
function exposedTotals(tally: LogTally, saver: StateSaver | null) {
  let polled = false;
  let savedAfterPoll = false;
  let lastSaved = '';
  return {
    afterPoll: (positions: FilePosition[] | null) => {
      polled = true;
      if (!saver) return;
      // a save when a poll moved something (reading, a rotation), at most one a second
      const moved = `${tally.parsedLines} ${tally.malformedLines} ${JSON.stringify(positions)}`;
      if (moved === lastSaved && savedAfterPoll) return;
      void saver.saveIfDue()?.then((ok) => {
        if (!ok) return;
        lastSaved = moved;
        savedAfterPoll = true;
      });
    },
    exposed: () => {
      if (!saver) return polled ? tally.snapshot() : null;
      return savedAfterPoll ? saver.lastSaved() : null;
    },
  };
}

function stateSaveMetric(registry: Registry, prefix: string, saver: StateSaver): void {
  new Counter({
    name: `${prefix}_exporter_state_save_failures_total`,
    help: 'Saves of the state file that failed (full disk, I/O error); the totals exposed stay at the last saved ones meanwhile.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(saver.failures());
    },
  });
}

/** SIGHUP: the web config read again (a renewed certificate, changed users) without a restart. */
function reloadWebConfig(file: string, access: WebAccess, server: Server | undefined): void {
  if (!server) {
    logInfo('SIGHUP: not listening yet; the web config just loaded stays');
    return;
  }
  let next: WebConfig;
  try {
    next = loadWebConfig(file);
  } catch (error) {
    logWarning(`SIGHUP: web config not reloaded, the previous one stays: ${(error as Error).message}`);
    return;
  }
  const wasHttps = 'setSecureContext' in server;
  if (Boolean(next.tls) !== wasHttps) {
    logWarning(`SIGHUP: web config ${file} now asks for ${next.tls ? 'HTTPS' : 'plain HTTP'}: switching needs a restart; the previous config stays`);
    return;
  }
  if (next.tls) (server as Server & { setSecureContext: (options: object) => void }).setSecureContext({ cert: next.tls.cert, key: next.tls.key, minVersion: next.tls.minVersion });
  access.update(next);
  for (const warning of webConfigWarnings(next)) logWarning(warning);
  logInfo(`SIGHUP: reloaded web config ${file}: ${describeWeb(next)}`);
}

/**
 * Restores the sound parts of the saved state, saying what was refused; a file that is unusable as a
 * whole (not JSON, not a state) is moved aside (not lost) and the exporter starts from zero. Returns the
 * positions to resume from, or null.
 */
function restoreState(path: string, tally: LogTally): FilePosition[] | null {
  let state;
  try {
    state = loadState(path);
  } catch (error) {
    if (error instanceof StateUnreadableError) throw error;
    const aside = `${path}.unusable-${Date.now()}`;
    renameSync(path, aside);
    logWarning(`${(error as Error).message}; moved it to ${aside} and starting from zero`);
    return null;
  }
  if (!state) return null;
  const refused = [...state.refused, ...tally.restore(state.tally)];
  if (refused.length > 0) {
    for (const part of refused) logWarning(`state file ${path}: refused ${part}; it starts from zero`);
    const aside = `${path}.refused-${Date.now()}`;
    try {
      copyFileSync(path, aside);
      logWarning(`state file ${path}: kept the parts that are sound; the file as it was is copied to ${aside}`);
    } catch (error) {
      logWarning(`state file ${path}: kept the parts that are sound; the file as it was could not be copied aside: ${(error as Error).message}`);
    }
  }
  const files = state.files?.map((file) => `offset ${file.offset} of ${file.path} (inode ${file.inode})`).join(', ');
  logInfo(`resuming from ${path}: ${files || 'no position saved'}`);
  return state.files;
}

function createPoller(follower: LogFollower, intervalMs: number, logFile: string, afterPoll: (positions: FilePosition[] | null) => void) {
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
      afterPoll(follower.positions());
      if (!stopped) timer = setTimeout(tick, intervalMs);
    });
  };
  return {
    start: tick,
    lastError: () => lastError,
    /** True when the poll in flight, if any, finished within `waitMs`. */
    stop: async (waitMs: number): Promise<boolean> => {
      stopped = true;
      clearTimeout(timer);
      let timeout: NodeJS.Timeout | undefined;
      const finished = await Promise.race([
        running.then(() => true),
        new Promise<boolean>((resolve) => (timeout = setTimeout(() => resolve(false), waitMs))),
      ]);
      clearTimeout(timeout);
      return finished;
    },
  };
}
